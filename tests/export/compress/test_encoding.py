"""tfprune/export/compress/encoding.py: the shared DECODE encoding step's pure parts: flash
bytes and overhead arithmetic, quantization reading, argument checks naming the argument,
and the per-tensor choice (smallest option that pays, decoded again and compared)."""

from types import SimpleNamespace

import numpy as np
import pytest

from tfprune import errors
from tfprune.export.compress.encoding import (
    OVERHEAD,
    Constant,
    Option,
    _choose,
    overhead,
    pad16,
    quantization,
    read_checked,
    tensor_name,
)


def test_pad16_rounds_up_to_the_flatbuffer_alignment():
    assert [pad16(n) for n in (0, 1, 15, 16, 17, 32, 33)] == [0, 16, 16, 16, 32, 32, 48]


def test_option_flash_bytes_pad_encoded_and_ancillary_separately():
    assert Option("x", b"a" * 17, b"", lambda: None).flash_bytes == 32
    assert Option("x", b"a" * 16, b"b", lambda: None).flash_bytes == 32


def test_overhead_adds_names_and_one_decode_per_extra_consumer():
    assert overhead("w", 1, 8, True) == OVERHEAD + 2
    # a second consumer: 128 + its name + 12 bytes of quantization per channel
    assert overhead("ww", 2, 8, True) == OVERHEAD + 4 + 128 + 2 + 96
    assert overhead("ww", 2, 8, False) == OVERHEAD + 4 + 128 + 2


def test_quantization_reads_scalar_and_per_channel_parameters():
    per_channel = SimpleNamespace(quantization=SimpleNamespace(
        scales=[0.1, 0.2, 0.3], zero_points=[0, 0, 1], axis=0))
    assert quantization(per_channel) == ([0, 0, 1], 0, 3)
    scalar = SimpleNamespace(quantization=SimpleNamespace(scales=0.5, zero_points=-3, axis=None))
    assert quantization(scalar) == ([-3], 0, 1)
    assert quantization(SimpleNamespace(quantization=None)) == (None, 0, 1)


def test_tensor_names_default_to_a_question_mark():
    assert tensor_name(SimpleNamespace(name="")) == "?"
    c = Constant(0, 3, SimpleNamespace(name="dense/w"), None, 1, None, 0, 1)
    assert c.name == "dense/w"


def test_read_checked_refuses_bad_arguments_naming_them():
    with pytest.raises(errors.ExportError, match=r"lut\(\) takes the bytes of a .tflite file"):
        read_checked("model.tflite", None, min_saving_bytes=0, max_decoded_bytes=None,
                     label="lut")
    content = b"\x00" * 16
    with pytest.raises(errors.ConfigError, match=r"`min_saving_bytes` must be an int, got True"):
        read_checked(content, None, min_saving_bytes=True, max_decoded_bytes=None, label="f")
    for bad in (0, 1.5, False):
        with pytest.raises(errors.ConfigError, match="`max_decoded_bytes` must be a positive"):
            read_checked(content, None, min_saving_bytes=0, max_decoded_bytes=bad, label="f")


def test_read_checked_turns_reader_failures_into_export_errors():
    def broken(_):
        raise IndexError("offset out of range")

    with pytest.raises(errors.ExportError, match=r"not a readable .tflite model \(offset out"):
        read_checked(b"\x00" * 16, SimpleNamespace(read=broken), min_saving_bytes=0,
                     max_decoded_bytes=None, label="f")
    editor = SimpleNamespace(read=lambda b: ("read", len(b)))
    assert read_checked(bytearray(16), editor, min_saving_bytes=0, max_decoded_bytes=10,
                        label="f") == ("read", 16)


def _constant(array, name="w"):
    return Constant(0, 1, SimpleNamespace(array=array, name=name), None, 1, None, 0, 1)


def _maker(encoding, size, decoded=None):
    def make(array, zero_points, axis, channels):
        return Option(encoding, b"e" * size, b"", lambda: array if decoded is None else decoded)
    return make


def test_choose_keeps_the_smallest_option_that_pays():
    array = np.zeros(2048, np.int8)
    option, row = _choose(_constant(array), [_maker("big", 900), _maker("small", 100)],
                          min_saving_bytes=64, max_decoded_bytes=None)
    assert option.encoding == "small"
    assert row["flash_bytes"] == 112 and row["dense_bytes"] == 2048
    assert row["saved_bytes"] == 2048 - 112 - overhead("w", 1, 1, False)


def test_choose_says_why_it_declines():
    array = np.zeros(512, np.int8)
    none, why = _choose(_constant(array), [_maker("lut", 300)], min_saving_bytes=64,
                        max_decoded_bytes=None)
    assert none is None and why.startswith("best encoding (lut, 304 B) saves -50 B")
    assert _choose(_constant(array), [_maker("lut", 16)], min_saving_bytes=0,
                   max_decoded_bytes=100) == (None, "512 B decoded > max_decoded_bytes=100")
    assert _choose(_constant(array), [lambda *a: None], min_saving_bytes=0,
                   max_decoded_bytes=None) == (None, None)


def test_choose_refuses_an_option_that_does_not_round_trip():
    array = np.zeros(2048, np.int8)
    with pytest.raises(AssertionError, match="'w' does not round-trip"):
        _choose(_constant(array), [_maker("bad", 16, decoded=np.ones(2048, np.int8))],
                min_saving_bytes=0, max_decoded_bytes=None)
