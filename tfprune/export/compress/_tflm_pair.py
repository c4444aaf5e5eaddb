"""Run a dense and a compressed model side by side in TFLM (child-process script).

Run as a script (``python _tflm_pair.py job.json``); imports only numpy and tflite_micro, so a
TFLM crash cannot take the caller down. Job keys: ``dense``, ``compressed`` (model paths),
``inputs`` (.npz with arrays ``in0``, ``in1``, ... of integer codes ``[n, ...]``), ``arena``
(bytes, both models), ``repeats`` (timed invokes per model), optional ``outputs`` (.npy path
for the compressed model's first output, stacked). Prints one JSON line:
``ok``, ``bit_exact``, ``max_abs_diff``, ``outputs`` (count), ``reported`` ({dense,
compressed}: the allocator's total), ``seconds`` ({dense, compressed}: median invoke time),
``overhead`` (median over rounds of compressed / dense invoke time), ``overhead_min`` (ratio of the fastest invokes, less
sensitive to a busy machine), or ``error`` and ``log``.
"""

import json
import os
import re
import statistics
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np  # noqa: E402


def _stderr_to(f):
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(f.fileno(), 2)
    return saved


def _outputs(it):
    outs = []
    for i in range(64):
        try:
            it.get_output_details(i)
        except Exception:  # past the last output
            break
        outs.append(np.array(it.get_output(i)).copy())
    return outs


def _run(it, inputs, k):
    for j, arr in enumerate(inputs):
        it.set_input(arr[k : k + 1], j)
    t0 = time.perf_counter()
    it.invoke()
    return time.perf_counter() - t0


def _load(job):
    """``({"dense": bytes, "compressed": bytes}, [input arrays])`` of a job."""
    models = {}
    for key in ("dense", "compressed"):
        with open(job[key], "rb") as f:
            models[key] = f.read()
    data = np.load(job["inputs"])
    return models, [data[f"in{j}"] for j in range(len(data.files))]


def _compare(its, inputs):
    """Run every sample through both interpreters: ``(bit_exact, max_abs_diff, outputs,
    the compressed model's first output per sample)``."""
    diff, count, kept, exact = 0, 0, [], True
    for k in range(len(inputs[0])):
        got = {}
        for key, it in its.items():
            _run(it, inputs, k)
            got[key] = _outputs(it)
        count = len(got["dense"])
        kept.append(got["compressed"][0][0])
        for a, b in zip(got["dense"], got["compressed"], strict=True):
            same = a.shape == b.shape and a.tobytes() == b.tobytes()
            exact = exact and same
            if not same and a.shape == b.shape:
                wide = np.float64 if a.dtype.kind == "f" else np.int64
                gap = np.nan_to_num(np.abs(a.astype(wide) - b.astype(wide)), nan=np.inf)
                diff = max(diff, float(np.max(gap)))
    return exact, diff, count, kept


def _times(its, inputs, repeats):
    """``{key: [seconds of each timed invoke]}``, the two models interleaved."""
    times = {key: [] for key in its}
    for r in range(repeats):
        for key, it in its.items():  # interleaved: machine noise hits both alike
            times[key].append(_run(it, inputs, r % len(inputs[0])))
    return times


def _reported(its, log):
    """``{key: the allocator's total arena bytes}`` read from each interpreter's printout
    (stderr, which points at ``log``)."""
    reported = {}
    for key, it in its.items():
        log.seek(0)
        log.truncate()
        it.print_allocations()
        sys.stderr.flush()
        log.seek(0)
        found = re.search(rb"Arena allocation total (\d+) bytes", log.read())
        reported[key] = int(found.group(1)) if found else None
    return reported


def _result(exact, diff, count, n, reported, times):
    """The JSON answer of a run that did not fail."""
    med = {k: statistics.median(v) for k, v in times.items()}
    fastest = {k: min(v) for k, v in times.items()}
    # ratio per round (the two invokes run back to back), then the median: a busy phase of
    # the machine slows both members of a round and cancels out
    ratios = [c / d for d, c in zip(times["dense"], times["compressed"], strict=True) if d > 0]
    return {"ok": True, "bit_exact": exact and count > 0, "max_abs_diff": diff,
            "outputs": count, "samples": n, "reported": reported, "seconds": med,
            "overhead": statistics.median(ratios) if ratios else None,
            "overhead_min": fastest["compressed"] / fastest["dense"] if fastest["dense"] else None}


def main(job_path):
    """Run the job at ``job_path`` (see the module docstring); return the JSON answer."""
    from tflite_micro.python.tflite_micro import runtime  # optional dependency

    with open(job_path) as f:
        job = json.load(f)
    models, inputs = _load(job)
    n = len(inputs[0])
    with tempfile.TemporaryFile() as log:
        saved = _stderr_to(log)
        try:
            its = {k: runtime.Interpreter.from_bytes(b, arena_size=int(job["arena"]))
                   for k, b in models.items()}
            exact, diff, count, kept = _compare(its, inputs)
            times = _times(its, inputs, int(job["repeats"]))
            reported = _reported(its, log)
            if job.get("outputs"):
                np.save(job["outputs"], np.stack(kept))
            error = None
        except Exception as e:  # TFLM raises RuntimeError with its log on stderr
            error = str(e)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        text = log.read().decode(errors="replace")
    if error is not None:
        return {"ok": False, "error": error, "log": text[-3000:]}
    return _result(exact, diff, count, n, reported, times)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])), flush=True)
