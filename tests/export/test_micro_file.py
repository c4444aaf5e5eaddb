import re

import numpy as np
import pytest

from tfprune import export
from tfprune.export import _inspect, _litert, _tflm

pytestmark = pytest.mark.slow  # conversion plus several TFLM child processes


@pytest.fixture(scope="module")
def micro_rec(tmp_path_factory, digits_cnn, digits_data):
    (xtr, _), _ = digits_data
    out = tmp_path_factory.mktemp("micro")
    return export.micro(digits_cnn, out, representative_data=xtr, name="digits")


def _array_bytes(source: str) -> bytes:
    body = source[source.index("{") + 1 : source.index("};")]
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body))


def test_micro_writes_the_four_files(micro_rec):
    names = sorted(p.rsplit("/", 1)[-1] for p in micro_rec.files.values())
    assert names == ["digits_data.cc", "digits_data.h", "digits_ops.h", "model.tflite"]


def test_c_array_holds_exactly_the_model_bytes(micro_rec):
    content = open(micro_rec.files["tflite"], "rb").read()
    source = open(micro_rec.files["source"]).read()
    header = open(micro_rec.files["header"]).read()
    assert _array_bytes(source) == content
    assert "alignas(16) const unsigned char digits_data[]" in source
    assert f"const unsigned int digits_data_len = {len(content)};" in source
    assert "extern const unsigned char digits_data[];" in header
    assert "extern const unsigned int digits_data_len;" in header
    assert micro_rec.flash_bytes == len(content)


def test_ops_header_registers_every_op_once(micro_rec):
    text = open(micro_rec.files["ops"]).read()
    assert set(micro_rec.ops) == {"CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED"}
    for call in ("AddConv2D", "AddMaxPool2D", "AddReshape", "AddFullyConnected"):
        assert text.count(f"r.{call}()") == 1
    assert f"OpCount = {len(micro_rec.ops)};" in text


def test_micro_file_is_dense_full_int8_with_int8_interface(micro_rec):
    summary = _inspect.summarize(open(micro_rec.files["tflite"], "rb").read())
    assert summary.modes == (1003,) and not summary.is_sparse
    assert (summary.input_dtype, summary.output_dtype) == ("int8", "int8")


def test_pruned_model_still_exports_dense(tmp_path, sparse_mlp):
    x = np.random.default_rng(0).random((64, 64)).astype("float32")
    rec = export.micro(sparse_mlp, tmp_path, representative_data=x)
    summary = _inspect.summarize(open(rec.files["tflite"], "rb").read())
    assert not _inspect.SPARSITY_MODES.intersection(summary.modes)
    assert "DENSIFY" not in summary.ops and summary.sparse_tensors == ()


def test_tflm_output_matches_litert_int8_output(micro_rec):
    agree = micro_rec.tflm_vs_litert
    assert agree["max_step_diff"] <= 1
    assert agree["exact_fraction"] >= 0.95
    assert agree["top1_agreement"] >= 0.99


def test_tflm_agrees_with_keras_top1(micro_rec):
    assert micro_rec.vs_keras["top1_agreement"] >= 0.95


def _codes(content, x):
    it, _, _ = _litert.interpreter(content)
    d = it.get_input_details()[0]
    return _litert.quantize(x, *d["quantization"], d["dtype"])


def test_measured_arena_runs_and_a_smaller_one_fails(micro_rec, digits_data):
    (xtr, _), _ = digits_data
    content = open(micro_rec.files["tflite"], "rb").read()
    codes = _codes(content, xtr[:4])
    ok = _tflm.run(content, codes, arena=micro_rec.arena_bytes)
    assert ok["ok"], ok.get("log")
    small = _tflm.run(content, codes, arena=micro_rec.arena_bytes - 64)
    assert not small["ok"]
    assert micro_rec.arena_reported_bytes <= micro_rec.arena_bytes < micro_rec.arena_reported_bytes * 2


def test_micro_accepts_its_own_dense_int8_file(tmp_path, micro_rec):
    rec = export.micro(micro_rec.files["tflite"], tmp_path, representative_data=None, name="m2")
    assert rec.arena_bytes == micro_rec.arena_bytes
    assert rec.flash_bytes == micro_rec.flash_bytes and rec.vs_keras is None
