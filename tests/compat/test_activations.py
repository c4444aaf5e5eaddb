"""tfprune/compat/_activations.py: Keras 3 activation names tf_keras lacks (or computes
differently) become registered ``tfprune>keras3_<name>`` functions, and back again."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfprune.compat._activations import (
    ACTIVATION_KEYS,
    to_keras3_activation,
    to_tf_keras_activation,
)


@pytest.mark.parametrize("name", ["hard_silu", "hard_sigmoid", "sparsemax", "celu"])
def test_keras3_only_names_round_trip(name):
    translated = to_tf_keras_activation(name)
    assert translated == f"tfprune>keras3_{name}"
    assert to_keras3_activation(translated) == name


def test_a_serialized_function_envelope_is_read_by_its_name():
    envelope = {"class_name": "function", "config": "hard_silu", "module": "keras.activations"}
    assert to_tf_keras_activation(envelope) == "tfprune>keras3_hard_silu"


@pytest.mark.parametrize("value", ["relu", "linear", None, {"class_name": "function",
                                                            "config": {"not": "a name"}}, 3])
def test_other_values_pass_unchanged(value):
    assert to_tf_keras_activation(value) is value
    assert to_keras3_activation(value) is value


def test_hard_sigmoid_keeps_keras3_formula_not_tf_keras_one():
    x = tf.constant([-4.0, 0.0, 1.0, 4.0])
    translated = tf_keras.activations.get(to_tf_keras_activation("hard_sigmoid"))
    # Keras 3: relu6(x + 3) / 6; tf_keras' own hard_sigmoid would give 0.7 at x = 1
    np.testing.assert_allclose(translated(x).numpy(), [0.0, 0.5, 4 / 6, 1.0], rtol=1e-6)
    assert not np.isclose(float(tf_keras.activations.get("hard_sigmoid")(x)[2]), 4 / 6)


def test_translated_functions_are_serializable_by_their_registered_name():
    fn = tf_keras.activations.get("tfprune>keras3_hard_silu")
    assert tf_keras.saving.get_registered_name(fn) == "tfprune>keras3_hard_silu"
    x = tf.constant([-3.0, 0.0, 3.0])
    np.testing.assert_allclose(fn(x).numpy(), [0.0, 0.0, 3.0], atol=1e-6)  # x*relu6(x+3)/6


def test_activation_keys_name_both_recurrent_and_plain_activations():
    assert set(ACTIVATION_KEYS) == {"activation", "recurrent_activation"}
