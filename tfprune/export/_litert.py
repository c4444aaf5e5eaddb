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
           "dequantize", "encode_inputs", "decode_outputs"]

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
