"""Run a model in the TFLM interpreter in a child process (run as a script, not imported).

TFLM can crash the process (segmentation fault) when the arena is far too small, so every
TFLM run of tfprune happens here, in a separate Python process that imports only numpy and
tflite_micro. Input: one JSON job file path. Output: one JSON line on stdout.

Job keys: model (path), inputs (.npy path, integer codes [n, ...]), outputs (.npy path to
write), arena (bytes or null for 10x the model + 16 KiB).
"""

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


def _run(runtime, content, inputs, arena):
    def go():
        it = runtime.Interpreter.from_bytes(content, arena_size=int(arena))
        outs = []
        for sample in inputs:
            it.set_input(sample[None], 0)
            it.invoke()
            outs.append(np.array(it.get_output(0))[0].copy())
        return it, np.stack(outs)

    return _captured(go)


def main(job_path):
    from tflite_micro.python.tflite_micro import runtime

    with open(job_path) as f:
        job = json.load(f)
    with open(job["model"], "rb") as f:
        content = f.read()
    inputs = np.load(job["inputs"])
    arena = job.get("arena") or len(content) * 10 + 16384
    res, exc, text = _run(runtime, content, inputs, arena)
    if exc is not None:
        missing = re.findall(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'", text)
        custom = re.findall(r"Didn't find op for custom opcode '([^']+)'", text)
        return {"ok": False, "error": str(exc), "log": text[-4000:], "missing": missing + custom}
    it, outputs = res
    np.save(job["outputs"], outputs)
    _, _, report = _captured(it.print_allocations)
    found = re.search(r"Arena allocation total (\d+) bytes", report)
    reported = int(found.group(1)) if found else None
    return {"ok": True, "arena": arena, "reported": reported, "log": report[-4000:]}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])), flush=True)
