"""tfprune.graph.layer_rules: the built-in channel rules, one test per channel pattern."""

import numpy as np
import pytest

from tfprune import errors, graph
from tfprune.compat import keras

L = keras.layers


def _members(g, path):
    return [m for m in g.members if m.path == path]


class _Mystery(L.Layer):
    def call(self, x):
        return x[..., ::-1]


def test_chain_conv_bn_relu_forms_one_group_per_conv():
    i = keras.Input((8, 8, 3))
    x = L.Conv2D(6, 3, name="c1")(i)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(name="relu")(x)
    out = L.Conv2D(2, 1, name="head")(x)
    g = graph.build(keras.Model(i, out))
    assert [x.name for x in g.prunable()] == ["c1"]
    assert g["c1"].layers() == ["c1", "bn", "relu", "head"]
    assert g["c1"].channels == 6


def test_residual_add_ties_both_producers():
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 3, padding="same", name="a")(i)
    b = L.Conv2D(4, 3, padding="same", name="b")(a)
    s = L.Add(name="add")([a, b])
    out = L.Conv2D(2, 1, name="head")(s)
    g = graph.build(keras.Model(i, out))
    grp = g.group_of("b")
    assert grp is g["a"]
    assert {"a", "b", "add", "head"} <= set(grp.layers())
    assert grp.channels == 4 and grp.prunable


def test_concatenate_places_inputs_at_offsets():
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 1, name="a")(i)
    b = L.Conv2D(6, 1, name="b")(i)
    c = L.Concatenate(name="cat")([a, b])
    out = L.Conv2D(2, 1, name="head")(c)
    g = graph.build(keras.Model(i, out))
    head_a = [m for m in _members(g["a"], "head") if m.how.startswith("consumes")][0]
    head_b = [m for m in _members(g["b"], "head") if m.how.startswith("consumes")][0]
    np.testing.assert_array_equal(head_a.positions, [0, 1, 2, 3] + [-1] * 6)
    np.testing.assert_array_equal(head_b.positions, [-1] * 4 + list(range(6)))
    assert "positions 4..9 of 10" in str(g["b"])


def test_depthwise_multiplier_repeats_each_channel():
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(3, 1, name="a")(i)
    d = L.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(a)
    out = L.Conv2D(2, 1, name="head")(d)
    g = graph.build(keras.Model(i, out))
    grp = g["a"]
    assert grp.channels == 3 and "dw" in grp.layers()
    head = [m for m in _members(grp, "head") if m.how.startswith("consumes")][0]
    np.testing.assert_array_equal(head.positions, [0, 0, 1, 1, 2, 2])


def test_flatten_maps_channel_to_its_positions_in_dense():
    i = keras.Input((3, 3, 3))
    a = L.Conv2D(4, 2, name="a")(i)  # 2x2x4
    f = L.Flatten(name="flat")(a)
    out = L.Dense(2, name="head")(f)
    g = graph.build(keras.Model(i, out))
    head = [m for m in _members(g["a"], "head") if m.how.startswith("consumes")][0]
    np.testing.assert_array_equal(head.positions, np.tile(np.arange(4), 4))
    assert "4 positions per channel" in str(g["a"])


def test_squeeze_excitation_ties_excitation_to_features():
    i = keras.Input((8, 8, 3))
    x = L.Conv2D(8, 3, padding="same", name="feat")(i)
    s = L.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    s = L.Conv2D(2, 1, activation="relu", name="squeeze")(s)
    e = L.Conv2D(8, 1, activation="sigmoid", name="excite")(s)
    y = L.Multiply(name="scale")([x, e])
    out = L.Conv2D(2, 1, name="head")(y)
    g = graph.build(keras.Model(i, out))
    assert g.group_of("excite") is g["feat"]
    assert {"gap", "squeeze", "scale"} <= set(g["feat"].layers())
    assert g["squeeze"].channels == 2 and g["squeeze"].prunable


def test_separable_conv_consumes_and_produces():
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 1, name="a")(i)
    s = L.SeparableConv2D(5, 3, depth_multiplier=2, name="sep")(a)
    out = L.Conv2D(2, 1, name="head")(s)
    g = graph.build(keras.Model(i, out))
    assert "sep" in g["a"].layers()
    assert g["sep"].channels == 5 and g["sep"].prunable


def test_layer_normalization_over_channels_pins_the_group():
    i = keras.Input((8, 6))
    a = L.Dense(8, name="a")(i)
    n = L.LayerNormalization(name="ln")(a)
    out = L.Dense(2, name="head")(n)
    g = graph.build(keras.Model(i, out))
    assert not g["a"].prunable
    assert "normalizes across channels" in g["a"].pinned_by[0]


def test_tfoplambda_elementwise_ops_pass_channels():
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 1, name="a")(i)
    hs = a * L.ReLU(6.0, name="r6")(a + 3.0) * (1.0 / 6.0)  # hard-swish
    out = L.Conv2D(2, 1, name="head")(hs)
    g = graph.build(keras.Model(i, out))
    assert g["a"].prunable and "head" in g["a"].layers()
    assert any("TFOpLambda" == m.class_name for m in g["a"].members)


def test_channels_first_layer_is_refused():
    i = keras.Input((3, 8, 8))
    out = L.Conv2D(2, 1, data_format="channels_first", name="cf")(i)
    with pytest.raises(errors.UnsupportedLayerError, match="channels_first"):
        graph.build(keras.Model(i, out))

