"""Which class a layer becomes in the other Keras: the counterpart registry, both directions.

Built-in layers map by class name (``keras.layers.Dense`` <-> ``tf_keras.layers.Dense``);
other classes are declared with :func:`register_counterpart` (Keras applications' own layers,
ConvNeXt's and InceptionResNetV2's, are declared here).

Example:
    >>> import keras as keras3
    >>> tf_keras_class(keras3.layers.Dense(2)).__module__.split(".")[0]
    'tf_keras'
    >>> keras3_class(tf_keras.layers.Dense(2)).__name__
    'Dense'
"""

from __future__ import annotations

import tf_keras

from tfprune import errors

__all__ = ["keras3_class", "keras3_customs", "register_counterpart", "tf_keras_class",
           "tf_keras_customs"]

# Counterparts of classes that are not plain layers: (keras3 module, class name) -> tf_keras class.
_COUNTERPARTS: dict = {}
_KERAS3_CLASSES: dict = {}  # same keys -> the Keras 3 class


def register_counterpart(keras3_class, tf_keras_class) -> None:
    """Declare ``tf_keras_class`` as the translation of the Keras 3 layer ``keras3_class``.

    Both must take the same config and hold the same weights in the same order.

    Example:
        >>> import keras as keras3
        >>> register_counterpart(keras3.layers.Dense, tf_keras.layers.Dense)
    """
    key = (keras3_class.__module__, keras3_class.__name__)
    _COUNTERPARTS[key] = tf_keras_class
    _KERAS3_CLASSES[key] = keras3_class


_BUILTINS_DECLARED: list = []  # non-empty once Keras applications' own layers are declared


def _registered() -> dict:
    """The registry, with Keras applications' own layers declared on first use (also when a
    user class was registered first)."""
    if not _BUILTINS_DECLARED:
        _BUILTINS_DECLARED.append(True)
        from keras.src.applications import convnext as c3
        from keras.src.applications import inception_resnet_v2 as i3
        from tf_keras.src.applications import convnext as c2
        from tf_keras.src.applications import inception_resnet_v2 as i2

        register_counterpart(c3.LayerScale, c2.LayerScale)
        register_counterpart(c3.StochasticDepth, c2.StochasticDepth)
        register_counterpart(i3.CustomScaleLayer, i2.CustomScaleLayer)
    return _COUNTERPARTS


def tf_keras_class(layer):
    """The tf_keras class for a Keras 3 layer object, or None (no counterpart).

    Example:
        >>> import keras as keras3
        >>> tf_keras_class(keras3.layers.Flatten()) is tf_keras.layers.Flatten
        True
    """
    klass = type(layer)
    found = _registered().get((klass.__module__, klass.__name__))
    if found is not None:
        return found
    import keras

    public = getattr(keras.layers, klass.__name__, None)
    if public is klass or klass.__name__ in ("Functional", "Sequential"):
        return getattr(tf_keras.layers, klass.__name__, None) or getattr(
            tf_keras.models, klass.__name__, None) or _tf_keras_model_class(klass.__name__)
    return None


def _tf_keras_model_class(name):
    from tf_keras.src.engine import functional

    return functional.Functional if name == "Functional" else None


def keras3_class(layer):
    """The Keras 3 class for a plain tf_keras layer object; refused when there is none.

    Raises:
        UnsupportedLayerError: a wrapper or a custom layer with no declared counterpart.

    Example:
        >>> keras3_class(tf_keras.layers.Flatten()).__module__.split(".")[0]
        'keras'
    """
    import keras

    for key, klass in _registered().items():
        if type(layer) is klass:
            return _KERAS3_CLASSES[key]
    klass = getattr(keras.layers, type(layer).__name__, None)
    if klass is None or type(layer) is not getattr(tf_keras.layers, type(layer).__name__, None):
        raise errors.UnsupportedLayerError(
            f"Layer {layer.name!r} ({type(layer).__name__}) has no Keras 3 counterpart; "
            "strip pruning wrappers first (tfprune.strip) and use built-in layers.")
    return klass


def tf_keras_customs() -> dict:
    """``{name: class}`` of the registered tf_keras counterparts (custom objects to load).

    Example:
        >>> "LayerScale" in tf_keras_customs()
        True
    """
    return {k.__name__: k for k in _registered().values()}


def keras3_customs() -> dict:
    """``{name: class}`` of the registered Keras 3 classes (custom objects to load).

    Example:
        >>> "StochasticDepth" in keras3_customs()
        True
    """
    _registered()
    return {k.__name__: k for k in _KERAS3_CLASSES.values()}
