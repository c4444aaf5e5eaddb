"""TFLM DECODE "huffman" encoding of an int8 tensor (pure numpy; no TFLM import).

Format, as read by tflite-micro ``tensorflow/lite/micro/kernels/decode_state_huffman.cc``
(``DecodeStateHuffman::Setup``/``DecompressToBufferWith16BitTable``):

* The encoded input is the bit string of all codewords, element after element, read as
  32-bit words, most significant bit first, each word big-endian in the buffer. The decoder
  may read up to one word past the last codeword, so one zero word is appended.
* The ancillary input is the 16-byte DECODE Common Metadata (byte 0 decode type 1 = Huffman,
  byte 1 DCM version 1, byte 4 Huffman version 1, byte 5 = ``(k - 1) << 4`` for an initial
  table of ``2**k`` entries, bit 0 clear for 16-bit table elements), then the table elements
  (uint16, little-endian).
* The decoder reads ``k`` bits and looks them up. An element with bit 15 set is a symbol:
  bits 11-14 hold how many of the bits just read belong to the codeword (the rest are put
  back), the low byte is the int8 value. Otherwise bits 11-14 hold ``w - 1`` and bits 0-10
  an offset: the next ``w`` bits index the sub-table that starts ``offset`` elements after
  this element.

:func:`huffman_encode` encodes a whole model; ``option`` is what "auto" compares with the
prune and LUT encodings. Codes are canonical Huffman codes limited to :data:`MAX_CODE_BITS` bits (package-merge), one
table per tensor. A tensor costs at least one bit per element; its table costs 2 bytes per
entry. Only int8 tensors (the 16-bit table form); the 32-bit form (int16) is not written.

Example:
    >>> a = np.array([0, 0, 0, 0, 5, 0, -3, 0], np.int8)
    >>> enc, anc = encode(a)
    >>> decode(enc, anc, a.shape).tolist() == a.tolist(), len(enc)
    (True, 8)
"""

from __future__ import annotations

import heapq

import numpy as np

from tfprune import errors
from tfprune.export.compress.encoding import DEFAULT_MIN_SAVING, Option, encode_model

__all__ = ["huffman_encode", "option", "code_lengths", "canonical_codes", "build_table",
           "encode", "decode", "plan", "HUFFMAN_TYPE", "MAX_CODE_BITS"]

HUFFMAN_TYPE = 1  # DecodeState::kDcmTypeHuffman
MAX_CODE_BITS = 15  # a symbol's bit count must fit the 4-bit field (1..15)
_DCM_SIZE = 16
_FOUND, _COUNT_SHIFT, _OFFSET_MAX = 0x8000, 11, 0x07FF
_CHUNK = 1 << 16  # elements per step when packing the bit string


def code_lengths(counts, max_bits: int = MAX_CODE_BITS) -> np.ndarray:
    """Optimal prefix-code lengths for ``counts`` with no code longer than ``max_bits``
    (package-merge; a lone symbol gets 1 bit, a zero count gets 0 = no code).

    Example:
        >>> code_lengths([10, 1, 1, 1]).tolist()
        [1, 3, 3, 2]
        >>> int(code_lengths([2 ** i for i in range(20)], max_bits=15).max())
        15
    """
    counts = np.asarray(counts, np.int64)
    used = np.flatnonzero(counts > 0)
    lengths = np.zeros(len(counts), np.int64)
    if len(used) <= 2:
        lengths[used] = 1
        return lengths
    if len(used) > 2 ** max_bits:
        raise ValueError(f"{len(used)} symbols do not fit codes of {max_bits} bits")
    leaves = sorted((int(counts[s]), (int(s),)) for s in used)
    packages = list(leaves)
    for _ in range(max_bits - 1):
        merged = [(packages[i][0] + packages[i + 1][0], packages[i][1] + packages[i + 1][1])
                  for i in range(0, len(packages) - 1, 2)]
        packages = list(heapq.merge(leaves, merged, key=lambda p: p[0]))
    for _, symbols in packages[: 2 * len(used) - 2]:
        for s in symbols:
            lengths[s] += 1
    return lengths


def canonical_codes(lengths) -> dict:
    """``{symbol: (code, bits)}``: canonical codes (shorter first, then by symbol).

    Example:
        >>> canonical_codes([1, 2, 3, 3])
        {0: (0, 1), 1: (2, 2), 2: (6, 3), 3: (7, 3)}
    """
    order = sorted((int(n), s) for s, n in enumerate(lengths) if n > 0)
    codes, code, prev = {}, 0, order[0][0] if order else 0
    for n, s in order:
        code <<= n - prev
        codes[s] = (code, n)
        code, prev = code + 1, n
    return codes


