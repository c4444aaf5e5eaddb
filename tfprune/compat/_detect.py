"""Keras 3 detection: which Keras an object belongs to (no Keras is imported here).

Example:
    >>> import tf_keras
    >>> is_keras3_object(tf_keras.layers.Dense(2))
    False
"""

from __future__ import annotations

__all__ = ["is_keras3_object"]


def is_keras3_object(obj) -> bool:
    """True if ``obj`` is a Keras 3 layer or model (not tf_keras).

    Example:
        >>> import keras as keras3
        >>> is_keras3_object(keras3.layers.Dense(2))
        True
    """
    for klass in type(obj).__mro__:
        mod = klass.__module__ or ""
        if mod == "keras" or mod.startswith("keras.") or mod.startswith("keras.src"):
            return True
    return False
