"""The shared DECODE encoding step: read a .tflite model, choose per tensor, insert DECODE.

Every encoder of this package (prune, LUT, Huffman, auto) is :func:`encode_model` with a
different list of *option makers*: functions ``(array, zero_points, axis, channels) ->
Option | None`` that offer one encoding of one constant tensor with its exact flash bytes and
a numpy decoder. Per tensor, :func:`encode_model` keeps the smallest option that saves at least
``min_saving_bytes`` after the flatbuffer overhead and fits ``max_decoded_bytes``, decodes it
again in numpy and compares with the original bytes, then inserts one ``TFLM_DECODE``
operator per consumer with the ``tflite-micro`` package's ``decode_insert`` and re-aligns the
file with its flatbuffer aligner. One file may mix encodings.

Example:
    >>> pad16(1), pad16(16), pad16(17)
    (16, 16, 32)
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import tempfile
import warnings
from collections.abc import Callable

import numpy as np

from tfprune import errors

__all__ = ["Option", "Constant", "encode_model", "tflm_modules", "read_checked", "constants",
           "quantization", "tensor_name", "pad16", "overhead", "build", "align",
           "DEFAULT_MIN_SAVING", "OVERHEAD"]

log = logging.getLogger(__name__)

DEFAULT_MIN_SAVING = 64  # bytes a tensor must save (after flatbuffer overhead) to be encoded
# Flatbuffer bytes one encoded tensor adds beyond its encoded and ancillary data: two tensor
# tables (plus their names), two buffer entries, the DECODE operator and its output tensor.
OVERHEAD = 256

Modules = collections.namedtuple(
    "Modules", "compressor constant_inputs decode_insert model_editor aligner")


@dataclasses.dataclass(frozen=True)
class Option:
    """One encoding of one tensor: ``encoding`` name, ``encoded``/``ancillary`` bytes,
    ``decode`` (() -> the dense array, as TFLM would expand it) and extra report ``fields``.

    Example:
        >>> o = Option("x", b"1", b"22", lambda: None)
        >>> o.flash_bytes
        32
    """

    encoding: str
    encoded: bytes
    ancillary: bytes
    decode: Callable
    fields: dict = dataclasses.field(default_factory=dict)

    @property
    def flash_bytes(self) -> int:
        """Encoded + ancillary bytes, each padded to 16 (flatbuffer buffer alignment)."""
        return pad16(len(self.encoded)) + pad16(len(self.ancillary))


@dataclasses.dataclass(frozen=True)
class Constant:
    """A constant tensor of the model: position, tensor, why it cannot be encoded (or None),
    consumer count, and its quantization (``zero_points`` or None, ``axis``, ``channels``)."""

    subgraph: int
    index: int
    tensor: object
    why: str | None
    consumers: int
    zero_points: list | None
    axis: int
    channels: int

    @property
    def name(self) -> str:
        """The tensor's name (``"?"`` when it has none).

        Example:
            >>> Constant(0, 0, type("T", (), {"name": "w"})(), None, 1, None, 0, 1).name
            'w'
        """
        return tensor_name(self.tensor)


def tflm_modules() -> Modules:
    """The tflite-micro modules the encoders use (imported lazily: optional dependency).

    Example:
        >>> tflm_modules()._fields[:2]
        ('compressor', 'constant_inputs')
    """
    from tflite_micro.tensorflow.lite.micro.compression import (
        compressor,
        constant_inputs,
        decode_insert,
        model_editor,
    )
    from tflite_micro.tensorflow.lite.micro.tools import tflite_flatbuffer_align_wrapper

    return Modules(compressor, constant_inputs, decode_insert, model_editor,
                   tflite_flatbuffer_align_wrapper)


def pad16(n: int) -> int:
    """``n`` rounded up to a multiple of 16 (the flatbuffer buffer alignment).

    Example:
        >>> pad16(33)
        48
    """
    return -(-n // 16) * 16


def quantization(tensor) -> tuple:
    """``(zero_points or None, axis, channels)`` of a model_editor tensor.

    Example:
        >>> quantization(type("T", (), {"quantization": None})())
        (None, 0, 1)
    """
    q = tensor.quantization
    if q is None:
        return None, 0, 1
    scales = q.scales if isinstance(q.scales, (list, tuple)) else [q.scales]
    zps = q.zero_points if isinstance(q.zero_points, (list, tuple)) else [q.zero_points]
    return [int(z) for z in zps], int(q.axis or 0), len(scales)


def tensor_name(t) -> str:
    """A model_editor tensor's name, or ``"?"``.

    Example:
        >>> tensor_name(type("T", (), {"name": ""})())
        '?'
    """
    return t.name or "?"


def overhead(name: str, consumers: int, channels: int, quantized: bool) -> int:
    """Estimated flatbuffer bytes an encoded tensor adds: :data:`OVERHEAD`, its name twice,
    and per extra consumer one more DECODE with its output tensor (name + quantization).

    Example:
        >>> overhead("w", 1, 1, False)
        258
    """
    per_consumer = 128 + len(name) + 12 * (channels if quantized else 0)
    return OVERHEAD + 2 * len(name) + (consumers - 1) * per_consumer


def constants(model, constant_inputs):
    """Yield a :class:`Constant` per constant tensor of a model_editor model.

    Example:
        >>> from tfprune.compat import keras
        >>> from tfprune.export import tflite_bytes
        >>> m = keras.Sequential([keras.layers.Dense(4, input_shape=(8,))])
        >>> mods = tflm_modules()
        >>> model = mods.model_editor.read(tflite_bytes(m))
        >>> [(c.tensor.array.shape, c.why) for c in constants(model, mods.constant_inputs)]
        [((4, 8), None)]
    """
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
            zps, axis, channels = quantization(t)
            if why is None and zps is not None and len(zps) != channels:
                why = "zero point count differs from the scale count"
            yield Constant(s, i, t, why, consumers, zps, axis, channels)


def read_checked(model_bytes, model_editor, *, min_saving_bytes, max_decoded_bytes, label):
    """The encoders' shared argument checks, then the model read with ``model_editor``
    (``label``: the public function named in the error).

    Example:
        >>> read_checked(b"", None, min_saving_bytes=0, max_decoded_bytes=None, label="f")
        Traceback (most recent call last):
        ...
        tfprune.errors.ExportError: f() takes the bytes of a .tflite file.
    """
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


def _choose(c: Constant, makers, *, min_saving_bytes, max_decoded_bytes) -> tuple:
    """``(option, row)`` for the best encoding of ``c``, or ``(None, why-not or None)``."""
    array = c.tensor.array
    dense_b = int(array.nbytes)
    options = [o for make in makers
               if (o := make(array, c.zero_points, c.axis, c.channels)) is not None]
    if not options:
        return None, None
    best = min(options, key=lambda o: o.flash_bytes)
    flash = best.flash_bytes
    saved = dense_b - flash - overhead(c.name, c.consumers, c.channels,
                                       c.zero_points is not None)
    if max_decoded_bytes is not None and dense_b > max_decoded_bytes:
        return None, f"{dense_b} B decoded > max_decoded_bytes={max_decoded_bytes}"
    if saved < min_saving_bytes:
        worth = flash < dense_b or (array.dtype == np.int8 and dense_b >= 256)
        return None, (f"best encoding ({best.encoding}, {flash} B) saves {saved} B < "
                      f"min_saving_bytes={min_saving_bytes}") if worth else None
    back = np.asarray(best.decode())
    if not np.array_equal(back.view(np.uint8), np.ascontiguousarray(array).view(np.uint8)):
        raise AssertionError(f"{best.encoding} encoding of {c.name!r} does not round-trip")
    row = {"name": c.name, "shape": list(array.shape), "dtype": str(array.dtype),
           "encoding": best.encoding, "flash_bytes": int(flash), "decoded_bytes": dense_b,
           "dense_bytes": dense_b, "saved_bytes": int(saved), **best.fields}
    return best, row


def encode_model(model_bytes, makers, *, min_saving_bytes: int = DEFAULT_MIN_SAVING,
                 max_decoded_bytes: int | None = None, label: str = "encode",
                 int8_only: bool = True) -> tuple:
    """Encode each constant tensor with the smallest option of ``makers`` that pays.

    Never raises for "nothing to encode": returns the input unchanged with
    ``report["encoded"] == 0`` (the public encoders decide whether that is an error).
    ``int8_only``: report skipped tensors only when int8 (others are listed when they
    have zeros).

    Returns:
        ``(bytes, report)``: ``method`` (label), ``dense_bytes``, ``compressed_bytes``,
        ``ratio``, ``encoded``, ``tensors`` (rows: ``name``, ``shape``, ``dtype``,
        ``encoding``, ``flash_bytes``, ``decoded_bytes``, ``dense_bytes``, ``saved_bytes`` and
        the option's fields), ``skipped`` (name -> reason), ``min_saving_bytes``,
        ``max_decoded_bytes``, ``largest_decoded_bytes``, ``max_zero_fraction``.

    Example:
        >>> encode_model(b"not a model", [])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ExportError: The bytes are not a readable .tflite model ...
    """
    mods = tflm_modules()
    model = read_checked(model_bytes, mods.model_editor, min_saving_bytes=min_saving_bytes,
                         max_decoded_bytes=max_decoded_bytes, label=label)
    results, rows, skipped, max_zero = {}, [], {}, 0.0
    for c in constants(model, mods.constant_inputs):
        array = c.tensor.array
        if array.size:
            max_zero = max(max_zero, float(np.mean(array == 0)))
        listed = array.dtype == np.int8 or (not int8_only and np.any(array == 0))
        if c.why is not None:
            if listed:
                skipped[c.name] = c.why
            continue
        option, row = _choose(c, makers, min_saving_bytes=min_saving_bytes,
                              max_decoded_bytes=max_decoded_bytes)
        if option is None:
            if row is not None and listed:
                skipped[c.name] = row
            elif row is None and array.dtype == np.int8 and array.nbytes >= 256:
                skipped[c.name] = f"no {label} encoding applies"
            continue
        results[(c.subgraph, c.index)] = mods.compressor.CompressionResult(
            encoded_data=option.encoded, ancillary_data=option.ancillary)
        rows.append(row)
    report = {"method": label, "dense_bytes": len(model_bytes), "encoded": len(rows),
              "tensors": rows, "skipped": skipped, "min_saving_bytes": min_saving_bytes,
              "max_decoded_bytes": max_decoded_bytes,
              "largest_decoded_bytes": max((r["decoded_bytes"] for r in rows), default=0),
              "max_zero_fraction": round(max_zero, 4)}
    out = build(model, results, mods) if rows else bytes(model_bytes)
    report.update(compressed_bytes=len(out), ratio=round(len(out) / len(model_bytes), 4))
    if rows:
        log.info("%s encoding: %d tensors, %d -> %d bytes", label, len(rows),
                 len(model_bytes), len(out))
    return out, report


def build(model, results: dict, mods: Modules) -> bytes:
    """Insert the DECODE operators for ``results`` ({(subgraph, index): CompressionResult})
    into the model_editor ``model`` and return the aligned flatbuffer.

    Example:
        >>> from tfprune.compat import keras
        >>> from tfprune.export import tflite_bytes
        >>> m = keras.Sequential([keras.layers.Dense(4, input_shape=(8,))])
        >>> mods = tflm_modules()
        >>> model = mods.model_editor.read(tflite_bytes(m))
        >>> len(build(model, {}, mods)) > 0  # nothing to encode: the same model, aligned
        True
    """
    encoded = [model.subgraphs[s].tensors[i] for s, i in results]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # decode_insert warns when it drops a tensor: never here
        mods.decode_insert.insert_decode_operators(model, results)
    for t in encoded:
        # decode_insert sets the wrapper's quantization to None but model_editor's compiler
        # keeps the TensorT's old table, so the uint8 encoded tensor would carry a copy of the
        # per-channel scales/zero points (12 B per channel). The DECODE output has them; drop.
        t._fb.quantization = None
    return align(bytes(model.build()), mods.aligner)


def align(content: bytes, aligner) -> bytes:
    """Re-align buffers (16 bytes) with tflite-micro's flatbuffer aligner (file in, file out).

    Example:
        >>> from tfprune.compat import keras
        >>> from tfprune.export import tflite_bytes
        >>> content = tflite_bytes(keras.Sequential([keras.layers.Dense(2, input_shape=(3,))]))
        >>> align(content, tflm_modules().aligner)[4:8]
        b'TFL3'
    """
    with tempfile.TemporaryDirectory(prefix="tfprune-align-") as tmp:
        src, dst = os.path.join(tmp, "in.tflite"), os.path.join(tmp, "out.tflite")
        with open(src, "wb") as f:
            f.write(content)
        aligner.align_tflite_model(src, dst)
        with open(dst, "rb") as f:
            return f.read()