def _level(codes: list, width: int) -> tuple:
    """Entries of one table level of ``width`` bits: symbols, and the codes per sub-prefix."""
    entries, below = [None] * (1 << width), {}
    for code, bits, value in codes:
        if bits <= width:
            start = code << (width - bits)
            for j in range(start, start + (1 << (width - bits))):
                entries[j] = _FOUND | (bits << _COUNT_SHIFT) | (value & 0xFF)
        else:
            rest = bits - width
            below.setdefault(code >> rest, []).append((code & ((1 << rest) - 1), rest, value))
    return entries, below


def build_table(codes: dict, values, initial_bits: int) -> list | None:
    """The uint16 table elements for ``codes`` (symbol index -> (code, bits)), symbol ``s``
    standing for int8 ``values[s]``; None if an offset overflows 11 bits. Sub-tables follow
    their parent table depth first (the layout of tflite-micro's own test tables).

    Example:
        >>> t = build_table(canonical_codes([1, 2, 2]), [0, 7, -1], 1)
        >>> [hex(e) for e in t]
        ['0x8800', '0x1', '0x8807', '0x88ff']
    """
    table: list = []
    level_codes = [(c, n, int(values[s])) for s, (c, n) in codes.items()]
    if not _place(table, None, level_codes, initial_bits):
        return None
    return [0 if e is None else e for e in table]  # None: unused (a lone 1-bit code)


def _place(table: list, parent: int | None, level_codes: list, width: int) -> bool:
    """Append one table level (and, depth first, its sub-tables); False on offset overflow."""
    base = len(table)
    if parent is not None:
        if base - parent > _OFFSET_MAX:
            return False
        table[parent] = ((width - 1) << _COUNT_SHIFT) | (base - parent)
    entries, below = _level(level_codes, width)
    table.extend(entries)
    for prefix, sub in sorted(below.items()):
        sub_width = min(max(n for _, n, _ in sub), MAX_CODE_BITS)
        if not _place(table, base + prefix, sub, sub_width):
            return False
    return True


