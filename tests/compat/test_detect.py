"""tfprune/compat/_detect.py: which Keras an object belongs to, read from its class' MRO."""

import keras as keras3
import tf_keras

from tfprune.compat._detect import is_keras3_object


def test_keras3_layers_and_models_are_detected():
    assert is_keras3_object(keras3.layers.Dense(2))
    assert is_keras3_object(keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)]))


def test_tf_keras_and_plain_objects_are_not():
    assert not is_keras3_object(tf_keras.layers.Dense(2))
    assert not is_keras3_object(tf_keras.Sequential([tf_keras.layers.Dense(2)]))
    assert not is_keras3_object(object())
    assert not is_keras3_object("keras")


def test_a_user_subclass_of_a_keras3_layer_is_keras3():
    class Mine(keras3.layers.Layer):
        pass

    assert Mine.__module__ != "keras" and is_keras3_object(Mine())


def test_a_user_module_merely_named_like_keras_is_not():
    Fake = type("Fake", (), {"__module__": "keras_extra.layers"})
    assert not is_keras3_object(Fake())
