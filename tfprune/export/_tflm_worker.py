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


def main(job):
    from tflite_micro.python.tflite_micro import runtime

    content = job["model"].tobytes()
    meta = json.loads(job["meta"].tobytes().decode())
    inputs = [job[f"in{i}"] for i in range(meta["n_inputs"])]
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