def plan(array: np.ndarray) -> dict | None:
    """Code lengths, the initial table width and the sizes for an int8 tensor (or None).

    ``bytes`` = encoded words (+ 1 padding word) + 16-byte metadata + 2 bytes per table entry.

    Example:
        >>> p = plan(np.array([0] * 30 + [1, 2], np.int8)); p["bits"], p["symbols"]
        (34, 3)
    """
    array = np.asarray(array)
    if array.dtype != np.int8 or array.size == 0:
        return None
    values, counts = np.unique(array.reshape(-1), return_counts=True)
    lengths = code_lengths(counts)
    codes = canonical_codes(lengths)
    bits = int(np.dot(lengths, counts))
    best = None
    for k in range(1, int(lengths.max()) + 1):
        table = build_table(codes, values, k)
        if table is not None and (best is None or len(table) < len(best[1])):
            best = (k, table)
    if best is None:
        return None
    words = -(-bits // 32) + 1
    return {"values": values, "lengths": lengths, "codes": codes, "initial_bits": best[0],
            "table": best[1], "bits": bits, "symbols": len(values),
            "encoded_bytes": 4 * words, "bytes": 4 * words + _DCM_SIZE + 2 * len(best[1])}


def _bitstring(array: np.ndarray, p: dict) -> bytes:
    """The codewords of every element, packed MSB first, padded to whole words + one word."""
    symbol = np.searchsorted(p["values"], array.reshape(-1))
    lengths = p["lengths"][symbol]
    code_of = np.zeros(len(p["values"]), np.int64)
    for s, (c, _) in p["codes"].items():
        code_of[s] = c
    codes = code_of[symbol]
    width = int(lengths.max())
    # each code as `width` bits (MSB first), then keep only its first `length` bits; in
    # chunks so a large tensor needs no [n, width] int64 array at once
    shifts = np.arange(width - 1, -1, -1)
    parts = []
    for start in range(0, len(codes), _CHUNK):
        c, n = codes[start:start + _CHUNK], lengths[start:start + _CHUNK]
        bits = (c[:, None] << (width - n)[:, None] >> shifts) & 1
        parts.append(bits[np.arange(width)[None, :] < n[:, None]].astype(np.uint8))
    out = np.packbits(np.concatenate(parts), bitorder="big").tobytes()
    return out + bytes(p["encoded_bytes"] - len(out))


def encode(array: np.ndarray, p: dict | None = None) -> tuple:
    """``(encoded, ancillary)`` bytes of an int8 tensor in the Huffman DECODE format.

    Example:
        >>> enc, anc = encode(np.zeros(40, np.int8))
        >>> len(enc), anc[:6].hex()
        (12, '010100000100')
    """
    p = p or plan(array)
    dcm = bytearray(_DCM_SIZE)
    dcm[0], dcm[1], dcm[4] = HUFFMAN_TYPE, 1, 1
    dcm[5] = (p["initial_bits"] - 1) << 4  # 16-bit table elements: bit 0 clear
    table = np.asarray(p["table"], "<u2").tobytes()
    return _bitstring(np.asarray(array), p), bytes(dcm) + table


def decode(encoded: bytes, ancillary: bytes, shape: tuple) -> np.ndarray:
    """The int8 tensor back, walking the tables the way DecodeStateHuffman does (checks).

    Example:
        >>> a = np.arange(-4, 4, dtype=np.int8).repeat(3)
        >>> decode(*encode(a), a.shape).tolist() == a.tolist()
        True
    """
    k = ((ancillary[5] & 0xF0) >> 4) + 1
    table = np.frombuffer(ancillary[_DCM_SIZE:], "<u2")
    stream = np.unpackbits(np.frombuffer(encoded, np.uint8), bitorder="big")
    text = "".join("01"[b] for b in stream)  # str slicing: fast enough for checks
    n, pos, out = int(np.prod(shape)), 0, []
    for _ in range(n):
        used, offset = k, int(text[pos:pos + k], 2)
        pos += k
        value = int(table[offset])
        while not value & _FOUND:
            used = ((value >> _COUNT_SHIFT) & 0xF) + 1
            offset += (value & _OFFSET_MAX) + int(text[pos:pos + used], 2)
            pos += used
            value = int(table[offset])
        pos -= used - ((value >> _COUNT_SHIFT) & 0xF)
        out.append(value & 0xFF)
    return np.asarray(out, np.uint8).view(np.int8).reshape(shape)


def option(array: np.ndarray, zero_points=None, axis: int = 0, channels: int = 1):
    """The Huffman encoding of an int8 ``array`` as an
    :class:`~tfprune.export.compress.encoding.Option` (None if not int8).

    Example:
        >>> o = option(np.array([0] * 60 + [9, -9, 9, 0], np.int8))
        >>> o.encoding, o.fields["symbols"], o.decode()[60:].tolist()
        ('huffman', 3, [9, -9, 9, 0])
    """
    p = plan(array)
    if p is None:
        return None
    enc, anc = encode(array, p)
    return Option("huffman", enc, anc, lambda: decode(enc, anc, array.shape),
                  {"symbols": p["symbols"], "bits_per_element": round(p["bits"] / array.size, 3),
                   "table_entries": len(p["table"]), "initial_bits": p["initial_bits"]})


def huffman_encode(model_bytes: bytes, *, min_saving_bytes: int = DEFAULT_MIN_SAVING,
                   max_decoded_bytes: int | None = None,
                   allow_uncompressed: bool = False) -> tuple:
    """Huffman-encode every int8 constant tensor of a .tflite model where it saves bytes.

    One canonical Huffman code per tensor over its int8 values (at least 1 bit per element);
    it pays when few values are frequent: zeros after pruning, clustered values. Each
    encoding is decoded again in numpy by walking the tables as TFLM's
    ``DecodeStateHuffman`` does; run the file in TFLM to check it end to end
    (:func:`tfprune.export.micro` with ``compress="huffman"`` does).

    Args:
        model_bytes: a full-int8 .tflite flatbuffer.
        min_saving_bytes, max_decoded_bytes, allow_uncompressed: as in
            :func:`tfprune.export.compress.prune_encode`.

    Returns:
        ``(bytes, report)`` as ``prune_encode``; each row of ``report["tensors"]`` has
        ``encoding`` ("huffman"), ``flash_bytes``, ``decoded_bytes``, ``symbols`` (distinct
        values), ``bits_per_element``, ``table_entries`` (2 bytes each), ``initial_bits``.

    Raises:
        tfprune.errors.ExportError: no tensor saves ``min_saving_bytes`` (unless
            ``allow_uncompressed``).

    Example:
        >>> from tfprune.compat import keras
        >>> from tfprune.export import tflite_bytes
        >>> m = keras.Sequential([keras.layers.Dense(64, input_shape=(64,))])
        >>> w, b = m.get_weights(); w[np.abs(w) < np.quantile(np.abs(w), 0.9)] = 0
        >>> m.set_weights([w, b])
        >>> x = np.random.default_rng(0).random((20, 64)).astype("float32")
        >>> dense = tflite_bytes(m, quantize="int8", data=x, int8_io=True)
        >>> small, report = huffman_encode(dense)
        >>> row = report["tensors"][0]
        >>> len(small) < len(dense), row["encoding"], row["flash_bytes"] < row["dense_bytes"] / 3
        (True, 'huffman', True)
    """
    small, report = encode_model(model_bytes, [option], min_saving_bytes=min_saving_bytes,
                                 max_decoded_bytes=max_decoded_bytes, label="huffman")
    if report["encoded"] or allow_uncompressed:
        return small, report
    detail = "; ".join(f"{k}: {v}" for k, v in list(report["skipped"].items())[:6])
    raise errors.ExportError(
        f"No tensor saves flash with the 'huffman' encoding ({detail or 'no int8 weights'}): "
        "a Huffman code needs a few frequent values. Prune (tfprune.prune) and/or cluster "
        "(tfprune.export.cluster) the weights, lower min_saving_bytes, or pass "
        "allow_uncompressed=True to keep the dense model.")
