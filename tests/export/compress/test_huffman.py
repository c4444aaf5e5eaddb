"""The TFLM DECODE Huffman encoding: format (against tflite-micro's own test vector), the
length limit, and bit-exact models in the real TFLM interpreter."""

import numpy as np
import pytest

from tfprune import errors
from tfprune.compat import keras
from tfprune.export import tflite_bytes
from tfprune.export.compress import check_option, encode, huffman, huffman_encode
from tfprune.export.compress.measure import compare_tflm

# tflite-micro tensorflow/lite/micro/kernels/decode_state_huffman_test.cc: the codeword map,
# the 16-bit table it expects for an initial table of 8 elements, the encoded bit string and
# the 64 decoded symbols
_UPSTREAM_CODES = {"m": "000", "a": "001", "j": "010", "o": "0110", "h": "0111", "d": "1000",
                   "i": "10010", "f": "10011", "c": "1010", "g": "101100", "l": "101101",
                   "k": "10111", "e": "1100", "b": "1101", "p": "1110", "n": "1111"}
_UPSTREAM_TABLE = [0x986D, 0x9861, 0x986A, 0x0005, 0x0806, 0x0809, 0x000E, 0x000F, 0x886F,
                   0x8868, 0x8864, 0x8864, 0x9069, 0x9066, 0x8863, 0x8863, 0x0002, 0x906B,
                   0x8867, 0x886C, 0x8865, 0x8862, 0x8870, 0x886E]
_UPSTREAM_ENCODED = bytes.fromhex("F00D79FC9C1A6E4C32AF29B35DF636025015" "8CA795DB29683FBAB7EDB119E2E0")
_UPSTREAM_TEXT = "nmmacnanefdacopjomeckifookhbdbdmjjdmjgojfecpbiibmanbbjbnlgjafejp"


def test_table_and_decoder_match_tflite_micro_test_vector():
    symbols = list(_UPSTREAM_CODES)
    codes = {s: (int(c, 2), len(c)) for s, c in enumerate(_UPSTREAM_CODES.values())}
    dcm = bytes([1, 1, 0, 0, 1, 2 << 4]) + bytes(10)
    # our decoder reads upstream's table as upstream's C++ test expects
    anc = dcm + np.asarray(_UPSTREAM_TABLE, "<u2").tobytes()
    out = huffman.decode(_UPSTREAM_ENCODED + bytes(4), anc, (64,))
    assert out.tobytes().decode() == _UPSTREAM_TEXT
    # our table for the same codes: the level-0 table and the first sub-tables are upstream's
    # (upstream splits the '101' sub-table 2 + 1 bits, we use one 3-bit table); same decoding
    table = huffman.build_table(codes, [ord(ch) for ch in symbols], 3)
    assert table[:5] == _UPSTREAM_TABLE[:5] and table[8:14] == _UPSTREAM_TABLE[8:14]
    anc = dcm + np.asarray(table, "<u2").tobytes()
    out = huffman.decode(_UPSTREAM_ENCODED + bytes(4), anc, (64,))
    assert out.tobytes().decode() == _UPSTREAM_TEXT


