"""The TFLM DECODE prune encoding: layout, bit-exact TFLM runs, refusals."""

import numpy as np
import pytest

from tfprune import errors
from tfprune.export.compress import check_option, prune_encode
from tfprune.export.compress.measure import compare_tflm


@pytest.fixture(scope="module")
def dense_pruned(small_cnn, int8):
    return int8(small_cnn(sparsity=0.85))


@pytest.mark.slow
def test_pruned_conv_dense_is_bit_exact_in_tflm_and_smaller(dense_pruned):
    small, report = prune_encode(dense_pruned, min_saving_bytes=0)
    names = {r["name"] for r in report["tensors"]}
    assert any("fc" in n for n in names) and any("conv2" in n for n in names), report
    assert any(name.endswith("/conv/Conv2D") for name in report["skipped"]), report["skipped"]  # 144 B: overhead exceeds the saving
    assert len(small) < 0.6 * len(dense_pruned)
    assert report["compressed_bytes"] == len(small)
    codes = np.random.default_rng(2).integers(-128, 128, (12, 8, 8, 1)).astype(np.int8)
    res = compare_tflm(dense_pruned, small, codes, repeats=5)
    assert res["ok"], res
    assert res["bit_exact"] and res["outputs"] == 1 and res["samples"] == 12
    assert res["reported"]["compressed"] > 0 and res["overhead"] > 0


@pytest.mark.slow
def test_no_zeros_is_refused_unless_allowed(small_cnn, int8):
    dense = int8(small_cnn(sparsity=0.0))
    with pytest.raises(errors.ExportError, match="no zeros.*Prune the model first"):
        prune_encode(dense)
    same, report = prune_encode(dense, allow_uncompressed=True)
    assert same == dense and report["encoded"] == 0 and report["ratio"] == 1.0


def test_too_few_zeros_names_the_tensors(dense_pruned):
    with pytest.raises(errors.ExportError, match="min_saving_bytes"):
        prune_encode(dense_pruned, min_saving_bytes=10**7)


def test_unknown_compress_value_lists_valid_ones():
    with pytest.raises(errors.ConfigError, match="Valid: None, 'prune'"):
        check_option("gzip")
    with pytest.raises(errors.ConfigError):
        check_option(True)
    with pytest.raises(errors.ExportError, match="not a readable"):
        prune_encode(b"\x00" * 64)


def test_max_decoded_bytes_keeps_big_tensors_dense(dense_pruned):
    _, full = prune_encode(dense_pruned, min_saving_bytes=0)
    biggest = full["largest_decoded_bytes"]
    _, capped = prune_encode(dense_pruned, min_saving_bytes=0, max_decoded_bytes=biggest - 1)
    assert capped["encoded"] == full["encoded"] - 1
    assert capped["largest_decoded_bytes"] < biggest
    assert any("max_decoded_bytes" in why for why in capped["skipped"].values())
    with pytest.raises(errors.ConfigError, match="max_decoded_bytes"):
        prune_encode(dense_pruned, max_decoded_bytes=0)


@pytest.mark.slow
def test_micro_writes_the_verified_compressed_model(small_cnn, tmp_path, data):
    import os

    from tfprune.export import micro

    model = small_cnn(sparsity=0.85)
    rec = micro(model, tmp_path / "c", representative_data=data, compress="prune")
    c = rec.compression
    assert c["bit_exact"] is True and c["encoded"] >= 2 and c["samples"] > 0
    content = open(rec.files["tflite"], "rb").read()
    assert rec.flash_bytes == len(content) == c["compressed_bytes"] < 0.6 * c["dense_bytes"]
    assert "TFLM_DECODE" in rec.ops
    assert "r.AddDecode()" in open(rec.files["ops"]).read()
    assert rec.arena_bytes >= c["dense_arena_bytes"]  # decoded weights live in the arena
    assert c["decode_overhead"] > 0
    # refusals come before any file is written
    with pytest.raises(errors.ConfigError, match="Valid: None, 'prune'"):
        micro(model, tmp_path / "z", representative_data=data, compress="zip")
    with pytest.raises(errors.ExportError, match="no zeros"):
        micro(small_cnn(sparsity=0.0), tmp_path / "n", representative_data=data, compress="prune")
    assert not os.path.exists(tmp_path / "z") or not os.listdir(tmp_path / "z")
    assert not os.path.exists(tmp_path / "n") or not os.listdir(tmp_path / "n")
