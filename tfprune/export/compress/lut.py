"""TFLM DECODE "lut" encoding, and "auto": the smallest DECODE encoding per tensor.

LUT (look-up table) encoding stores each element of an int8 tensor as a 1-7-bit index into a
small value table, one table per output channel (axis 0; ``DecodeStateLut`` in
tflite-micro). It pays when a tensor holds few distinct values, e.g. after weight clustering
(:func:`tfprune.export.cluster`): 16 values -> 4 bits per weight, half of int8. The encoder
is upstream's (``tflite_micro...compression.lut.LutCompressor``, shipped in the
``tflite-micro`` wheel); this module picks the table mode and index width per tensor, checks
each encoding by decoding it again in numpy, and shares the DECODE insertion
(:mod:`tfprune.export.compress.encoding`) with the prune and Huffman encoders, so one file
can mix all three.

Per tensor, the flash cost is estimated from the exact encoded bytes (16-byte padded) plus the
same flatbuffer overhead the prune encoder uses; "auto" takes the smallest of prune, LUT,
Huffman and none.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> from tfprune.export import tflite_bytes
    >>> m = keras.Sequential([keras.layers.Dense(64, input_shape=(64,))])
    >>> w, b = m.get_weights(); m.set_weights([np.round(w * 4) / 4, b])  # few values
    >>> x = np.random.default_rng(0).random((20, 64)).astype("float32")
    >>> dense = tflite_bytes(m, quantize="int8", data=x, int8_io=True)
    >>> small, report = lut_encode(dense)
    >>> len(small) < 0.7 * len(dense), report["tensors"][0]["encoding"]
    (True, 'lut')
"""

from __future__ import annotations

import numpy as np

from tfprune import errors
from tfprune.export.compress import _encode, huffman
from tfprune.export.compress.encoding import DEFAULT_MIN_SAVING, Option, encode_model

__all__ = ["lut_encode", "auto_encode", "lut_plan", "lut_decode", "option", "MAX_BITS"]

MAX_BITS = 7  # widest index the DCM bitwidth field holds (upstream LutAncillaryData)


def _lut_libs():
    from tflite_micro.tensorflow.lite.micro.compression import lut, spec

    return lut, spec


