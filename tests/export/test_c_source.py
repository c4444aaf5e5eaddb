"""export/c_source.py: the C array, the op resolver header and the four files of
export.micro, written together or not at all."""

import os
import re

import pytest

from tfprune.export import c_source


def test_c_array_holds_every_byte_in_rows_of_twelve_and_its_length():
    content = bytes(range(30))
    source, header = c_source.c_array(content, "kws")
    rows = [ln for ln in source.splitlines() if ln.startswith("    0x")]
    assert [len(r.split(",")) - 1 for r in rows] == [12, 12, 6]
    values = [int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", source)]
    assert bytes(values) == content
    assert "alignas(16) const unsigned char kws_data[]" in source
    assert "const unsigned int kws_data_len = 30;" in source
    assert "#ifndef KWS_DATA_H_" in header and "extern const unsigned int kws_data_len;" in header


def test_resolver_header_adds_each_op_once_under_its_tflm_name():
    text = c_source.resolver_header(["CONV_2D", "DEPTHWISE_CONV_2D", "TFLM_DECODE",
                                     "UNIDIRECTIONAL_SEQUENCE_LSTM", "FULLY_CONNECTED"], "my_net")
    adds = re.findall(r"r\.(Add\w+)\(\)", text)
    assert adds == ["AddConv2D", "AddDepthwiseConv2D", "AddDecode",
                    "AddUnidirectionalSequenceLSTM", "AddFullyConnected"]
    assert "constexpr int kMyNetOpCount = 5;" in text
    assert "MicroMutableOpResolver<kMyNetOpCount>" in text


def test_write_leaves_no_file_when_one_cannot_be_written(tmp_path, monkeypatch):
    files = c_source.filenames("m")
    real = c_source.atomic.write_bytes

    def fail_on_header(path, data):
        if path.endswith("_data.h"):
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(c_source.atomic, "write_bytes", fail_on_header)
    with pytest.raises(OSError, match="disk full"):
        c_source.write(tmp_path, files, b"\x01", "m", ["ADD"])
    assert os.listdir(tmp_path) == []
    monkeypatch.setattr(c_source.atomic, "write_bytes", real)
    written = c_source.write(tmp_path, files, b"\x01", "m", ["ADD"])
    assert open(written["tflite"], "rb").read() == b"\x01"
    assert sorted(os.listdir(tmp_path)) == sorted(files.values())
