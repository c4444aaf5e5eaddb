"""The TFLM DECODE LUT encoding and "auto" (smallest per tensor); weight clustering: test_cluster.py."""

import numpy as np
import pytest

from tfprune import errors
from tfprune.export.compress import auto_encode, check_option, lut_encode, prune_encode
from tfprune.export.compress.lut import _lut_result, lut_decode, lut_plan
from tfprune.export.compress.measure import compare_tflm


@pytest.fixture(scope="module")
def codes():
    return np.random.default_rng(2).integers(-128, 128, (10, 8, 8, 1)).astype(np.int8)


def test_plan_and_decode_roundtrip_every_layout():
    rng = np.random.default_rng(0)
    # per-channel values (axis 0): each row its own 3 values -> 2 bits, one table per row
    rows = np.stack([rng.choice(rng.integers(-128, 128, 3), 40) for _ in range(6)]).astype(np.int8)
    p = lut_plan(rows)
    assert p["axis"] == 0 and p["bits"] == 2 and p["tables"] == 6
    # 1..7 bits: the fewest that hold the largest per-row table
    for k in (2, 5, 16, 100, 128):
        a = rng.choice(np.arange(-128, 128)[:k], (7, 3, 40)).astype(np.int8)
        plan = lut_plan(a)
        assert plan["axis"] == 0
        assert plan["bits"] == max(1, (max(len(np.unique(r)) for r in a) - 1).bit_length())
        enc, anc = _lut_result(a, plan)
        assert len(enc) == -(-a.size * plan["bits"] // 8)
        assert anc[0] == 0 and anc[1] == 1 and anc[5] == plan["bits"]  # DCM: LUT, v1, axis 0
        assert np.array_equal(lut_decode(enc, anc, a.shape), a)
    enc, anc = _lut_result(rows, p)
    assert np.array_equal(lut_decode(enc, anc, rows.shape), rows)
    wide = np.random.default_rng(3).integers(-128, 128, (300, 300)).astype(np.int8)
    assert lut_plan(wide) is None  # > 128 values in every table layout
    assert lut_plan(np.zeros(4, np.int32)) is None


@pytest.mark.slow
def test_lut_model_is_bit_exact_in_tflm_and_smaller(small_cnn, int8, codes):
    dense = int8(small_cnn(levels=8))
    small, report = lut_encode(dense, min_saving_bytes=0)
    rows = {r["name"]: r for r in report["tensors"]}
    assert {r["encoding"] for r in rows.values()} == {"lut"}
    fc = next(r for n, r in rows.items() if "/fc/" in n)
    assert fc["bits"] <= 3 and fc["decoded_bytes"] == 48 * 384
    assert fc["flash_bytes"] < 0.45 * fc["decoded_bytes"]
    assert report["compressed_bytes"] == len(small) < 0.6 * len(dense)
    res = compare_tflm(dense, small, codes, repeats=2)
    assert res["ok"], res
    assert res["bit_exact"] and res["samples"] == 10


@pytest.mark.slow
def test_lut_refuses_many_values_unless_allowed(small_cnn, int8):
    dense = int8(small_cnn())
    with pytest.raises(errors.ExportError, match="Cluster the weights"):
        lut_encode(dense)
    same, report = lut_encode(dense, allow_uncompressed=True)
    assert same == dense and report["encoded"] == 0


@pytest.mark.slow
def test_auto_takes_the_smaller_encoding_per_tensor(small_cnn, codes, int8):
    # 92% zeros, the rest on 16 values; an unpruned clustered model: auto is never larger
    # than any encoder alone, and per tensor it keeps the smallest of the three options
    from tfprune.export.compress import _encode, encoding, huffman, huffman_encode, lut

    sparse = int8(small_cnn(levels=16, sparsity=0.92))
    mixed = int8(small_cnn(levels=8))
    for content in (sparse, mixed):
        auto, rep = auto_encode(content, min_saving_bytes=0)
        for single in (lut_encode, prune_encode, huffman_encode):
            try:
                alone = single(content, min_saving_bytes=0)[0]
            except errors.ExportError:
                alone = content
            assert len(auto) <= len(alone) + 64, single.__name__
        model = encoding.tflm_modules().model_editor.read(content)
        arrays = {encoding.tensor_name(t): (t.array, *encoding.quantization(t))
                  for sg in model.subgraphs for t in sg.tensors
                  if t.buffer is not None and t.buffer.data}
        for r in rep["tensors"]:
            assert r["encoding"] in ("prune", "lut", "huffman")
            assert r["flash_bytes"] < r["decoded_bytes"]
            options = [make(*arrays[r["name"]]) for make in
                       (_encode.option, lut.option, huffman.option)]
            assert r["flash_bytes"] == min(o.flash_bytes for o in options if o is not None)
        res = compare_tflm(content, auto, codes, repeats=2)
        assert res["ok"] and res["bit_exact"], res
    _, rep_sparse = auto_encode(sparse, min_saving_bytes=0)
    fc_sparse = next(r for r in rep_sparse["tensors"] if "/fc/" in r["name"])
    assert fc_sparse["encoding"] in ("prune", "huffman")  # LUT needs >= 1 bit + tables
    # a decoded-size cap keeps the big tensor dense
    _, capped = auto_encode(mixed, min_saving_bytes=0, max_decoded_bytes=48 * 384 - 1)
    assert all("/fc/" not in r["name"] for r in capped["tensors"])
    assert "max_decoded_bytes" in next(v for k, v in capped["skipped"].items() if "/fc/" in k)


def test_check_option_takes_lut_and_auto():
    check_option("lut")
    check_option("auto")
    with pytest.raises(errors.ConfigError, match="'lut'.*'auto'"):
        check_option("gzip")


@pytest.mark.slow
def test_micro_lut_and_auto_with_an_arena_limit(small_cnn, tmp_path, data):
    from tfprune.export import cluster, micro

    model = cluster(small_cnn(sparsity=0.9), clusters=16)
    rec = micro(model, tmp_path / "a", representative_data=data, compress="auto")
    c = rec.compression
    assert c["bit_exact"] is True and c["encoded"] >= 2 and c["arena_limit"] is None
    assert {r["encoding"] for r in c["tensors"]} <= {"prune", "lut", "huffman"}
    assert all(r["flash_bytes"] < r["decoded_bytes"] for r in c["tensors"])
    assert rec.flash_bytes == len(open(rec.files["tflite"], "rb").read()) < c["dense_bytes"]
    assert "TFLM_DECODE" in rec.ops
    # an arena limit below the decoded fc kernel keeps that tensor dense, and the arena fits
    limit = c["dense_arena_bytes"] + 2000
    rec2 = micro(model, tmp_path / "b", representative_data=data, compress="auto", arena=limit)
    c2 = rec2.compression
    assert rec2.arena_bytes <= limit and c2["arena_limit"] == limit
    assert all(r["decoded_bytes"] <= 2000 for r in c2["tensors"])
    assert rec2.flash_bytes > rec.flash_bytes
    with pytest.raises(errors.ExportError, match="arena"):
        micro(model, tmp_path / "c", representative_data=data, compress="auto", arena=100)
    # lut alone: clustered without zeros -> every big kernel LUT-encoded
    rec3 = micro(cluster(small_cnn(), clusters=16), tmp_path / "d", representative_data=data,
                 compress="lut")
    assert rec3.compression["bit_exact"] and rec3.compression["encoded"] >= 2
    assert all(r["bits"] <= 4 for r in rec3.compression["tensors"])
