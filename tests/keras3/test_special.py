"""Keras 3 layers whose translation needs more than renamed config keys (issue 27, item 4):
Bidirectional(LSTM), Lambda, Resizing, TextVectorization -- prune -> strip back to Keras 3."""

import keras as keras3
import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import compat, errors

from ._models import rel_err

L = keras3.layers


def _round_trip(m, x):
    p = tfprune.one_shot(m, 0.5)
    s = tfprune.strip(p)
    assert compat.is_keras3_object(s)
    assert [type(la).__name__ for la in s.layers] == [type(la).__name__ for la in m.layers]
    assert rel_err(s(x), p(x)) < 1e-5
    return s


@pytest.mark.slow  # LSTM tracing: ~10 s alone, 35 s on the shared machine
def test_bidirectional_lstm_strips_back_to_keras3():
    m = keras3.Sequential([keras3.Input((5, 3)), L.Bidirectional(L.LSTM(4), name="bi"),
                           L.Dense(2, name="d")])
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    s = _round_trip(m, x)
    assert s.get_layer("bi").forward_layer.units == 4
    assert rel_err(compat.to_tf_keras(m)(x), m(x)) < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("fn", [lambda t: t * 2.0 + 1.0, tf.nn.relu,
                                lambda t: keras3.ops.tanh(t)])
def test_lambda_with_a_tensor_function_round_trips(fn):
    m = keras3.Sequential([keras3.Input((4,)), L.Lambda(fn, name="lam"), L.Dense(3, name="d")])
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    assert rel_err(compat.to_tf_keras(m)(x), m(x)) < 1e-6
    s = _round_trip(m, x)
    assert rel_err(s.get_layer("lam")(x), fn(tf.constant(x))) < 1e-6  # the same function


def test_lambda_that_cannot_run_in_tf_keras_is_refused_by_name():
    state = {"keras3_only": False}

    def fn(t):
        if state["keras3_only"]:
            raise RuntimeError("needs a Keras 3 tensor")
        return t

    m = keras3.Sequential([keras3.Input((4,)), L.Lambda(fn, name="lam"), L.Dense(3)])
    state["keras3_only"] = True
    with pytest.raises(errors.UnsupportedLayerError, match="(?s)'lam'.*needs a Keras 3 tensor.*plain tensor function"):
        tfprune.prune(m, sparsity=0.5)


@pytest.mark.slow
def test_resizing_round_trips_and_channels_first_is_refused():
    m = keras3.Sequential([keras3.Input((8, 8, 3)), L.Resizing(4, 4, name="rs"),
                           L.Conv2D(4, 3, name="c"), L.Flatten(), L.Dense(2, name="d")])
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    _round_trip(m, x)
    bad = keras3.Sequential([keras3.Input((8, 8, 3)),
                             L.Resizing(4, 4, antialias=True, name="rs"), L.Flatten(),
                             L.Dense(2)])
    with pytest.raises(errors.UnsupportedLayerError, match="'rs'.*antialias=True"):
        compat.to_tf_keras(bad)


@pytest.mark.slow
def test_text_vectorization_keeps_its_vocabulary():
    tv = L.TextVectorization(max_tokens=20, output_sequence_length=4, name="tv")
    tv.adapt(["the cat sat", "the dog ran", "a cat ran"])
    m = keras3.Sequential([keras3.Input((1,), dtype="string"), tv,
                           L.Embedding(20, 4, name="emb"), L.Flatten(), L.Dense(2, name="d")])
    x = np.array([["the cat ran"], ["a dog sat"], ["zebra"]])
    assert rel_err(compat.to_tf_keras(m)(x), m(x)) < 1e-6
    s = _round_trip(m, x)
    assert s.get_layer("tv").get_vocabulary() == tv.get_vocabulary()


@pytest.mark.slow
def test_separable_conv_goes_back_to_keras3():
    # tf_keras SeparableConv2D carries its base class's unused kernel_initializer; Keras 3's
    # does not take it (NASNetMobile's strip was refused on it)
    m = keras3.Sequential([keras3.Input((16, 16, 3)), L.SeparableConv2D(8, 3, name="sep"),
                           L.GlobalAveragePooling2D(), L.Dense(3)])
    s = _round_trip(m, np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32))
    assert isinstance(s.get_layer("sep"), L.SeparableConv2D)
