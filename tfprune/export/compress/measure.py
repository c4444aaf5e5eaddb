"""Check a prune-encoded model against its dense original in the real TFLM interpreter.

Example:
    >>> os.path.basename(PAIR_WORKER)
    '_tflm_pair.py'
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
from tfprune.export import _tflm
from tfprune.export.compress import DEFAULT_MIN_SAVING, prune_encode

__all__ = ["compare_tflm", "for_micro", "micro_step", "PAIR_WORKER"]

PAIR_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_tflm_pair.py")


def compare_tflm(dense: bytes, compressed: bytes, inputs, *, arena: int | None = None,
                 repeats: int = 50, timeout: float = 600.0, keep_outputs: bool = False) -> dict:
    """Run both models on the same integer-coded ``inputs`` in TFLM (one child process).

    Args:
        dense, compressed: .tflite bytes.
        inputs: integer codes ``[n, ...]`` in the model's input dtype, or a list of such
            arrays, one per model input.
        arena: tensor arena bytes for both (default: 4x the dense model + 64 KiB).
        repeats: timed invokes per model, interleaved; the medians give ``overhead``.
        keep_outputs: also return ``outputs_array``, the compressed model's first output [n, ...].

    Returns:
        ``{"ok", "bit_exact", "max_abs_diff", "outputs", "samples", "reported": {"dense",
        "compressed"}, "seconds": {...}, "overhead"}`` or ``{"ok": False, "error", "log"}``.

    Example (see tests/export/compress/test_compress.py for a run)::

        res = compare_tflm(dense, small, codes)
        assert res["bit_exact"]
    """
    arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    arena = int(arena or 4 * len(dense) + 65536)
    with tempfile.TemporaryDirectory(prefix="tfprune-decode-") as tmp:
        paths = {k: os.path.join(tmp, k)
                 for k in ("dense", "compressed", "inputs.npz", "job", "outputs.npy")}
        for key, content in (("dense", dense), ("compressed", compressed)):
            with open(paths[key], "wb") as f:
                f.write(content)
        np.savez(paths["inputs.npz"], **{f"in{j}": np.ascontiguousarray(a)
                                         for j, a in enumerate(arrays)})
        with open(paths["job"], "w") as f:
            json.dump({"dense": paths["dense"], "compressed": paths["compressed"],
                       "inputs": paths["inputs.npz"], "arena": arena,
                       "repeats": int(repeats),
                       "outputs": paths["outputs.npy"] if keep_outputs else None}, f)
        try:
            proc = subprocess.run([sys.executable, PAIR_WORKER, paths["job"]],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise errors.ExportError(f"TFLM did not finish within {timeout:.0f} s.") from e
        outputs = None
        if keep_outputs and proc.returncode == 0 and os.path.exists(paths["outputs.npy"]):
            outputs = np.load(paths["outputs.npy"])
    if proc.returncode != 0:
        what = f"exit code {proc.returncode}"
        if proc.returncode < 0:
            try:
                what = signal.Signals(-proc.returncode).name
            except ValueError:
                pass
        return {"ok": False, "error": f"TFLM process died ({what})",
                "log": (proc.stderr or "")[-3000:]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["arena"] = arena
    if keep_outputs:
        result["outputs_array"] = outputs
    return result


def for_micro(content: bytes, inputs, *, encoded: tuple | None = None,
              allow_uncompressed: bool = False, min_saving_bytes: int | None = None,
              max_decoded_bytes: int | None = None, repeats: int = 50) -> tuple:
    """Prune-encode ``content`` and prove it in TFLM; what :func:`tfprune.export.micro` calls.

    ``encoded``: ``prune_encode``'s result if already computed (then the options are unused).

    Returns ``(bytes_to_write, report)``: the compressed model (or, with
    ``allow_uncompressed`` and nothing worth encoding, the dense one) and the
    :func:`~tfprune.export.compress.prune_encode` report extended with ``bit_exact``,
    ``arena_reported`` ({dense, compressed}), ``invoke_seconds`` ({dense, compressed},
    medians), ``decode_overhead`` (compressed / dense median invoke time on this host).

    Raises:
        tfprune.errors.ExportError: see ``prune_encode``; or the compressed model does not run
            in TFLM or its outputs differ from the dense model's by even one step (nothing is
            written then).
    """

    if encoded is None:
        encoded = prune_encode(
            content, allow_uncompressed=allow_uncompressed, max_decoded_bytes=max_decoded_bytes,
            min_saving_bytes=DEFAULT_MIN_SAVING if min_saving_bytes is None else min_saving_bytes)
    small, report = encoded[0], dict(encoded[1])
    if report["encoded"] == 0:
        report.update(bit_exact=None, note="no tensor worth encoding; the dense model is kept")
        return small, report
    what = report.get("method", "prune")
    res = compare_tflm(content, small, inputs, repeats=repeats)
    if not res["ok"]:
        raise errors.ExportError(f"The {what}-encoded model does not run in TFLite Micro: "
                                 f"{res['error']}\n{res.get('log', '')[-800:]}")
    if not res["bit_exact"]:
        raise errors.ExportError(
            f"The {what}-encoded model's TFLM outputs differ from the dense model's (max "
            f"{res['max_abs_diff']} int steps over {res['samples']} inputs); nothing written. "
            "This is a tfprune bug: please report it with the model.")
    report.update(bit_exact=True, samples=res["samples"], arena_reported=res["reported"],
                  invoke_seconds=res["seconds"], decode_overhead=res["overhead"])
    return small, report


def micro_step(content: bytes, encoded: tuple, measured: dict) -> tuple:
    """The ``compress=`` step of :func:`tfprune.export.micro`, after the dense run.

    ``encoded`` is ``prune_encode(content)`` (or ``lut_encode``/``auto_encode``) (micro calls it before its long TFLM runs, so
    its refusals come first); ``measured`` is micro's dense measurement (``codes``: the TFLM inputs, ``tflm_raw``: the
    dense TFLM outputs, ``arena``, ``reported``). Encodes, proves the result bit-exact in
    TFLM and bisects its arena. Returns ``(content, extra_ops, report, arena, reported)``
    for the file to write; ``report`` adds ``dense_arena_bytes`` and ``dense_arena_reported``.
    """

    small, report = for_micro(content, measured["codes"], encoded=encoded)
    report.update(dense_arena_bytes=measured["arena"], dense_arena_reported=measured["reported"])
    if not report["encoded"]:
        return content, (), report, measured["arena"], measured["reported"]
    reported = int(report["arena_reported"]["compressed"] or 0)
    ceiling = max(4 * len(content) + 65536, 2 * reported)
    arena = _tflm.smallest_arena(small, measured["codes"], measured["tflm_raw"], start=reported,
                                 ceiling=ceiling)
    return small, ("TFLM_DECODE",), report, arena, reported
