import numpy as np
import pytest

import tfprune
from tfprune.compat import keras

L = keras.layers


def macs_of(model):
    return {r["name"]: r["macs"] for r in tfprune.summary(model, print_fn=None)["layers"]}


def test_summary_mac_rules_by_hand():
    inp = keras.Input((10, 10, 4))
    a = L.Conv2D(6, 3, name="conv")(inp)                                    # out 8x8x6
    b = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(a)  # 8x8x12
    c = L.SeparableConv2D(5, 3, name="sep")(b)                              # 6x6x5
    d = L.Conv2DTranspose(3, 2, strides=2, name="tconv")(c)                 # 12x12x3
    e = L.Conv1D(4, 3, name="c1d")(L.Reshape((144, 3))(d))                  # 142x4
    f = L.Dense(7, name="dense_seq")(e)                                     # applied per position
    g = L.Dense(2, name="head")(L.Flatten()(f))
    m = keras.Model(inp, g)
    macs = macs_of(m)
    assert macs["conv"] == 8 * 8 * 6 * 3 * 3 * 4
    assert macs["dw"] == 8 * 8 * 6 * 2 * 3 * 3
    assert macs["sep"] == 6 * 6 * 12 * 3 * 3 + 6 * 6 * 12 * 5
    assert macs["tconv"] == 6 * 6 * 2 * 2 * 5 * 3
    assert macs["c1d"] == 142 * 4 * 3 * 3
    assert macs["dense_seq"] == 142 * 4 * 7
    assert macs["head"] == 142 * 7 * 2
    s = tfprune.summary(m, print_fn=None)
    assert s["macs"] == sum(macs.values())
    assert s["params"] == m.count_params()
    assert s["weight_bytes"] == 4 * m.count_params()


def test_summary_counts_masked_zeros_through_wrappers_and_prints_a_table():
    m = keras.Sequential([keras.Input((10,)), L.Dense(10, use_bias=False, name="d")])
    p = tfprune.prune(m, sparsity=0.3)  # masks not applied yet: all ones
    lines = []
    s0 = tfprune.summary(p, print_fn=lines.append)
    assert s0["nonzero_params"] == 100 and "total" in lines[0]
    p1 = tfprune.one_shot(m, 0.3)
    s1 = tfprune.summary(p1, print_fn=None)
    assert s1["params"] == 100            # masks/thresholds/step are not parameters
    assert s1["nonzero_params"] == 70
    assert s1["sparse_macs"] == 70 and s1["macs"] == 100
    assert s1["layers"][0]["name"] == "d"


def test_summary_matches_on_pruned_and_stripped_models(small_cnn):
    p = tfprune.one_shot(small_cnn, 0.5)
    a = tfprune.summary(p, print_fn=None)
    b = tfprune.summary(tfprune.strip(p), print_fn=None)
    for key in ("params", "nonzero_params", "macs", "sparse_macs", "weight_bytes"):
        assert a[key] == b[key], key


def test_summary_recurses_into_nested_models():
    inner = keras.Sequential([keras.Input((3,)), L.Dense(4, name="inner_d")], name="inner")
    inp = keras.Input((3,))
    m = keras.Model(inp, L.Dense(2, name="outer_d")(inner(inp)))
    macs = macs_of(m)
    assert macs == {"inner_d": 12, "outer_d": 8}


def test_summary_weight_bytes_follow_dtype():
    m = keras.Sequential([keras.Input((4,)), L.Dense(4, dtype="float64", name="d")])
    assert tfprune.summary(m, print_fn=None)["weight_bytes"] == 8 * 20
    # zero-initialised biases are zeros too: 4 of 20 values
    assert np.isclose(tfprune.summary(m, print_fn=None)["sparsity"], 4 / 20)


@pytest.mark.parametrize("rows", [1, 3])
def test_summary_dense_on_sequences_counts_positions(rows):
    m = keras.Sequential([keras.Input((rows, 5)), L.Dense(2, name="d")])
    assert macs_of(m)["d"] == rows * 5 * 2