def test_roundtrip_lengths_limited_and_multilevel_tables():
    rng = np.random.default_rng(0)
    # a geometric spread over all 256 values: unlimited Huffman codes would exceed 15 bits
    p = 0.6 ** np.arange(256)
    a = rng.choice(np.arange(-128, 128), 20000, p=p / p.sum()).astype(np.int8)
    a[:256] = np.arange(-128, 128)  # every value at least once
    lengths = huffman.code_lengths(np.bincount(a.view(np.uint8), minlength=256))
    assert lengths.max() == huffman.MAX_CODE_BITS
    assert np.sum(2.0 ** -lengths[lengths > 0]) == 1.0  # a complete prefix code
    plan = huffman.plan(a)
    assert len(plan["table"]) > 2 ** plan["initial_bits"]  # has sub-tables
    enc, anc = huffman.encode(a, plan)
    assert anc[0] == huffman.HUFFMAN_TYPE and anc[1] == 1 and anc[4] == 1
    assert anc[5] == (plan["initial_bits"] - 1) << 4  # 16-bit elements
    assert len(enc) == 4 * (-(-plan["bits"] // 32) + 1)
    assert np.array_equal(huffman.decode(enc, anc, a.shape), a)
    for small in (np.zeros(7, np.int8), np.array([3, -3], np.int8)):
        assert np.array_equal(huffman.decode(*huffman.encode(small), small.shape), small)
    assert huffman.plan(np.zeros(4, np.int32)) is None


@pytest.fixture(scope="module")
def dense(sparse_clustered, int8):
    return int8(sparse_clustered())


@pytest.mark.slow
def test_huffman_model_is_bit_exact_in_tflm_and_smaller(dense):
    small, report = huffman_encode(dense, min_saving_bytes=0)
    rows = {r["name"]: r for r in report["tensors"]}
    assert {r["encoding"] for r in rows.values()} == {"huffman"}
    fc = next(r for n, r in rows.items() if "/fc/" in n)
    assert fc["decoded_bytes"] == 64 * 256 and fc["bits_per_element"] < 2.0
    assert fc["flash_bytes"] < 0.25 * fc["decoded_bytes"]
    assert report["compressed_bytes"] == len(small) < 0.5 * len(dense)
    codes = np.random.default_rng(2).integers(-128, 128, (12, 8, 8, 1)).astype(np.int8)
    res = compare_tflm(dense, small, codes, repeats=2)
    assert res["ok"], res
    assert res["bit_exact"] and res["samples"] == 12


def test_auto_prefers_huffman_on_sparse_clustered_weights(dense):
    # 90 % zeros + 8 values: the bitmask alone costs 1 bit per weight, Huffman about 0.6
    _, auto = encode(dense, "auto", min_saving_bytes=0)
    _, prune = encode(dense, "prune", min_saving_bytes=0)
    fc_auto = next(r for r in auto["tensors"] if "/fc/" in r["name"])
    fc_prune = next(r for r in prune["tensors"] if "/fc/" in r["name"])
    assert fc_auto["encoding"] == "huffman" and fc_auto["flash_bytes"] < fc_prune["flash_bytes"]


def test_huffman_refusals():
    check_option("huffman")
    m = keras.Sequential([keras.layers.Dense(8, input_shape=(8,))])
    tiny = tflite_bytes(m, quantize="int8", data=np.ones((4, 8), "float32"))
    with pytest.raises(errors.ExportError, match="'huffman' encoding.*cluster"):
        huffman_encode(tiny)
    same, report = huffman_encode(tiny, allow_uncompressed=True)
    assert same == tiny and report["encoded"] == 0
    with pytest.raises(errors.ConfigError, match="max_decoded_bytes"):
        huffman_encode(tiny, max_decoded_bytes=0)


@pytest.mark.slow
def test_micro_huffman_and_auto_with_arena_limit(sparse_clustered, tmp_path, data):
    from tfprune.export import micro

    model = sparse_clustered()
    rec = micro(model, tmp_path / "h", representative_data=data, compress="huffman")
    c = rec.compression
    assert c["bit_exact"] is True and c["encoded"] >= 1 and c["method"] == "huffman"
    assert rec.flash_bytes == len(open(rec.files["tflite"], "rb").read()) < c["dense_bytes"]
    assert "TFLM_DECODE" in rec.ops and rec.arena_bytes >= c["dense_arena_bytes"]
    auto = micro(model, tmp_path / "a", representative_data=data, compress="auto")
    assert auto.compression["bit_exact"] and auto.flash_bytes <= rec.flash_bytes + 64
    limit = auto.compression["dense_arena_bytes"] + 2000
    capped = micro(model, tmp_path / "c", representative_data=data, compress="auto",
                   arena=limit)
    assert capped.arena_bytes <= limit
    assert all(r["decoded_bytes"] <= 2000 for r in capped.compression["tensors"])


@pytest.mark.slow
def test_long_codes_and_sub_tables_decode_bit_exact_in_tflm(dense):
    # the fc kernel replaced by values spread geometrically over all 256 int8 values: codes
    # up to 15 bits, several table levels; TFLM must decode them like numpy does
    from tfprune.export.compress import encoding

    mods = encoding.tflm_modules()
    model = mods.model_editor.read(dense)
    fc = next(t for sg in model.subgraphs for t in sg.tensors
              if "/fc/" in encoding.tensor_name(t) and t.buffer is not None and t.buffer.data)
    rng = np.random.default_rng(0)
    p = 0.6 ** np.arange(256)
    values = rng.choice(np.arange(-128, 128), fc.array.size, p=p / p.sum()).astype(np.int8)
    values[:256] = np.arange(-128, 128)
    fc.buffer.data = values.tobytes()
    spread = encoding.align(bytes(model.build()), mods.aligner)
    plan = huffman.plan(values)
    assert plan["lengths"].max() == huffman.MAX_CODE_BITS
    small, report = huffman_encode(spread, min_saving_bytes=0)
    row = next(r for r in report["tensors"] if "/fc/" in r["name"])
    assert row["table_entries"] > 2 ** row["initial_bits"] and row["symbols"] == 256
    codes = np.random.default_rng(3).integers(-128, 128, (8, 8, 8, 1)).astype(np.int8)
    res = compare_tflm(spread, small, codes, repeats=1)
    assert res["ok"] and res["bit_exact"], res