def lut_plan(array: np.ndarray) -> dict | None:
    """The cheapest LUT layout of an int8 tensor, or None if no layout fits 2**MAX_BITS.

    One table per slice along axis 0 (output channels of Conv2D/FullyConnected kernels).
    Upstream's other layouts are not offered: with the ``tflite-micro`` wheel's runtime, one
    table for the whole tensor (``PerTensor``) and tables along the last axis decode wrongly
    (measured on a small CNN: outputs off by 55-218 int8 steps), while axis 0 was bit-exact
    at 1, 3 and 4 bits. Returns
    ``{"axis", "bits", "stride", "tables", "bytes"}``; ``bytes`` = packed indices + 16-byte
    metadata + value tables (``tables`` x ``stride`` int8).

    Example:
        >>> a = np.array([[0, 3, 3, 0], [5, 5, 0, 5]], np.int8)
        >>> p = lut_plan(a); p["axis"], p["bits"], p["tables"], p["bytes"]
        (0, 1, 2, 21)
    """
    array = np.asarray(array)
    if array.dtype != np.int8 or array.size == 0:
        return None
    n = int(array.size)
    options = []
    for axis in (0,):
        slices = np.moveaxis(array, axis, 0).reshape(array.shape[axis], -1)
        stride = max(len(np.unique(s)) for s in slices)
        options.append((axis, stride, array.shape[axis]))
    best = None
    for axis, stride, tables in options:
        bits = max(1, (stride - 1).bit_length())
        if bits > MAX_BITS:
            continue
        size = -(-n * bits // 8) + _encode.DCM_SIZE + stride * tables
        if best is None or size < best["bytes"]:
            best = {"axis": axis, "bits": bits, "stride": stride, "tables": tables,
                    "bytes": size}
    return best


def lut_decode(encoded: bytes, ancillary: bytes, shape: tuple) -> np.ndarray:
    """The int8 tensor back from a LUT encoding, the way DecodeStateLut expands it (checks).

    Example:
        >>> a = np.array([[0, 3, 3, 0], [5, 5, 0, 5]], np.int8)
        >>> enc, anc = _lut_result(a, lut_plan(a))
        >>> lut_decode(enc, anc, a.shape).tolist() == a.tolist()
        True
    """
    dcm = ancillary[: _encode.DCM_SIZE]
    axis_field, bits, stride = dcm[5] >> 4, dcm[5] & 0x07, dcm[6]
    n = int(np.prod(shape))
    raw = np.unpackbits(np.frombuffer(encoded, np.uint8), bitorder="big")[: n * bits]
    idx = raw.reshape(n, bits) @ (1 << np.arange(bits - 1, -1, -1))
    tables = np.frombuffer(ancillary[_encode.DCM_SIZE:], np.int8).reshape(-1, stride)
    if axis_field == 0xF:
        return tables[0][idx].reshape(shape)
    moved = (shape[axis_field],) + tuple(s for i, s in enumerate(shape) if i != axis_field)
    idx = np.moveaxis(idx.reshape(shape), axis_field, 0).reshape(shape[axis_field], -1)
    out = np.take_along_axis(tables, idx, axis=1).reshape(moved)
    return np.moveaxis(out, 0, axis_field)


def _lut_result(array: np.ndarray, plan: dict, tensor=None) -> tuple:
    """(encoded, ancillary) bytes from upstream's LutCompressor for ``plan``."""
    lut, spec = _lut_libs()
    mode = spec.PerTensor() if plan["axis"] is None else spec.PerChannel(axis=plan["axis"])
    method = spec.LookUpTableCompression(index_bitwidth=plan["bits"], mode=mode)
    if tensor is None:  # a stand-in with the two attributes the compressor reads
        tensor = type("T", (), {"array": array, "shape": array.shape})()
    res = lut.LutCompressor().compress(tensor, method)
    return bytes(res.encoded_data), bytes(res.ancillary_data)


def option(array: np.ndarray, zero_points=None, axis: int = 0, channels: int = 1):
    """The LUT encoding of an int8 ``array`` as an
    :class:`~tfprune.export.compress.encoding.Option`, or None (not int8, or a table would
    need more than 2**MAX_BITS values). The zero points play no part: tables hold the int8
    values themselves.

    Example:
        >>> o = option(np.array([[0, 3, 3, 0], [5, 5, 0, 5]], np.int8))
        >>> o.encoding, o.fields["bits"], o.decode().tolist()
        ('lut', 1, [[0, 3, 3, 0], [5, 5, 0, 5]])
    """
    plan = lut_plan(array)
    if plan is None:
        return None
    enc, anc = _lut_result(array, plan)
    return Option("lut", enc, anc, lambda: lut_decode(enc, anc, array.shape),
                  {"bits": plan["bits"], "table_axis": plan["axis"],
                   "table_size": plan["stride"]})


def _refuse_if_empty(result: tuple, label: str, allow_uncompressed: bool, hint: str) -> tuple:
    """``result`` unless nothing was encoded and that is not allowed (then ExportError)."""
    small, report = result
    if report["encoded"] or allow_uncompressed:
        return small, report
    detail = "; ".join(f"{k}: {v}" for k, v in list(report["skipped"].items())[:6])
    raise errors.ExportError(
        f"No tensor saves flash with the {label!r} encoding ({detail or 'no int8 weights'}). "
        f"{hint}, lower min_saving_bytes, or pass allow_uncompressed=True to keep the dense "
        "model.")


def lut_encode(model_bytes: bytes, *, min_saving_bytes: int = DEFAULT_MIN_SAVING,
               max_decoded_bytes: int | None = None, allow_uncompressed: bool = False) -> tuple:
    """LUT-encode every int8 constant tensor of a .tflite model where it saves bytes.

    A tensor qualifies when its values fit tables of at most 128 entries, one per channel
    along axis 0; the index width is the fewest bits that hold the
    table (1-7). Encodings come from upstream's ``LutCompressor`` and are decoded again in
    numpy before the file is built; run the result in TFLM to check it end to end
    (:func:`tfprune.export.micro` with ``compress="lut"`` does, and refuses a mismatch).

    Args:
        model_bytes: a full-int8 .tflite flatbuffer.
        min_saving_bytes, max_decoded_bytes, allow_uncompressed: as in
            :func:`tfprune.export.compress.prune_encode`.

    Returns:
        ``(bytes, report)`` as ``prune_encode``; each row of ``report["tensors"]`` has
        ``encoding`` ("lut"), ``flash_bytes`` (encoded, padded), ``decoded_bytes``, ``bits``,
        ``table_axis`` (one table per slice along it) and ``table_size``.

    Raises:
        tfprune.errors.ExportError: no tensor qualifies (unless ``allow_uncompressed``).

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> from tfprune.export import tflite_bytes
        >>> m = keras.Sequential([keras.layers.Dense(64, input_shape=(64,))])
        >>> dense = tflite_bytes(m, quantize="int8", data=np.ones((4, 64), "float32"))
        >>> lut_encode(dense)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ExportError: No tensor saves flash with the 'lut' encoding ...
    """
    result = encode_model(model_bytes, [option], min_saving_bytes=min_saving_bytes,
                          max_decoded_bytes=max_decoded_bytes, label="lut")
    return _refuse_if_empty(
        result, "lut", allow_uncompressed, "Cluster the weights first "
        "(tfprune.export.cluster(model, clusters=16)) so a tensor holds at most 128 values "
        "(16 -> 4-bit indices)")


def auto_encode(model_bytes: bytes, *, min_saving_bytes: int = DEFAULT_MIN_SAVING,
                max_decoded_bytes: int | None = None, allow_uncompressed: bool = True) -> tuple:
    """Per tensor, the smallest of the prune, LUT and Huffman encodings and none.

    Same arguments and report as :func:`lut_encode`; each row's ``encoding`` is "prune",
    "lut" or "huffman", with that encoder's extra fields. ``max_decoded_bytes`` keeps larger tensors dense (a DECODE output lives in the
    arena). ``allow_uncompressed`` defaults to True: "auto" may well choose none.

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> from tfprune.export import tflite_bytes
        >>> m = keras.Sequential([keras.layers.Dense(64, input_shape=(64,))])
        >>> dense = tflite_bytes(m, quantize="int8", data=np.ones((4, 64), "float32"))
        >>> auto_encode(dense)[1]["encoded"]
        0
    """
    result = encode_model(model_bytes, [_encode.option, option, huffman.option],
                          min_saving_bytes=min_saving_bytes,
                          max_decoded_bytes=max_decoded_bytes, label="auto")
    return _refuse_if_empty(result, "auto", allow_uncompressed,
                            "Prune (tfprune.prune) and/or cluster (tfprune.export.cluster) "
                            "the weights")
