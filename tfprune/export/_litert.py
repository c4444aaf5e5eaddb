"""Run .tflite bytes in LiteRT (ai-edge-litert), with a fallback off the default delegate.

LiteRT's default XNNPACK delegate refuses some sparse models (FACTS.md); those run with the
builtin op resolver without default delegates.

Example:
    >>> quantize(np.array([0.5]), 0.5, 1, np.int8)
    array([2], dtype=int8)
"""

from __future__ import annotations

import numpy as np

from tfprune import errors
from tfprune.export import _inspect

__all__ = ["DEFAULT", "BUILTIN", "interpreter", "run", "run_codes", "compare", "quantize",
           "dequantize", "encode_inputs", "decode_outputs", "resolvers", "kernels",
           "kernels_text", "check_finite"]

DEFAULT = "default"  # BUILTIN op resolver with the default (XNNPACK) delegate
BUILTIN = "builtin_without_default_delegates"


def _make(content: bytes, resolver: str, threads: int):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = (OpResolverType.AUTO if resolver == DEFAULT
            else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it = Interpreter(model_content=bytes(content), num_threads=threads,
                     experimental_op_resolver_type=kind)
    it.allocate_tensors()
    return it


def interpreter(content: bytes, *, threads: int = 1, resolver: str = "auto",
                what: str = "the model file"):
    """Return ``(interpreter, resolver_used, reason)``; tries the default delegate first.

    Raises ExportError for bytes that are not a .tflite model or that LiteRT cannot load.
    """
    content = _inspect.check_content(content, what)
    try:
        if resolver in (DEFAULT, BUILTIN):
            return _make(content, resolver, threads), resolver, None
        try:
            it = _make(content, DEFAULT, threads)
            _invoke_zeros(it)  # some delegate failures only show at the first invoke
            return it, DEFAULT, None
        except (RuntimeError, ValueError) as e:
            reason = (str(e).strip().splitlines() or [""])[0][:200]
            return _make(content, BUILTIN, threads), BUILTIN, reason
    except (RuntimeError, ValueError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:300]
        raise errors.ExportError(f"LiteRT cannot load {what}: {first}. It may be truncated "
                                 "or need ops LiteRT does not have.") from e


def resolvers(content: bytes, *, threads: int = 1) -> list:
    """Every resolver that runs ``content``: ``[(resolver, interpreter_or_None, reason)]``.

    The default (XNNPACK delegate) entry has interpreter None and the first line of LiteRT's
    message as ``reason`` when the delegate refuses the file; the builtin resolver (no default
    delegates) always runs a file LiteRT can load.
    """
    content = _inspect.check_content(content)
    out = []
    try:
        it = _make(content, DEFAULT, threads)
        _invoke_zeros(it)
        out.append((DEFAULT, it, None))
    except (RuntimeError, ValueError) as e:
        out.append((DEFAULT, None, (str(e).strip().splitlines() or [""])[0][:200]))
    it, _, _ = interpreter(content, threads=threads, resolver=BUILTIN)
    out.append((BUILTIN, it, None))
    return out


def kernels(it) -> dict:
    """Which op ran where: ``{"delegate": [op, ...], "builtin": [op, ...]}`` (graph order).

    LiteRT lists the file's ops and, after them, one ``DELEGATE`` node per partition the
    delegate took. An op ran on builtin kernels if one of its outputs feeds a delegate
    partition, is a model output no partition writes, or feeds an op that ran on builtin
    kernels without being a partition output (found by a fixpoint over the graph).
    """
    ops = it._get_ops_details()  # noqa: SLF001 (LiteRT has no public per-node API)
    parts = [o for o in ops if o["op_name"] == "DELEGATE"]
    graph = [o for o in ops if o["op_name"] != "DELEGATE"]
    if not parts:
        return {"delegate": [], "builtin": [o["op_name"] for o in graph]}
    part_in = {int(t) for o in parts for t in o["inputs"]}
    part_out = {int(t) for o in parts for t in o["outputs"]}
    model_out = {int(d["index"]) for d in it.get_output_details()}
    builtin = set()
    changed = True
    while changed:
        changed = False
        used = {int(t) for o in graph if o["index"] in builtin for t in o["inputs"]}
        for o in graph:
            if o["index"] in builtin:
                continue
            outs = {int(t) for t in o["outputs"]}
            if outs & part_in or outs & (model_out | used) - part_out:
                builtin.add(o["index"])
                changed = True
    return {"delegate": [o["op_name"] for o in graph if o["index"] not in builtin],
            "builtin": [o["op_name"] for o in graph if o["index"] in builtin]}


def kernels_text(k: dict) -> str:
    """``kernels()`` as one line, e.g. ``'XNNPACK: FULLY_CONNECTED x2; builtin: DENSIFY'``."""
    def count(names):
        return ", ".join(f"{n} x{names.count(n)}" if names.count(n) > 1 else n
                         for n in dict.fromkeys(names))
    parts = [f"XNNPACK: {count(k['delegate'])}" if k["delegate"] else "",
             f"builtin: {count(k['builtin'])}" if k["builtin"] else ""]
    return "; ".join(p for p in parts if p) or "no ops"


def check_finite(outputs, names, what: str) -> None:
    """Raise ExportError if any of ``outputs`` (float arrays, one per name) holds NaN/inf.

    Example:
        >>> check_finite([np.array([1.0, 2.0])], ["y"], "x.tflite")
    """
    for out, name in zip(outputs, names, strict=True):
        bad = ~np.isfinite(np.asarray(out, np.float64))
        if bad.any():
            n = len(out)
            rows = int(np.any(bad.reshape(n, -1), axis=1).sum()) if n else 0
            raise errors.ExportError(
                f"{what}: output {name!r} is NaN or infinite on {rows} of {n} samples "
                f"({int(bad.sum())} values); verification failed. Check the model's weights "
                "and inputs for NaN/inf (a diverged training run is the usual cause) and "
                "re-train or restore a finite checkpoint before exporting.")


def _invoke_zeros(it):
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()


def quantize(x, scale, zero_point, dtype):
    """Float values to integer codes: clip(round(x / scale) + zero_point)."""
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(x) / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(q, scale, zero_point):
    """Integer codes to float values: (q - zero_point) * scale."""
    return (np.asarray(q, np.float32) - zero_point) * np.float32(scale)


def encode(x, detail):
    """Inputs in the file's input dtype: floats quantised to codes for a quantised integer
    input; token ids (an integer input with scale 0) and floats passed through unchanged."""
    scale, zero = detail["quantization"]
    if np.issubdtype(detail["dtype"], np.integer) and scale != 0:
        return quantize(x, scale, zero, detail["dtype"])
    return np.asarray(x).astype(detail["dtype"], copy=False)


def decode(raw, detail):
    """Float values of one output array (dequantised if the file quantises it)."""
    scale, zero = detail["quantization"]
    if np.issubdtype(raw.dtype, np.integer) and scale != 0:
        return dequantize(raw, scale, zero)
    return np.asarray(raw, np.float32)


def encode_inputs(it, xs, io) -> list:
    """Keras-ordered inputs ``xs`` to a list of arrays in the file's input order and dtypes."""
    return [encode(xs[k], d) for d, k in zip(it.get_input_details(), io.inputs, strict=True)]


def decode_outputs(it, raws, io) -> list:
    """File-ordered raw outputs to Keras-ordered float outputs."""
    details = it.get_output_details()
    return [decode(raws[p], details[p]) for p in io.outputs]


def run_codes(it, codes) -> list:
    """Run inputs already in the file's order and dtypes, one sample at a time.

    Variable tensors (the state an LSTM keeps between invokes) are reset before each sample,
    so every sample is an independent sequence, as in Keras. Returns the raw outputs, one
    ``[n, ...]`` array per file output (file order).
    """
    d_in, d_out = it.get_input_details(), it.get_output_details()
    raws = [[] for _ in d_out]
    for s in range(len(codes[0])):
        it.reset_all_variables()
        for d, c in zip(d_in, codes, strict=True):
            it.set_tensor(d["index"], c[s : s + 1])
        it.invoke()
        for r, d in zip(raws, d_out, strict=True):
            r.append(it.get_tensor(d["index"])[0].copy())
    return [np.stack(r) for r in raws]


def run(it, xs, io) -> tuple:
    """Run Keras-ordered inputs ``xs`` (one ``[n, ...]`` array per input).

    Returns ``(float_outputs, raw_outputs)``: float is a Keras-ordered list of dequantized
    outputs, raw the file-ordered list of what the output tensors hold.
    """
    raws = run_codes(it, encode_inputs(it, xs, io))
    return decode_outputs(it, raws, io), raws


def _compare_one(reference, out) -> dict:
    ref = np.asarray(reference).reshape(len(reference), -1)
    got = np.asarray(out).reshape(len(out), -1)
    err = float(np.max(np.abs(ref - got))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    per_sample = np.ndim(reference) == 2 and ref.shape[1] > 1  # not per pixel (autoencoders)
    top1 = float(np.mean(ref.argmax(1) == got.argmax(1))) if per_sample else None
    return {"max_abs_error": err, "max_rel_error": err / scale if scale else err,
            "top1_agreement": top1, "samples": int(len(ref))}


def compare(reference, out, names=None) -> dict:
    """Max abs error, relative error (to max |reference|) and top-1 agreement of outputs.

    ``reference`` and ``out`` are arrays or lists of arrays (one per output). With several
    outputs the top-level figures are the worst over outputs and ``outputs`` holds one dict
    per output name.
    """
    refs = reference if isinstance(reference, (list, tuple)) else [reference]
    outs = out if isinstance(out, (list, tuple)) else [out]
    per = [_compare_one(r, o) for r, o in zip(refs, outs, strict=True)]
    if len(per) == 1:
        return per[0]
    tops = [p["top1_agreement"] for p in per if p["top1_agreement"] is not None]
    names = list(names) if names else [f"output_{j}" for j in range(len(per))]
    return {"max_abs_error": max(p["max_abs_error"] for p in per),
            "max_rel_error": max(p["max_rel_error"] for p in per),
            "top1_agreement": min(tops) if tops else None, "samples": per[0]["samples"],
            "outputs": dict(zip(names, per, strict=True))}
