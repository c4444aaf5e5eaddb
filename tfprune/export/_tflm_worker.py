"""Run a model in the TFLM interpreter in a child process (run as a script, not imported).

TFLM can crash the process (segmentation fault) when the arena is far too small, so every
TFLM run of tfprune happens here, in a separate Python process that imports only numpy and
tflite_micro. Input on stdin: an .npz with ``model`` (uint8 bytes), ``meta`` (JSON bytes:
arena or null for 10x the model + 16 KiB, n_inputs, n_outputs) and ``in0``, ``in1``, ...
(integer codes [n, ...] per input, in the file's order). Output on stdout: an .npz with
``result`` (JSON bytes) and ``out0``, ``out1``, ... No file is written.
"""

import io
import json
import os
import re
import sys
import tempfile

# Run as a script, this folder is sys.path[0]; its modules must not shadow anything.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np  # noqa: E402


def _captured(fn):
    """Call fn() with the C-level stderr redirected; return (result, exception, text)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            result, exc = fn(), None
        except Exception as e:  # TFLM raises RuntimeError; keep whatever it is
            result, exc = None, e
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    return result, exc, text


def _run(runtime, content, inputs, arena, n_outputs):
    def go():
        it = runtime.Interpreter.from_bytes(content, arena_size=int(arena))
        outs = [[] for _ in range(n_outputs)]
        for s in range(len(inputs[0])):
            if s:
                it.reset()  # variable tensors (LSTM state) start at zero for every sample
            for i, x in enumerate(inputs):
                it.set_input(x[s : s + 1], i)
            it.invoke()
            for j in range(n_outputs):
                outs[j].append(np.array(it.get_output(j))[0].copy())
        return it, [np.stack(o) for o in outs]

    return _captured(go)


def arena_search(start, ceiling, align):
    """The arena search as a generator: yields the arena to try next, is sent whether it
    worked, returns the smallest working arena (None: not even ``ceiling``). Grows from
    ``start`` in doubling steps, then bisects to ``align`` bytes."""
    lo, hi = None, -(-start // align) * align
    step = 4 * align
    while not (yield hi):
        lo = hi
        if hi >= ceiling:
            return None
        hi = min(ceiling, hi + step)
        step *= 2
    while lo is not None and hi - lo > align:
        mid = (lo + hi) // 2 // align * align
        if (yield mid):
            hi = mid
        else:
            lo = mid
    return hi


#: prefix of the progress lines of an arena search on stderr (read by the parent on a crash)
PROGRESS = "@tfprune-arena"


def _search(runtime, content, inputs, meta, expected):
    """Run :func:`arena_search` here, after replaying the probes already ``tried`` (by
    earlier workers); each probe is announced on stderr before and after it runs (TFLM's
    own messages are captured apart), so that a crash names the arena that crashed and the
    next worker goes on."""
    spec = meta["search"]
    gen = arena_search(spec["start"], spec["ceiling"], spec["align"])
    try:
        arena = next(gen)
        for _, worked in spec["tried"]:
            arena = gen.send(bool(worked))
        while True:
            print(f"{PROGRESS} try {arena}", file=sys.stderr, flush=True)
            res, exc, _ = _run(runtime, content, inputs, arena, len(expected))
            worked = exc is None and all(
                np.array_equal(g, e) for g, e in zip(res[1], expected, strict=True))
            print(f"{PROGRESS} done {arena} {int(worked)}", file=sys.stderr, flush=True)
            arena = gen.send(worked)
    except StopIteration as stop:
        return {"ok": True, "smallest": stop.value}, []


def main(job):
    from tflite_micro.python.tflite_micro import runtime

    content = job["model"].tobytes()
    meta = json.loads(job["meta"].tobytes().decode())
    inputs = [job[f"in{i}"] for i in range(meta["n_inputs"])]
    if "search" in meta:
        expected = [job[f"exp{j}"] for j in range(meta["n_outputs"])]
        return _search(runtime, content, inputs, meta, expected)
    arena = meta.get("arena") or len(content) * 10 + 16384
    res, exc, text = _run(runtime, content, inputs, arena, meta["n_outputs"])
    if exc is not None:
        missing = re.findall(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'", text)
        custom = re.findall(r"Didn't find op for custom opcode '([^']+)'", text)
        return {"ok": False, "error": str(exc), "log": text[-4000:],
                "missing": missing + custom}, []
    it, outputs = res
    _, _, report = _captured(it.print_allocations)
    found = re.search(r"Arena allocation total (\d+) bytes", report)
    reported = int(found.group(1)) if found else None
    return {"ok": True, "arena": arena, "reported": reported, "log": report[-4000:]}, outputs


if __name__ == "__main__":
    out = os.fdopen(os.dup(1), "wb")  # the result channel; stray C-level prints go to stderr
    os.dup2(2, 1)
    with np.load(io.BytesIO(sys.stdin.buffer.read()), allow_pickle=False) as npz:
        result, outputs = main({k: npz[k] for k in npz.files})
    arrays = {f"out{j}": o for j, o in enumerate(outputs)}
    arrays["result"] = np.frombuffer(json.dumps(result).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    out.write(buf.getvalue())
    out.flush()
