"""Parent side of the TFLM runs: one child process per job (see _tflm_worker.py).

Example:
    >>> os.path.basename(WORKER)
    '_tflm_worker.py'
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile

import numpy as np

from tfprune import errors

__all__ = ["run", "smallest_arena", "WORKER", "ALIGN"]

ALIGN = 16  # arena sizes are searched in steps of this many bytes

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_tflm_worker.py")


def run(content: bytes, inputs: np.ndarray, *, arena: int | None = None,
        timeout: float = 600.0) -> dict:
    """Run integer-coded ``inputs`` [n, ...] through TFLM in a child process.

    Returns the worker's dict: ``ok``; on success ``outputs`` (array), ``arena`` (bytes used),
    ``reported`` (the allocator's total); on failure
    ``error``, ``log`` (TFLM's messages), ``missing`` (op names TFLM has no kernel for) and
    ``crashed`` (the process died, e.g. a segmentation fault with a tiny arena).
    """
    with tempfile.TemporaryDirectory(prefix="tfprune-tflm-") as tmp:
        paths = {k: os.path.join(tmp, k) for k in ("model", "inputs.npy", "outputs.npy", "job")}
        with open(paths["model"], "wb") as f:
            f.write(content)
        np.save(paths["inputs.npy"], np.ascontiguousarray(inputs))
        job = {"model": paths["model"], "inputs": paths["inputs.npy"],
               "outputs": paths["outputs.npy"], "arena": arena}
        with open(paths["job"], "w") as f:
            json.dump(job, f)
        try:
            proc = subprocess.run([sys.executable, WORKER, paths["job"]], capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise errors.ExportError(f"TFLM did not finish within {timeout:.0f} s.") from e
        if proc.returncode != 0:
            what = f"exit code {proc.returncode}"
            if proc.returncode < 0:
                try:
                    what = signal.Signals(-proc.returncode).name
                except ValueError:
                    pass
            return {"ok": False, "crashed": True, "error": f"TFLM process died ({what})",
                    "log": (proc.stderr or "")[-4000:], "missing": []}
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["crashed"] = False
        if result["ok"]:
            result["outputs"] = np.load(paths["outputs.npy"])
        return result


def _works(content, inputs, arena, expected) -> bool:
    res = run(content, inputs, arena=arena)
    return bool(res["ok"]) and np.array_equal(res["outputs"], expected)


def smallest_arena(content: bytes, inputs: np.ndarray, expected: np.ndarray, *, start: int,
                   ceiling: int) -> int | None:
    """Smallest arena (a multiple of ALIGN, >= ``start``) that runs ``inputs`` to ``expected``.

    Grows from ``start`` (the allocator's report) in doubling steps, then bisects. Each probe
    runs in its own child process because TFLM may crash outright on a too-small arena.
    Returns None if not even ``ceiling`` works.
    """
    lo, hi = None, -(-start // ALIGN) * ALIGN
    step = 4 * ALIGN
    while not _works(content, inputs, hi, expected):
        lo = hi
        if hi >= ceiling:
            return None
        hi = min(ceiling, hi + step)
        step *= 2
    while lo is not None and hi - lo > ALIGN:
        mid = (lo + hi) // 2 // ALIGN * ALIGN
        if _works(content, inputs, mid, expected):
            hi = mid
        else:
            lo = mid
    return hi
