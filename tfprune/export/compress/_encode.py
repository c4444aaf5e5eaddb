"""The TFLM DECODE "prune" encoding of one tensor (pure numpy; no TFLM import).

Format, as read by tflite-micro ``tensorflow/lite/micro/kernels/decode_state_prune.cc``
(``DecodeStatePrune::Setup``/``Decode``/``DecompressToBuffer*``) and ``decode.cc``:

* The DECODE op's encoded input is a uint8 bitmask of ``ceil(n / 8)`` bytes, one bit per
  element of the dense tensor in row-major order, most significant bit first (element ``i`` is
  bit ``7 - i % 8`` of byte ``i // 8``). 1 = take the next packed value, 0 = write the zero
  point.
* The ancillary input is the 16-byte DECODE Common Metadata (byte 0 decode type 2 = prune,
  byte 1 DCM version 1, byte 4 prune version 1, the rest 0), then the kept values packed in
  element order in the output's own dtype (little-endian; float32 copied as its 32-bit
  pattern, bool as int8). TFLite buffers are 16-byte aligned, so the values are too.
* Zero points come from the output tensor's affine quantization: one channel (or several
  with all zero points 0) uses ``zero_point[0]`` for every element; int8 with several
  channels and any non-zero zero point uses a per-channel zero point, channels along axis 0
  (contiguous blocks) or the last axis (cycling). Any other quantized axis is refused by the
  reader, and so is a non-zero zero point on a non-int8 tensor.

Example:
    >>> import numpy as np
    >>> enc = encode(np.array([1, 0, 2, 0, 0, 3, 0, 4, 0], np.int8), zero_points=[0])
    >>> enc.mask.hex(), enc.values.tolist()
    ('a500', [1, 2, 3, 4])
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfprune.export.compress.encoding import Option

__all__ = ["Encoded", "encode", "decode", "ancillary", "refusal", "option", "DCM_SIZE",
           "PRUNE_TYPE"]

DCM_SIZE = 16
PRUNE_TYPE = 2  # DecodeState::kDcmTypePrune
_VERSION = 1  # DCM version (byte 1) and prune version (byte 4): both must be 1


@dataclasses.dataclass(frozen=True)
class Encoded:
    """A tensor in the prune encoding: ``mask`` (bytes) and the kept ``values`` (array)."""

    mask: bytes
    values: np.ndarray
    count: int  # elements of the dense tensor

    @property
    def nbytes(self) -> int:
        """Bytes the encoding stores (mask + metadata + values, before flatbuffer padding)."""
        return len(self.mask) + DCM_SIZE + self.values.nbytes


def _bits(array: np.ndarray) -> np.ndarray:
    """The array viewed as unsigned integers of its width (exact comparison, -0.0 != 0.0)."""
    if array.dtype == np.bool_:
        return array.view(np.uint8)
    return array.view(np.dtype(f"u{array.dtype.itemsize}"))


def refusal(dtype: np.dtype, shape: tuple, zero_points, axis: int) -> str | None:
    """Why the TFLM prune reader cannot decode such a tensor, or None if it can."""
    dtype = np.dtype(dtype)
    if dtype not in (np.int8, np.int16, np.int32, np.int64, np.float32, np.bool_):
        return f"dtype {dtype} (the reader handles int8/16/32/64, float32, bool)"
    zps = list(zero_points) if zero_points is not None else [0]
    channels = len(zps)
    rank = len(shape)
    if not (channels > 1 and axis == rank - 1) and axis != 0:
        return f"quantized axis {axis} (the reader takes axis 0 or the last axis)"
    if any(zps) and dtype != np.int8:
        return "non-zero zero point on a non-int8 tensor"
    if channels > 1 and int(np.prod(shape)) % channels:
        return "element count not a multiple of the channel count"
    return None


def _zero_point_array(shape: tuple, zero_points, axis: int) -> np.ndarray | int:
    """The zero point of every element (broadcastable), as the reader resolves it."""
    zps = [int(z) for z in (zero_points if zero_points is not None else [0])]
    if len(zps) <= 1 or not any(zps):
        return zps[0] if zps else 0
    zp = np.asarray(zps, np.int64)
    if axis == len(shape) - 1:  # alternate axis: channels cycle over the last axis
        return zp
    return zp.reshape((-1,) + (1,) * (len(shape) - 1))


def encode(array: np.ndarray, zero_points=None, axis: int = 0) -> Encoded:
    """Prune-encode ``array`` (the dense tensor, its dtype as stored in the model).

    An element is dropped when it equals its zero point (for float32: when its bit pattern is
    0, i.e. +0.0). Call :func:`refusal` first: it is not checked here.
    """
    array = np.ascontiguousarray(array)
    zp = _zero_point_array(array.shape, zero_points, axis)
    if array.dtype in (np.float32, np.bool_):
        keep = _bits(array) != 0
    else:
        keep = array.astype(np.int64) != zp
    flat = keep.reshape(-1)
    return Encoded(mask=np.packbits(flat, bitorder="big").tobytes(),
                   values=array.reshape(-1)[flat].copy(), count=int(flat.size))


def decode(enc: Encoded, shape: tuple, dtype, zero_points=None, axis: int = 0) -> np.ndarray:
    """The dense tensor back from ``enc``, the way DecodeStatePrune expands it (for checks)."""
    keep = np.unpackbits(np.frombuffer(enc.mask, np.uint8), bitorder="big")[: enc.count]
    zp = _zero_point_array(tuple(shape), zero_points, axis)
    out = np.broadcast_to(np.asarray(zp), tuple(shape)).astype(dtype).reshape(-1).copy()
    if np.dtype(dtype) == np.float32:
        out[:] = 0.0
    out[keep.astype(bool)] = enc.values
    return out.reshape(shape)


def ancillary(enc: Encoded) -> bytes:
    """The ancillary tensor's bytes: the 16-byte DCM, then the packed kept values."""
    dcm = bytearray(DCM_SIZE)
    dcm[0] = PRUNE_TYPE
    dcm[1] = _VERSION
    dcm[4] = _VERSION
    values = enc.values
    if values.dtype == np.bool_:
        values = values.view(np.int8)
    return bytes(dcm) + values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes()


def option(array: np.ndarray, zero_points, axis: int, channels: int) -> Option | None:
    """The prune encoding of ``array`` as an :class:`~tfprune.export.compress.encoding.Option`
    (None if the reader refuses the tensor or it has no element at its zero point).

    Example:
        >>> o = option(np.array([0, 0, 7, 0], np.int8), [0], 0, 1)
        >>> o.encoding, o.fields["zero_fraction"], o.decode().tolist()
        ('prune', 0.75, [0, 0, 7, 0])
    """
    if refusal(array.dtype, array.shape, zero_points, axis) is not None:
        return None
    enc = encode(array, zero_points, axis)
    if len(enc.values) >= enc.count:
        return None
    return Option("prune", enc.mask, ancillary(enc),
                  lambda: decode(enc, array.shape, array.dtype, zero_points, axis),
                  {"zero_fraction": round(1.0 - len(enc.values) / max(enc.count, 1), 4),
                   "encoded_bytes": int(enc.nbytes)})
