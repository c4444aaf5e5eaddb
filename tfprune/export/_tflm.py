"""Parent side of the TFLM runs: one child process per job (see _tflm_worker.py).

The job goes to the child on stdin and the result comes back on stdout, so a killed run
leaves no temporary file or folder behind.

Example:
    >>> os.path.basename(WORKER)
    '_tflm_worker.py'
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys

import numpy as np

from tfprune import errors

__all__ = ["run", "smallest_arena", "WORKER", "ALIGN"]

ALIGN = 16  # arena sizes are searched in steps of this many bytes

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_tflm_worker.py")


def _pack(content, inputs, arena, n_outputs) -> bytes:
    arrays = {"model": np.frombuffer(content, np.uint8),
              "meta": np.frombuffer(json.dumps({"arena": arena, "n_inputs": len(inputs),
                                                "n_outputs": n_outputs}).encode(), np.uint8)}
    for i, x in enumerate(inputs):
        arrays[f"in{i}"] = np.ascontiguousarray(x)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def run(content: bytes, inputs, *, arena: int | None = None, n_outputs: int = 1,
        timeout: float = 600.0) -> dict:
    """Run integer-coded ``inputs`` through TFLM in a child process (no files: pipes only).

    ``inputs`` is an array [n, ...] or a list of them, one per model input in the file's order.
    Returns the worker's dict: ``ok``; on success ``outputs`` (a list of ``n_outputs`` arrays,
    or one array for a single-output model), ``arena`` (bytes used), ``reported`` (the
    allocator's total); on failure ``error``, ``log`` (TFLM's messages), ``missing`` (op names
    TFLM has no kernel for) and ``crashed`` (the process died, e.g. a segmentation fault with
    a tiny arena).
    """
    single = not isinstance(inputs, (list, tuple))
    payload = _pack(content, [inputs] if single else list(inputs), arena, n_outputs)
    try:
        proc = subprocess.run([sys.executable, WORKER], input=payload, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise errors.ExportError(f"TFLM did not finish within {timeout:.0f} s.") from e
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0 or not proc.stdout:
        what = f"exit code {proc.returncode}"
        if proc.returncode < 0:
            try:
                what = signal.Signals(-proc.returncode).name
            except ValueError:
                pass
        return {"ok": False, "crashed": True, "error": f"TFLM process died ({what})",
                "log": stderr[-4000:], "missing": []}
    with np.load(io.BytesIO(proc.stdout), allow_pickle=False) as npz:
        result = json.loads(bytes(npz["result"]).decode())
        outputs = [npz[f"out{j}"] for j in range(n_outputs)] if result["ok"] else None
    result["crashed"] = False
    if outputs is not None:
        result["outputs"] = outputs[0] if single and n_outputs == 1 else outputs
    return result


def _works(content, inputs, arena, expected) -> bool:
    many = isinstance(expected, (list, tuple))
    res = run(content, inputs, arena=arena, n_outputs=len(expected) if many else 1)
    if not res["ok"]:
        return False
    got = res["outputs"] if many else [res["outputs"]]
    return all(np.array_equal(g, e) for g, e in zip(got, expected if many else [expected],
                                                      strict=True))


def smallest_arena(content: bytes, inputs, expected, *, start: int,
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
