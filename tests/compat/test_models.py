"""tfprune/compat/_models.py: the layer walk (nested models once each, breadth first) and the
weight copy by layer name that both translations share."""

import numpy as np
import pytest
import tf_keras

from tfprune import errors
from tfprune.compat._models import copy_weights, is_model, walk


def _nested(units=2):
    inner = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(units, name="a")],
                                name="inner")
    return tf_keras.Sequential([tf_keras.Input((3,)), inner, tf_keras.layers.Dense(1, name="b")])


def test_is_model_tells_nested_models_from_layers():
    m = _nested()
    assert is_model(m.layers[0]) and not is_model(m.layers[1])


def test_walk_yields_nested_layers_breadth_first_each_once():
    m = _nested()
    assert [layer.name for layer in walk(m)] == ["inner", "b", "a"]
    shared = tf_keras.layers.Dense(3, name="shared")
    i = tf_keras.Input((3,))
    twice = tf_keras.Model(i, shared(shared(i)))
    assert [layer.name for layer in walk(twice)].count("shared") == 1


def test_copy_weights_copies_nested_layers_by_name():
    src, dst = _nested(), _nested()
    copy_weights(src, dst, "src")
    for a, b in zip(src.get_weights(), dst.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_weights_that_do_not_fit_are_refused_naming_layer_and_model():
    with pytest.raises(errors.UnsupportedLayerError,
                       match=r"Layer 'a' \(Dense\) of 'src' holds weights of shapes "
                             r"\[\(3, 2\), \(2,\)\], but its translation expects \[\(3, 4\)"):
        copy_weights(_nested(2), _nested(4), "src")
