"""Sparse weights that shrink microcontroller flash: the TFLM DECODE "prune" encoding.

TFLite Micro's ``DECODE`` operator (custom op ``TFLM_DECODE``) expands a bitmask plus the
packed non-zero values into the dense tensor right before the consuming kernel runs (the
"prune" decoder, ``DecodeStatePrune``). Upstream's compression tool ships LUT compression and
a stub for pruning; :func:`prune_encode` is the pruning encoder. The byte layout is described
in :mod:`tfprune.export.compress._encode`. Graph surgery (DECODE insertion, ancillary tensors,
buffer dedupe) is done by the ``tflite-micro`` package's own ``decode_insert``/``model_editor``
modules, and the file is re-aligned with its flatbuffer aligner.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> from tfprune.export import tflite_bytes
    >>> m = keras.Sequential([keras.layers.Dense(64, input_shape=(64,))])
    >>> w, b = m.get_weights(); w[np.abs(w) < np.quantile(np.abs(w), 0.9)] = 0
    >>> m.set_weights([w, b])
    >>> x = np.random.default_rng(0).random((20, 64)).astype("float32")
    >>> dense = tflite_bytes(m, quantize="int8", data=x, int8_io=True)
    >>> small, report = prune_encode(dense)
    >>> len(small) < len(dense), report["tensors"][0]["zero_fraction"] >= 0.89
    (True, True)
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from tfprune import errors
from tfprune.export.compress import _encode

__all__ = ["prune_encode", "lut_encode", "auto_encode", "VALID", "check_option",
           "DEFAULT_MIN_SAVING"]

log = logging.getLogger(__name__)

VALID = (None, "prune", "lut", "auto")  # values of micro(compress=...)
DEFAULT_MIN_SAVING = 64  # bytes a tensor must save (after flatbuffer overhead) to be encoded
# Flatbuffer bytes one encoded tensor adds beyond its mask and ancillary data: two tensor
# tables (plus their names), two buffer entries, the DECODE operator and its output tensor.
_OVERHEAD = 256
_BREAK_EVEN = 0.125  # int8: the mask costs 1/8 byte per weight


def check_option(compress) -> None:
    """Refuse an unknown ``compress`` value, listing the valid ones.

    Example:
        >>> check_option("prune")
        >>> check_option("zip")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: Unknown compress 'zip'. Valid: None, 'prune' ...
    """
    if compress is None or (isinstance(compress, str) and compress in VALID):
        return
    raise errors.ConfigError(
        f"Unknown compress {compress!r}. Valid: None, 'prune' (TFLM DECODE bitmask + packed "
        "non-zero values; needs weights with zeros, e.g. after tfprune.prune), 'lut' (indices "
        "into a value table; needs few distinct values, e.g. after tfprune.export.cluster), "
        "'auto' (the smaller of the two per tensor).")


def _libs():
    from tflite_micro.tensorflow.lite.micro.compression import (
        compressor,
        constant_inputs,
        decode_insert,
        model_editor,
    )
    from tflite_micro.tensorflow.lite.micro.tools import tflite_flatbuffer_align_wrapper

    return compressor, constant_inputs, decode_insert, model_editor, tflite_flatbuffer_align_wrapper


def _pad16(n: int) -> int:
    return -(-n // 16) * 16


def _quant(tensor):
    q = tensor.quantization
    if q is None:
        return None, 0, 1
    scales = q.scales if isinstance(q.scales, (list, tuple)) else [q.scales]
    zps = q.zero_points if isinstance(q.zero_points, (list, tuple)) else [q.zero_points]
    return [int(z) for z in zps], int(q.axis or 0), len(scales)


def _candidates(model, constant_inputs):
    """Yield (subgraph, tensor index, tensor, why-not or None, consumers) per constant."""
    owners = {}
    for sg in model.subgraphs:
        for t in sg.tensors:
            if t.buffer is not None and t.buffer.data:
                owners.setdefault(id(t.buffer), []).append(t)
    for s, sg in enumerate(model.subgraphs):
        for i, t in enumerate(sg.tensors):
            if t.buffer is None or not t.buffer.data:
                continue
            why, consumers = None, len(sg.consumers_of(t))
            if t.is_variable or t in sg.inputs:
                why = "variable or subgraph input"
            elif not consumers:
                why = "no consumer"
            elif constant_inputs.find_uses(sg, t):
                why = "an operator reads it in Prepare (must stay constant)"
            elif len(owners[id(t.buffer)]) > 1:
                why = "shares its buffer with another tensor"
            yield s, i, t, why, consumers


def _name(t) -> str:
    return t.name or "?"


def read_checked(model_bytes, model_editor, *, min_saving_bytes, max_decoded_bytes, label):
    """The encoders' shared argument checks, then the model read with ``model_editor``
    (``label``: the public function named in the error)."""
    if not isinstance(model_bytes, (bytes, bytearray)) or len(model_bytes) < 8:
        raise errors.ExportError(f"{label}() takes the bytes of a .tflite file.")
    if isinstance(min_saving_bytes, bool) or not isinstance(min_saving_bytes, int):
        raise errors.ConfigError(f"`min_saving_bytes` must be an int, got {min_saving_bytes!r}.")
    if max_decoded_bytes is not None and (isinstance(max_decoded_bytes, bool) or not
                                          isinstance(max_decoded_bytes, int)
                                          or max_decoded_bytes < 1):
        raise errors.ConfigError("`max_decoded_bytes` must be a positive int or None, got "
                                 f"{max_decoded_bytes!r}.")
    try:
        return model_editor.read(bytes(model_bytes))
    except Exception as e:  # the flatbuffer reader raises anything on garbage
        raise errors.ExportError(f"The bytes are not a readable .tflite model ({e}).") from e


def prune_encode(model_bytes: bytes, *, min_saving_bytes: int = DEFAULT_MIN_SAVING,
                 max_decoded_bytes: int | None = None, allow_uncompressed: bool = False) -> tuple:
    """Prune-encode every constant tensor of a .tflite model where it saves bytes.

    Each chosen tensor becomes a uint8 bitmask (1 bit per element) plus the packed values that
    differ from the zero point, and a ``TFLM_DECODE`` op is inserted before each consumer.
    The dense model is not changed; the result is a new flatbuffer. Each encoding is decoded
    again in Python and compared with the original tensor before the file is built; run the
    result in TFLM (:func:`tfprune.export.micro` does) to check it end to end.

    Args:
        model_bytes: a .tflite flatbuffer (full-int8 for a microcontroller; any dtype the
            reader supports is encoded: int8/16/32/64, float32, bool).
        min_saving_bytes: a tensor is encoded only if it saves at least this many bytes after
            the estimated flatbuffer overhead (about 300 bytes per tensor and consumer).
        max_decoded_bytes: leave tensors larger than this dense (None: no limit). A DECODE
            output lives in the tensor arena (RAM) while its consumer runs, so the arena grows
            by about the largest encoded tensor; this caps that growth.
        allow_uncompressed: if no tensor qualifies, return the input unchanged (with
            ``report["encoded"] == 0``) instead of raising.

    Returns:
        ``(bytes, report)``. ``report``: ``dense_bytes``, ``compressed_bytes``, ``ratio``,
        ``encoded`` (count), ``tensors`` (per encoded tensor: ``name``, ``shape``, ``dtype``,
        ``zero_fraction``, ``dense_bytes``, ``encoded_bytes``, ``saved_bytes`` (estimated)),
        ``skipped`` (name -> reason, for tensors with zeros that were not encoded).

    Raises:
        tfprune.errors.ExportError: no constant tensor has zeros, or none saves
            ``min_saving_bytes`` (unless ``allow_uncompressed``); bytes that are not a model.
            "No zeros" means under 12.5 % in every tensor: int8 rounding alone zeroes a few.

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> from tfprune.export import tflite_bytes
        >>> m = keras.Sequential([keras.layers.Dense(8, input_shape=(8,))])
        >>> dense = tflite_bytes(m, quantize="int8", data=np.ones((4, 8), "float32"))
        >>> prune_encode(dense)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ExportError: The model's weights have (almost) no zeros: ...
    """
    compressor, constant_inputs, decode_insert, model_editor, aligner = _libs()
    model = read_checked(model_bytes, model_editor, min_saving_bytes=min_saving_bytes,
                         max_decoded_bytes=max_decoded_bytes, label="prune_encode")

    results, rows, skipped, max_zero = {}, [], {}, 0.0
    for s, i, t, why, consumers in _candidates(model, constant_inputs):
        array = t.array
        zps, axis, channels = _quant(t)
        if zps is not None and len(zps) != channels:
            why = why or "zero point count differs from the scale count"
        why = why or _encode.refusal(array.dtype, array.shape, zps, axis)
        if why is not None and "dtype" in why:
            continue  # uint8 tables etc.: not weights we could encode
        enc = _encode.encode(array, zps, axis) if why is None else None
        zeros = (1.0 - len(enc.values) / max(enc.count, 1)) if enc else None
        if enc is None:
            if np.any(array == 0):
                skipped[_name(t)] = why
            continue
        max_zero = max(max_zero, zeros)
        dense_b = array.nbytes
        enc_b = _pad16(len(enc.mask)) + _pad16(len(_encode.ancillary(enc)))
        # one DECODE per consumer, each with its own output tensor (name + quantization copy)
        per_consumer = 128 + len(_name(t)) + 12 * (channels if zps is not None else 0)
        saved = dense_b - enc_b - _OVERHEAD - 2 * len(_name(t)) - (consumers - 1) * per_consumer
        if max_decoded_bytes is not None and dense_b > max_decoded_bytes:
            skipped[_name(t)] = f"{dense_b} B decoded > max_decoded_bytes={max_decoded_bytes}"
            continue
        if saved < min_saving_bytes:
            if zeros > 0:
                skipped[_name(t)] = (f"{zeros:.0%} zeros saves {saved} B < min_saving_bytes="
                                     f"{min_saving_bytes}")
            continue
        back = _encode.decode(enc, array.shape, array.dtype, zps, axis)
        if not np.array_equal(back.view(np.uint8), np.ascontiguousarray(array).view(np.uint8)):
            raise AssertionError(f"prune encoding of {_name(t)!r} does not round-trip")
        results[(s, i)] = compressor.CompressionResult(encoded_data=enc.mask,
                                                       ancillary_data=_encode.ancillary(enc))
        rows.append({"name": _name(t), "shape": list(array.shape), "dtype": str(array.dtype),
                     "encoding": "prune", "flash_bytes": int(enc_b),
                     "decoded_bytes": int(dense_b),
                     "zero_fraction": round(zeros, 4), "dense_bytes": int(dense_b),
                     "encoded_bytes": int(enc.nbytes), "saved_bytes": int(saved)})

    report = {"dense_bytes": len(model_bytes), "encoded": len(rows), "tensors": rows,
              "skipped": skipped, "min_saving_bytes": min_saving_bytes,
              "max_decoded_bytes": max_decoded_bytes,
              "largest_decoded_bytes": max((r["dense_bytes"] for r in rows), default=0)}
    if not rows:
        if allow_uncompressed:
            report.update(compressed_bytes=len(model_bytes), ratio=1.0)
            return bytes(model_bytes), report
        if max_zero < _BREAK_EVEN:
            raise errors.ExportError(
                f"The model's weights have (almost) no zeros: at most {max_zero:.1%} in any "
                "constant tensor, and the prune encoding (1 bit per weight plus the non-zero "
                f"values) saves flash only above {_BREAK_EVEN:.1%} for int8. Prune the model "
                "first (e.g. tfprune.prune(...) to 80-95% sparsity, fine-tune, strip), or "
                "export with compress=None (allow_uncompressed=True keeps the dense model).")
        detail = "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:6])
        raise errors.ExportError(
            "No tensor has enough zeros for the prune encoding to save flash (an int8 tensor "
            f"needs more than 1/8 zeros plus about {_OVERHEAD} B of overhead). {detail}. "
            "Prune to a higher sparsity, lower min_saving_bytes, or pass "
            "allow_uncompressed=True to keep the dense model.")
    encoded = [model.subgraphs[s].tensors[i] for s, i in results]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # decode_insert warns when it drops a tensor: never here
        decode_insert.insert_decode_operators(model, results)
    for t in encoded:
        # decode_insert sets the wrapper's quantization to None but model_editor's compiler
        # keeps the TensorT's old table, so the uint8 bitmask tensor would carry a copy of the
        # per-channel scales/zero points (12 B per channel). The DECODE output has them; drop.
        t._fb.quantization = None
    out = _align(bytes(model.build()), aligner)
    report.update(compressed_bytes=len(out), ratio=round(len(out) / len(model_bytes), 4))
    log.info("prune encoding: %d tensors, %d -> %d bytes", len(rows), len(model_bytes), len(out))
    return out, report


def _align(content: bytes, aligner) -> bytes:
    """Re-align buffers (16 bytes) with tflite-micro's flatbuffer aligner (file in, file out)."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tfprune-align-") as tmp:
        src, dst = os.path.join(tmp, "in.tflite"), os.path.join(tmp, "out.tflite")
        with open(src, "wb") as f:
            f.write(content)
        aligner.align_tflite_model(src, dst)
        with open(dst, "rb") as f:
            return f.read()


# at the end: lut.py reads this module's helpers and DEFAULT_MIN_SAVING
from tfprune.export.compress.lut import auto_encode, lut_encode  # noqa: E402
