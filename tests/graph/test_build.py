"""tfprune.graph.build: the dependency graph of whole models (nesting, sharing, pins)."""

import pytest

from tfprune import errors, graph
from tfprune.compat import keras

L = keras.layers


def test_nested_model_is_followed_with_paths():
    inner_in = keras.Input((8, 8, 4))
    inner = keras.Model(
        inner_in, L.Conv2D(5, 1, name="ic")(L.ReLU(name="ir")(inner_in)), name="inner"
    )
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 1, name="a")(i)
    out = L.Conv2D(2, 1, name="head")(inner(a))
    g = graph.build(keras.Model(i, out))
    assert {"a", "inner/ir", "inner/ic"} <= set(g["a"].layers())
    assert g["inner/ic"].prunable and "head" in g["inner/ic"].layers()


def test_inputs_and_outputs_are_pinned_with_multiple_of_each():
    i1, i2 = keras.Input((4,), name="x1"), keras.Input((4,), name="x2")
    h = L.Dense(6, name="h")(L.Concatenate(name="cat")([i1, i2]))
    o1 = L.Dense(3, name="o1")(h)
    o2 = L.Add(name="o2")([L.Dense(4, name="d2")(h), i2])
    g = graph.build(keras.Model([i1, i2], [o1, o2]))
    assert g["h"].prunable
    assert not g["o1"].prunable and "model output 'o1'" in g["o1"].pinned_by[0]
    assert not g.group_of("d2").prunable  # tied to the input x2


def test_shared_layer_ties_the_inputs_of_every_call():
    i1, i2 = keras.Input((4,)), keras.Input((4,))
    a, b = L.Dense(5, name="a")(i1), L.Dense(5, name="b")(i2)
    shared = L.Dense(3, name="shared")
    out = L.Concatenate(name="cat")([shared(a), shared(b)])
    g = graph.build(keras.Model([i1, i2], out))
    assert g.group_of("b") is g.group_of("a")
    assert g.group_of("a").channels == 5


def test_group_print_shows_every_member_and_how_it_is_tied():
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 3, padding="same", name="a")(i)
    b = L.BatchNormalization(name="bn")(a)
    s = L.Add(name="add")([b, L.Conv2D(4, 1, name="b")(b)])
    out = L.Conv2D(2, 1, name="head")(s)
    text = str(graph.build(keras.Model(i, out))["a"])
    for needle in (
        "Group 'a': 4 channels, prunable",
        "a [Conv2D]",
        "produces channels",
        "bn [BatchNormalization]",
        "normalizes each channel (gamma, beta",
        "add [Add]",
        "ties its inputs",
        "head [Conv2D]",
        "consumes channels",
    ):
        assert needle in text


class _Mystery(L.Layer):
    def call(self, x):
        return x[..., ::-1]


def test_subclassed_model_is_refused():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(errors.ModelTypeError, match="subclassed"):
        graph.build(Sub())


def test_exclude_with_an_unknown_name_is_refused():
    i = keras.Input((4,))
    m = keras.Model(i, L.Dense(2, name="head")(L.Dense(6, name="hidden")(i)))
    with pytest.raises(errors.ConfigError, match="Did you mean 'hidden'"):
        graph.build(m, exclude=["hiden"])
