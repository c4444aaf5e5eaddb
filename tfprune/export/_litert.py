"""Run .tflite bytes in LiteRT (ai-edge-litert), with a fallback off the default delegate.

LiteRT's default XNNPACK delegate refuses some sparse models (FACTS.md); those run with the
builtin op resolver without default delegates.

Example:
    >>> quantize(np.array([0.5]), 0.5, 1, np.int8)
    array([2], dtype=int8)
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT", "BUILTIN", "interpreter", "run", "quantize", "dequantize"]

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


def interpreter(content: bytes, *, threads: int = 1, resolver: str = "auto"):
    """Return ``(interpreter, resolver_used, reason)``; tries the default delegate first."""
    if resolver in (DEFAULT, BUILTIN):
        return _make(content, resolver, threads), resolver, None
    try:
        it = _make(content, DEFAULT, threads)
        _invoke_zeros(it)  # some delegate failures only show at the first invoke
        return it, DEFAULT, None
    except (RuntimeError, ValueError) as e:
        reason = str(e).strip().splitlines()[0][:200]
        return _make(content, BUILTIN, threads), BUILTIN, reason


def _invoke_zeros(it):
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()


def quantize(x, scale, zero_point, dtype):
    """Float values to integer codes: clip(round(x / scale) + zero_point)."""
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(x) / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(q, scale, zero_point):
    """Integer codes to float values: (q - zero_point) * scale."""
    return (np.asarray(q, np.float32) - zero_point) * np.float32(scale)


def run(it, x: np.ndarray) -> tuple:
    """Run float inputs ``x [n, ...]`` one sample at a time.

    Returns ``(float_outputs [n, ...], raw_outputs [n, ...])``: raw is what the file's output
    tensor holds (int8 codes for an int8 interface), float is it dequantized.
    """
    d_in = it.get_input_details()[0]
    d_out = it.get_output_details()[0]
    s_in, z_in = d_in["quantization"]
    s_out, z_out = d_out["quantization"]
    raws = []
    for sample in x:
        v = sample[None]
        if np.issubdtype(d_in["dtype"], np.integer):
            v = quantize(v, s_in, z_in, d_in["dtype"])
        it.set_tensor(d_in["index"], v.astype(d_in["dtype"], copy=False))
        it.invoke()
        raws.append(it.get_tensor(d_out["index"])[0].copy())
    raw = np.stack(raws)
    out = dequantize(raw, s_out, z_out) if np.issubdtype(raw.dtype, np.integer) else raw
    return out.astype(np.float32), raw


def compare(reference: np.ndarray, out: np.ndarray) -> dict:
    """Max abs error, relative error (to max |reference|) and top-1 agreement of two outputs."""
    ref = reference.reshape(len(reference), -1)
    got = out.reshape(len(out), -1)
    err = float(np.max(np.abs(ref - got))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    top1 = float(np.mean(ref.argmax(1) == got.argmax(1))) if ref.shape[1] > 1 else None
    return {"max_abs_error": err, "max_rel_error": err / scale if scale else err,
            "top1_agreement": top1, "samples": int(len(ref))}


def run_codes(it, codes: np.ndarray) -> tuple:
    """Run inputs already in the file's input dtype; same return as :func:`run`."""
    d_in = it.get_input_details()[0]
    d_out = it.get_output_details()[0]
    raws = []
    for sample in codes:
        it.set_tensor(d_in["index"], sample[None].astype(d_in["dtype"], copy=False))
        it.invoke()
        raws.append(it.get_tensor(d_out["index"])[0].copy())
    raw = np.stack(raws)
    s_out, z_out = d_out["quantization"]
    out = dequantize(raw, s_out, z_out) if np.issubdtype(raw.dtype, np.integer) else raw
    return out.astype(np.float32), raw
