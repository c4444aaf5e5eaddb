"""tfprune.compat._reverse: tf_keras models back to Keras 3 (to_keras3)."""

import numpy as np
import pytest
import tf_keras

from tests.keras3._models import keras3_cnn
from tfprune import compat, errors


def test_zeros_survive_the_way_back():
    m2 = compat.to_tf_keras(keras3_cnn())
    w = m2.get_layer("d1").get_weights()
    w[0][:, ::2] = 0.0
    m2.get_layer("d1").set_weights(w)
    back = compat.to_keras3(m2)
    assert (np.asarray(back.get_layer("d1").kernel)[:, ::2] == 0).all()


def test_to_keras3_refuses_wrapped_models():
    import tfprune

    m2 = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(4, name="d")])
    with pytest.raises(errors.UnsupportedLayerError, match="strip"):
        compat.to_keras3(tfprune.one_shot(m2, 0.5))
