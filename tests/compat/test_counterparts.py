"""tfprune/compat/_counterparts.py: which class a layer becomes in the other Keras, for
built-in layers (by class name), Keras applications' own layers and user-declared classes."""

import keras as keras3
import pytest
import tf_keras
from keras.src.applications import convnext as convnext3
from keras.src.applications import inception_resnet_v2 as irv2_3
from tf_keras.src.applications import convnext as convnext2
from tf_keras.src.applications import inception_resnet_v2 as irv2_2

from tfprune import errors
from tfprune.compat import _counterparts as cp


def test_built_in_layers_map_by_class_name_both_ways():
    assert cp.tf_keras_class(keras3.layers.Dense(2)) is tf_keras.layers.Dense
    assert cp.tf_keras_class(keras3.layers.Conv2D(2, 3)) is tf_keras.layers.Conv2D
    assert cp.keras3_class(tf_keras.layers.Dense(2)) is keras3.layers.Dense
    assert cp.keras3_class(tf_keras.layers.BatchNormalization()) is \
        keras3.layers.BatchNormalization


def test_models_map_to_tf_keras_models():
    seq = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
    assert cp.tf_keras_class(seq) is tf_keras.Sequential
    i = keras3.Input((3,))
    functional = keras3.Model(i, keras3.layers.Dense(2)(i))
    assert cp.tf_keras_class(functional).__name__ == "Functional"
    assert cp.tf_keras_class(functional).__module__.startswith("tf_keras")


@pytest.mark.parametrize("klass3, klass2, args", [
    (convnext3.LayerScale, convnext2.LayerScale, (1e-6, 4)),
    (irv2_3.CustomScaleLayer, irv2_2.CustomScaleLayer, (0.17,)),
    (convnext3.StochasticDepth, convnext2.StochasticDepth, (0.1,)),
])
def test_keras_applications_own_layers_map_both_ways(klass3, klass2, args):
    assert cp.tf_keras_class(klass3(*args)) is klass2
    assert cp.keras3_class(klass2(*args)) is klass3


def test_customs_name_the_applications_layers_to_load():
    assert {"LayerScale", "StochasticDepth", "CustomScaleLayer"} <= set(cp.tf_keras_customs())
    assert cp.tf_keras_customs()["CustomScaleLayer"] is irv2_2.CustomScaleLayer
    assert cp.keras3_customs()["LayerScale"] is convnext3.LayerScale


def test_a_user_keras3_layer_without_counterpart_has_none():
    class Mine(keras3.layers.Layer):
        pass

    assert cp.tf_keras_class(Mine()) is None


def test_register_counterpart_declares_a_user_class_both_ways(monkeypatch):
    monkeypatch.setattr(cp, "_COUNTERPARTS", dict(cp._registered()))
    monkeypatch.setattr(cp, "_KERAS3_CLASSES", dict(cp._KERAS3_CLASSES))

    class Twice3(keras3.layers.Layer):
        pass

    class Twice2(tf_keras.layers.Layer):
        pass

    cp.register_counterpart(Twice3, Twice2)
    assert cp.tf_keras_class(Twice3()) is Twice2
    assert cp.keras3_class(Twice2()) is Twice3
    assert cp.tf_keras_customs()["Twice2"] is Twice2 and cp.keras3_customs()["Twice3"] is Twice3
    assert cp.tf_keras_class(convnext3.LayerScale(1e-6, 4)) is convnext2.LayerScale


def test_a_wrapper_or_custom_tf_keras_layer_is_refused_naming_the_fix():
    class Custom(tf_keras.layers.Dense):
        pass

    with pytest.raises(errors.UnsupportedLayerError,
                       match=r"'mine' \(Custom\) has no Keras 3 counterpart.*tfprune\.strip"):
        cp.keras3_class(Custom(2, name="mine"))
    wrapper = tf_keras.layers.TimeDistributed(tf_keras.layers.Dense(2), name="td")
    assert cp.keras3_class(wrapper) is keras3.layers.TimeDistributed  # a built-in wrapper maps


def test_a_user_registration_first_keeps_the_applications_layers(monkeypatch):
    """A fresh process in which the user calls register_counterpart before any translation:
    Keras applications' own layers are still declared."""
    monkeypatch.setattr(cp, "_COUNTERPARTS", {})
    monkeypatch.setattr(cp, "_KERAS3_CLASSES", {})
    monkeypatch.setattr(cp, "_BUILTINS_DECLARED", [])

    class Twice3(keras3.layers.Layer):
        pass

    class Twice2(tf_keras.layers.Layer):
        pass

    cp.register_counterpart(Twice3, Twice2)
    assert cp.tf_keras_class(convnext3.LayerScale(1e-6, 4)) is convnext2.LayerScale
    assert cp.tf_keras_class(Twice3()) is Twice2
