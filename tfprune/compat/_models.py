"""What both translations do to a whole model: walk its layers and copy its weights.

Example:
    >>> import tf_keras
    >>> inner = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(2, name="a")])
    >>> outer = tf_keras.Sequential([tf_keras.Input((2,)), inner, tf_keras.layers.Dense(1, name="b")])
    >>> [layer.name for layer in walk(outer)][-2:], is_model(inner)
    (['b', 'a'], True)
"""

from __future__ import annotations

from tfprune import errors

__all__ = ["copy_weights", "is_model", "walk"]


def is_model(layer) -> bool:
    """True for a nested model (anything with ``layers`` and ``inputs``), either Keras.

    Example:
        >>> import tf_keras
        >>> is_model(tf_keras.layers.Dense(1))
        False
    """
    return hasattr(layer, "layers") and hasattr(layer, "inputs")


def walk(model):
    """Yield every layer of ``model``, nested models included (each once), breadth first.

    Example:
        >>> import tf_keras
        >>> m = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1, name="d")])
        >>> [layer.name for layer in walk(m)]
        ['d']
    """
    seen = set()
    stack = list(model.layers)
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        if is_model(layer):
            stack.extend(layer.layers)


def copy_weights(src, dst, src_name) -> None:
    """Copy weights layer by layer from ``src`` to ``dst`` (matched by name; nested models
    walked); ``src_name`` names the model in errors.

    Raises:
        UnsupportedLayerError: a layer whose weights do not fit its translation.

    Example:
        >>> import numpy as np, tf_keras
        >>> def mlp():
        ...     return tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1, name="d")])
        >>> a, b = mlp(), mlp()
        >>> copy_weights(a, b, "a")
        >>> bool(np.array_equal(a.get_weights()[0], b.get_weights()[0]))
        True
    """
    dst_layers = {layer.name: layer for layer in dst.layers}
    for layer in src.layers:
        target = dst_layers[layer.name]
        if is_model(layer):
            copy_weights(layer, target, src_name)
            continue
        values = layer.get_weights()
        if type(layer).__name__ == "TextVectorization":
            continue  # the vocabulary travels in the config
        shapes = [tuple(w.shape) for w in target.weights]
        if [v.shape for v in values] != shapes:
            raise errors.UnsupportedLayerError(
                f"Layer {layer.name!r} ({type(layer).__name__}) of {src_name!r} holds weights "
                f"of shapes {[v.shape for v in values]}, but its translation expects {shapes}; "
                "the layer cannot be translated.")
        if values:
            target.set_weights(values)
            if hasattr(target, "finalize_state"):  # Normalization: mean/variance from weights
                target.finalize_state()
