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


def _pack(content, inputs, arena, n_outputs, search=None, expected=()) -> bytes:
    meta = {"arena": arena, "n_inputs": len(inputs), "n_outputs": n_outputs}
    if search is not None:
        meta["search"] = search
    arrays = {"model": np.frombuffer(content, np.uint8),
              "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for i, x in enumerate(inputs):
        arrays[f"in{i}"] = np.ascontiguousarray(x)
    for j, e in enumerate(expected):
        arrays[f"exp{j}"] = np.ascontiguousarray(e)
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
    return _child(_pack(content, [inputs] if single else list(inputs), arena, n_outputs),
                  n_outputs, single, timeout)


def _child(payload: bytes, n_outputs: int, single: bool, timeout: float) -> dict:
    """Run the worker on ``payload``; its result dict (``crashed`` if the process died)."""
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
                "log": stderr[-4000:], "stderr": stderr, "missing": []}
    with np.load(io.BytesIO(proc.stdout), allow_pickle=False) as npz:
        result = json.loads(bytes(npz["result"]).decode())
        outputs = [npz[f"out{j}"] for j in range(n_outputs)] if result["ok"] else None
    result["crashed"] = False
    if outputs is not None:
        result["outputs"] = outputs[0] if single and n_outputs == 1 else outputs
    return result


_PROGRESS = "@tfprune-arena"  # the worker's PROGRESS (it is run as a script, not imported)


def _progress(stderr: str) -> tuple:
    """``(tried, crashed_arena)`` from a search worker's stderr: the probes it finished as
    ``[arena, worked]`` pairs, and the arena it was trying when it died (None: none)."""
    tried, trying = [], None
    for line in stderr.splitlines():
        parts = line.split()
        if parts[:2] == [_PROGRESS, "try"]:
            trying = int(parts[2])
        elif parts[:2] == [_PROGRESS, "done"]:
            tried.append([int(parts[2]), bool(int(parts[3]))])
            trying = None
    return tried, trying


def smallest_arena(content: bytes, inputs, expected, *, start: int,
                   ceiling: int) -> int | None:
    """Smallest arena (a multiple of ALIGN, >= ``start``) that runs ``inputs`` to ``expected``.

    Grows from ``start`` (the allocator's report) in doubling steps, then bisects. The probes
    run in one child process; TFLM may crash outright on a too-small arena: then the arena it
    died on counts as too small and a new child goes on with the search. Returns None if not
    even ``ceiling`` works.
    """
    single = not isinstance(inputs, (list, tuple))
    outs = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    tried: list = []
    for _ in range(256):  # each crash settles one probe; a search has ~log2(ceiling) probes
        search = {"start": int(start), "ceiling": int(ceiling), "align": ALIGN, "tried": tried}
        res = _child(_pack(content, [inputs] if single else list(inputs), None, len(outs),
                           search, outs), 0, False, 600.0)  # no outputs come back
        if not res["crashed"]:
            return res["smallest"]
        done, crashed = _progress(res["stderr"])
        if crashed is None:  # died outside a probe: nothing learnt, so do not loop
            raise errors.ExportError(f"The TFLM arena search failed: {res['error']}. "
                                     f"{res['log'][-500:]}")
        tried = tried + done + [[crashed, False]]
    raise errors.ExportError("The TFLM arena search crashed 256 times; export without micro.")
