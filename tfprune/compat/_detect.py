"""Keras 3 detection: which Keras an object belongs to (no Keras is imported here).

Example:
    >>> import tf_keras
    >>> is_keras3_object(tf_keras.layers.Dense(2))
    False
"""

from __future__ import annotations

__all__ = ["is_keras3_object", "is_keras3_subclassed"]


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


def is_keras3_subclassed(model) -> bool:
    """True for a Keras 3 model that is neither Sequential nor Functional (read from its
    classes' names, so Keras 3 is not imported).

    Example:
        >>> import keras as keras3
        >>> is_keras3_subclassed(keras3.Sequential([keras3.Input((2,)), keras3.layers.Dense(1)]))
        False
        >>> class Net(keras3.Model):
        ...     def call(self, x):
        ...         return x
        >>> is_keras3_subclassed(Net())
        True
    """
    if not is_keras3_object(model):
        return False
    names = {f"{k.__module__}.{k.__name__}" for k in type(model).__mro__}
    base = "keras.src.models.model.Model"
    return (base in names and f"{type(model).__module__}.{type(model).__name__}" != base
            and not names & {"keras.src.models.functional.Functional",
                             "keras.src.models.sequential.Sequential"})
