"""Sparse weights that shrink microcontroller flash: the TFLM DECODE "prune" encoding.

TFLite Micro's ``DECODE`` operator (custom op ``TFLM_DECODE``) expands a bitmask plus the
packed non-zero values into the dense tensor right before the consuming kernel runs (the
"prune" decoder, ``DecodeStatePrune``). Upstream's compression tool ships LUT compression and
a stub for pruning; :func:`prune_encode` is the pruning encoder. The byte layout is described
in :mod:`tfprune.export.compress._encode`; :mod:`~tfprune.export.compress.lut` and
:mod:`~tfprune.export.compress.huffman` hold the other two DECODE formats, and
:mod:`~tfprune.export.compress.encoding` the step they share. Graph surgery (DECODE insertion, ancillary tensors,
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

from tfprune import errors
from tfprune.export.compress import _encode, encoding
from tfprune.export.compress.encoding import DEFAULT_MIN_SAVING, OVERHEAD
from tfprune.export.compress.huffman import huffman_encode
from tfprune.export.compress.lut import auto_encode, lut_encode

__all__ = ["prune_encode", "lut_encode", "huffman_encode", "auto_encode", "encode", "VALID",
           "check_option", "DEFAULT_MIN_SAVING"]

VALID = (None, "prune", "lut", "huffman", "auto")  # values of micro(compress=...)
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
        "'huffman' (a Huffman code per int8 tensor: few frequent values, e.g. zeros after pruning "
        "and clustered values), 'auto' (the smallest of prune, lut, huffman and none per "
        "tensor).")


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
    small, report = encoding.encode_model(
        model_bytes, [_encode.option], min_saving_bytes=min_saving_bytes,
        max_decoded_bytes=max_decoded_bytes, label="prune", int8_only=False)
    if report["encoded"] or allow_uncompressed:
        return small, report
    max_zero = report["max_zero_fraction"]
    if max_zero < _BREAK_EVEN:
        raise errors.ExportError(
            f"The model's weights have (almost) no zeros: at most {max_zero:.1%} in any "
            "constant tensor, and the prune encoding (1 bit per weight plus the non-zero "
            f"values) saves flash only above {_BREAK_EVEN:.1%} for int8. Prune the model "
            "first (e.g. tfprune.prune(...) to 80-95% sparsity, fine-tune, strip), or "
            "export with compress=None (allow_uncompressed=True keeps the dense model).")
    detail = "; ".join(f"{k}: {v}" for k, v in list(report["skipped"].items())[:6])
    raise errors.ExportError(
        "No tensor has enough zeros for the prune encoding to save flash (an int8 tensor "
        f"needs more than 1/8 zeros plus about {OVERHEAD} B of overhead). {detail}. "
        "Prune to a higher sparsity, lower min_saving_bytes, or pass "
        "allow_uncompressed=True to keep the dense model.")


def encode(model_bytes: bytes, compress: str, *, allow_uncompressed: bool = False,
           max_decoded_bytes: int | None = None,
           min_saving_bytes: int = DEFAULT_MIN_SAVING) -> tuple:
    """``(bytes, report)`` of the encoder named by ``compress`` ("prune", "lut", "huffman",
    "auto"): what :func:`tfprune.export.micro` calls for ``compress=``.

    Example:
        >>> encode(b"x" * 16, "zip")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: Unknown compress 'zip'. ...
    """
    check_option(compress)
    if compress is None:
        raise errors.ConfigError("encode() needs a compress value; None means no encoding.")
    kwargs = {"max_decoded_bytes": max_decoded_bytes, "min_saving_bytes": min_saving_bytes}
    if compress == "auto":
        return auto_encode(model_bytes, **kwargs)
    encoder = {"prune": prune_encode, "lut": lut_encode, "huffman": huffman_encode}[compress]
    return encoder(model_bytes, allow_uncompressed=allow_uncompressed, **kwargs)
