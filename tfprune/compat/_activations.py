"""Keras 3 activations that tf_keras lacks or computes differently, for the translation.

A Keras 3 layer config names its activation (``"hard_silu"``, ``"hard_sigmoid"``, ...). tf_keras
has no ``hard_silu`` (Keras 3 MobileNetV3 uses it), and its ``hard_sigmoid`` is
``clip(0.2·x + 0.5)`` where Keras 3's is ``relu6(x + 3) / 6``: the same name, other outputs.
Each such name is translated to a tf_keras-serializable function ``"tfprune>keras3_<name>"``
that calls Keras 3's own activation (TensorFlow backend), and back again.

Example:
    >>> to_tf_keras_activation("hard_silu")
    'tfprune>keras3_hard_silu'
    >>> to_keras3_activation("tfprune>keras3_hard_silu")
    'hard_silu'
    >>> to_tf_keras_activation("relu")
    'relu'
"""

from __future__ import annotations

import tf_keras

__all__ = ["to_tf_keras_activation", "to_keras3_activation", "ACTIVATION_KEYS"]

# Config keys that hold an activation.
ACTIVATION_KEYS = ("activation", "recurrent_activation")
# Keras 3 activation names tf_keras lacks, plus hard_sigmoid (same name, different function).
_KERAS3_ONLY = ("celu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
                "hard_tanh", "log_sigmoid", "soft_shrink", "sparse_plus", "sparse_sigmoid",
                "sparsemax", "squareplus", "tanh_shrink", "threshold")
_PREFIX = "tfprune>keras3_"


def _make(name):
    def activation(x):
        import keras

        return keras.activations.get(name)(x)

    activation.__name__ = activation.__qualname__ = f"keras3_{name}"
    return tf_keras.saving.register_keras_serializable("tfprune", f"keras3_{name}")(activation)


_FUNCTIONS = {name: _make(name) for name in _KERAS3_ONLY}


def _name_of(value):
    """The activation name in a config value: a string or a serialized-function envelope."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("class_name") == "function":
        return value.get("config") if isinstance(value.get("config"), str) else None
    return None


def to_tf_keras_activation(value):
    """A Keras 3 activation config value as tf_keras reads it (other values unchanged)."""
    name = _name_of(value)
    return _PREFIX + name if name in _FUNCTIONS else value


def to_keras3_activation(value):
    """The inverse of :func:`to_tf_keras_activation` (other values unchanged)."""
    name = _name_of(value)
    if isinstance(name, str) and name.startswith(_PREFIX):
        return name[len(_PREFIX):]
    return value
