"""tfprune.graph.rules: the registry of channel rules (register_rule, exclude, refusals)."""

import pytest

from tfprune import errors, graph
from tfprune.compat import keras

L = keras.layers


class _Mystery(L.Layer):
    def call(self, x):
        return x[..., ::-1]


def _mystery_model():
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 1, name="a")(i)
    m = _Mystery(name="mystery")(a)
    return keras.Model(i, L.Conv2D(2, 1, name="head")(m))


def test_unknown_layer_is_refused_with_name_class_and_fix():
    with pytest.raises(
        errors.UnsupportedLayerError,
        match=r"'mystery' \(_Mystery\).*exclude=.*register_rule\(_Mystery",
    ):
        graph.build(_mystery_model())


def test_excluded_unknown_layer_keeps_its_channels():
    g = graph.build(_mystery_model(), exclude=["mystery"])
    assert not g["a"].prunable and "mystery" in g["a"].pinned_by[0]


def test_register_rule_makes_a_layer_known():
    class Twice(L.Layer):
        def call(self, x):
            return 2.0 * x

    i = keras.Input((4,))
    out = L.Dense(2, name="head")(Twice(name="t")(L.Dense(4, name="a")(i)))
    graph.register_rule(Twice, graph.passthrough)
    g = graph.build(keras.Model(i, out))
    assert g["a"].prunable and "t" in g["a"].layers()


def test_register_rule_rejects_non_layer_classes():
    with pytest.raises(errors.ConfigError, match="not a tf_keras layer class"):
        graph.register_rule(int, graph.passthrough)


def test_exclude_keeps_a_known_layers_output_channels():
    i = keras.Input((4,))
    h = L.Dense(6, name="h")(i)
    g = L.Dense(5, name="g")(h)
    m = keras.Model(i, L.Dense(2, name="head")(g))
    gr = graph.build(m, exclude=["h"])
    assert not gr["h"].prunable and gr["g"].prunable

