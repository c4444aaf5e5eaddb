"""Which weights of which layer are prunable: tfprune's own table.

Matched by ``isinstance`` in order (so subclasses of built-in layers are handled
by behaviour, and SeparableConv is found before Conv). Conv2DTranspose/Conv3DTranspose
are Conv subclasses; LSTM/GRU/SimpleRNN prune their cell's kernel and recurrent
kernel; MultiHeadAttention its query/key/value/output kernels. A weight name may be a
dotted attribute path (``"cell.kernel"``). Custom layers either
implement TF-MOT's ``get_prunable_weights()`` (``PrunableLayer``) or are declared
with :func:`register`.

Example:
    >>> from tfprune.compat import keras
    >>> prunable_weight_names(keras.layers.DepthwiseConv2D(3))
    ['depthwise_kernel']
"""

from __future__ import annotations

import numpy as np

from tfprune import errors
from tfprune.compat import keras

__all__ = ["register", "prunable_weight_names", "prunable_weights", "is_prunable", "layer_macs"]

L = keras.layers

# Order matters: the first matching class wins.
_BUILTIN: list[tuple[type, tuple[str, ...]]] = [
    (L.SeparableConv1D, ("depthwise_kernel", "pointwise_kernel")),
    (L.SeparableConv2D, ("depthwise_kernel", "pointwise_kernel")),
    (L.DepthwiseConv2D, ("depthwise_kernel",)),
    (L.Conv1D, ("kernel",)),
    (L.Conv2D, ("kernel",)),  # also Conv2DTranspose
    (L.Conv3D, ("kernel",)),  # also Conv3DTranspose
    (L.Dense, ("kernel",)),
    (L.Embedding, ("embeddings",)),
    (L.LSTM, ("cell.kernel", "cell.recurrent_kernel")),
    (L.GRU, ("cell.kernel", "cell.recurrent_kernel")),
    (L.SimpleRNN, ("cell.kernel", "cell.recurrent_kernel")),
    (L.MultiHeadAttention, ("_query_dense.kernel", "_key_dense.kernel", "_value_dense.kernel",
                            "_output_dense.kernel")),
]
_USER: list[tuple[type, tuple[str, ...]]] = []


def register(layer_class: type, weights) -> None:
    """Declare which weights of a custom layer class are prunable, without subclassing.

    Args:
        layer_class: a ``tf_keras.layers.Layer`` subclass.
        weights: attribute names (or dotted paths) of the layer's weight variables,
            e.g. ``["kernel"]``.

    Raises:
        ConfigError: not a Layer class, or an empty/non-string weight list.

    Example:
        >>> class MyDense(keras.layers.Layer):
        ...     def build(self, shape):
        ...         self.w = self.add_weight("w", shape=(shape[-1], 4))
        ...     def call(self, x):
        ...         return x @ self.w
        >>> register(MyDense, weights=["w"])
        >>> prunable_weight_names(MyDense())
        ['w']
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise errors.ConfigError(
            f"register() expects a tf_keras Layer class, got {layer_class!r}.")
    if isinstance(weights, str) or not weights or not all(isinstance(w, str) for w in weights):
        raise errors.ConfigError(
            f"register({layer_class.__name__}, weights=...) needs a non-empty list of weight "
            f"attribute names such as ['kernel'], got {weights!r}.")
    _USER[:] = [(c, w) for c, w in _USER if c is not layer_class]
    _USER.insert(0, (layer_class, tuple(weights)))


def prunable_weight_names(layer) -> list[str] | None:
    """Attribute names of ``layer``'s prunable weights, or None if it is not prunable.

    Layers with their own ``get_prunable_weights`` (TF-MOT ``PrunableLayer``) return
    ``[]`` here: the wrapper asks the layer itself.

    Example:
        >>> prunable_weight_names(keras.layers.Dropout(0.5)) is None
        True
    """
    for klass, names in _USER + _BUILTIN:
        if isinstance(layer, klass):
            return list(names)
    if callable(getattr(layer, "get_prunable_weights", None)):
        return []
    return None


def is_prunable(layer) -> bool:
    """True if tfprune can wrap ``layer`` for pruning.

    Example:
        >>> is_prunable(keras.layers.Dense(3)), is_prunable(keras.layers.Flatten())
        (True, False)
    """
    return prunable_weight_names(layer) is not None


def prunable_weights(layer, names) -> list:
    """The prunable variables of a built ``layer`` (by attribute names, or the layer's own
    ``get_prunable_weights()`` when ``names`` is empty).

    Example:
        >>> d = keras.layers.Dense(2); d.build((None, 3))
        >>> [w.shape.as_list() for w in prunable_weights(d, ["kernel"])]
        [[3, 2]]
    """
    if not names:
        return list(layer.get_prunable_weights())
    out = []
    for name in names:
        var = layer
        for part in name.split("."):
            var = getattr(var, part, None)
        if var is None:
            raise errors.UnsupportedLayerError(
                f"Layer {layer.name!r} ({type(layer).__name__}) has no weight attribute "
                f"{name!r}. Fix the names given to tfprune.register().")
        out.append(var)
    return out


L = keras.layers


def _prod(xs):
    return int(np.prod([int(x) for x in xs])) if len(xs) else 1


def layer_macs(layer, input_shape, output_shape) -> list[tuple[int, str | None]]:
    """MACs of one layer as ``[(macs, kernel attribute name), ...]`` (see module doc).

    Example:
        >>> d = keras.layers.Dense(4)
        >>> layer_macs(d, (None, 3), (None, 4))
        [(12, 'kernel')]
    """
    cin = input_shape[-1] if input_shape else None
    if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        spatial = _prod(output_shape[1:-1])
        dm = layer.depth_multiplier
        dw = spatial * cin * dm * _prod(layer.kernel_size)
        return [(dw, "depthwise_kernel"), (spatial * cin * dm * layer.filters, "pointwise_kernel")]
    if isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        return [(_prod(output_shape[1:-1]) * cin * layer.depth_multiplier
                 * _prod(layer.kernel_size), "depthwise_kernel")]
    if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
        return [(_prod(input_shape[1:-1]) * _prod(layer.kernel_size) * cin * layer.filters,
                 "kernel")]
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        groups = getattr(layer, "groups", 1) or 1
        return [(_prod(output_shape[1:-1]) * layer.filters * _prod(layer.kernel_size)
                 * cin // groups, "kernel")]
    if isinstance(layer, L.Dense):
        return [(_prod(output_shape[1:-1]) * cin * layer.units, "kernel")]
    return []
