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


@pytest.mark.slow
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


@pytest.mark.slow
def test_summary_counts_recurrent_layers_by_the_documented_rule():
    inp = keras.Input((7, 5))                       # 7 timesteps, 5 features
    a = L.LSTM(4, return_sequences=True, name="lstm")(inp)
    b = L.GRU(3, return_sequences=True, name="gru")(a)
    c = L.SimpleRNN(2, name="rnn")(b)
    m = keras.Model(inp, c)
    macs = macs_of(m)
    assert macs["lstm"] == 7 * 4 * (5 + 4) * 4      # timesteps * gates * (input + units) * units
    assert macs["gru"] == 7 * 3 * (4 + 3) * 3
    assert macs["rnn"] == 7 * 1 * (3 + 2) * 2


def test_summary_counts_multi_head_attention_projections_and_matmuls():
    q = keras.Input((6, 8))
    v = keras.Input((5, 4))
    out = L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(q, v)
    m = keras.Model([q, v], out)
    h, dk, tq, tk = 2, 3, 6, 5
    expected = (tq * 8 * h * dk + tk * 4 * h * dk + tk * 4 * h * dk   # q, k, v projections
                + tq * tk * h * (dk + dk)                              # scores and context
                + tq * h * dk * 8)                                     # output projection
    assert macs_of(m)["mha"] == expected


def test_summary_channels_first_convolution_uses_the_spatial_axes():
    inp = keras.Input((4, 10, 10))
    out = L.Conv2D(8, 3, data_format="channels_first", name="cf")(inp)   # 8 x 8 x 8
    m = keras.Model(inp, out)
    assert macs_of(m)["cf"] == 8 * 8 * 8 * 3 * 3 * 4


class Scale(L.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1], input_shape[-1]))

    def call(self, x):
        return x @ self.w


def test_custom_layer_with_weights_is_not_counted_never_a_silent_zero():
    m = keras.Sequential([keras.Input((3,)), L.Dense(4, name="d"), Scale(name="custom")])
    lines = []
    s = tfprune.summary(m, print_fn=lines.append)
    rows = {r["name"]: r for r in s["layers"]}
    assert rows["custom"]["macs"] is None and not rows["custom"]["macs_counted"]
    assert s["not_counted"] == ["custom"] and s["macs"] == 12
    table = lines[0]
    assert "not counted" in table.splitlines()[3]
    assert "MACs exclude 1 layer(s) with no MAC rule (not counted): custom" in table


def test_summary_refuses_a_print_fn_that_is_not_callable():
    m = keras.Sequential([keras.Input((3,)), L.Dense(4)])
    with pytest.raises(tfprune.errors.ConfigError, match="print_fn.*function"):
        tfprune.summary(m, print_fn=3)
