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

__all__ = ["register", "prunable_weight_names", "prunable_weights", "is_prunable", "layer_macs",
           "leaf_layers"]

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
    (L.ConvLSTM1D, ("cell.kernel", "cell.recurrent_kernel")),
    (L.ConvLSTM2D, ("cell.kernel", "cell.recurrent_kernel")),
    (L.ConvLSTM3D, ("cell.kernel", "cell.recurrent_kernel")),
    (L.MultiHeadAttention, ("_query_dense.kernel", "_key_dense.kernel", "_value_dense.kernel",
                            "_output_dense.kernel")),
]
_USER: list[tuple[type, tuple[str, ...]]] = []
#: a generic ``RNN(cell)`` of one of these cells prunes the cell's two kernels
_CELLS = (L.LSTMCell, L.GRUCell, L.SimpleRNNCell)


def _inner_names(layer) -> list[str] | None:
    """Layer wrappers: the prunable weights of the layers they wrap, as dotted paths."""
    if isinstance(layer, L.Bidirectional):
        parts = [(attr, getattr(layer, attr, None)) for attr in ("forward_layer", "backward_layer")]
    elif isinstance(layer, L.TimeDistributed):
        parts = [("layer", layer.layer)]
    elif isinstance(layer, L.RNN) and isinstance(getattr(layer, "cell", None), _CELLS):
        return ["cell.kernel", "cell.recurrent_kernel"]
    else:
        return None
    out = []
    for attr, inner in parts:
        names = prunable_weight_names(inner) if inner is not None else None
        if not names:  # not prunable, or pruned by its own get_prunable_weights()
            return None
        out += [f"{attr}.{n}" for n in names]
    return out


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
        >>> prunable_weight_names(keras.layers.TimeDistributed(keras.layers.Dense(2)))
        ['layer.kernel']
    """
    for klass, names in _USER + _BUILTIN:
        if isinstance(layer, klass):
            return list(names)
    inner = _inner_names(layer)
    if inner is not None:
        return inner
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


def leaf_layers(model):
    """Every layer of ``model`` that is not itself a model, nested models walked in order.

    The one layer walker: a transfer-learning nest (a base model used as a layer) yields the
    base model's layers, not the base model.

    Example:
        >>> from tfprune.compat import keras
        >>> base = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d1")])
        >>> outer = keras.Sequential([base, keras.layers.Dense(1, name="d2")])
        >>> [layer.name for layer in leaf_layers(outer)]
        ['d1', 'd2']
    """
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer


def _prod(xs):
    return int(np.prod([int(x) for x in xs])) if len(xs) else 1


def layer_macs(layer, input_shape, output_shape, *,
               strict: bool = False) -> list[tuple[int, str | None]] | None:
    """MACs of one layer for one sample as ``[(macs, kernel attribute path), ...]``.

    The one MAC rule of tfprune (multiply-accumulates of one forward pass; bias adds,
    normalisation, activations, pooling, embeddings and element-wise layers count 0).
    Spatial dimensions follow ``data_format`` (channels_first too):

    * Dense: ``positions * in_features * units``;
    * Conv1D/2D/3D: ``prod(out_spatial) * filters * prod(kernel_size) * in_channels / groups``;
    * Conv*Transpose: ``prod(in_spatial) * prod(kernel_size) * in_channels * filters``;
    * DepthwiseConv: ``prod(out_spatial) * in_channels * depth_multiplier * prod(kernel_size)``;
    * SeparableConv: the depthwise part plus ``prod(out_spatial) * in_channels * dm * filters``;
    * SimpleRNN/GRU/LSTM (gates g = 1/3/4): per timestep ``g * (input + units) * units``,
      times the timesteps (``g * input * units`` on ``cell.kernel``, ``g * units * units``
      on ``cell.recurrent_kernel``); Bidirectional: both directions;
    * MultiHeadAttention (H heads, key dim Dk, value dim Dv, lengths Tq/Tk):
      projections ``Tq*dq*H*Dk + Tk*dk*H*Dk + Tk*dv*H*Dv``, attention matmuls
      ``Tq*Tk*H*(Dk + Dv)``, output ``Tq*H*Dv*d_out``.

    Args:
        layer, input_shape, output_shape: the layer and the shapes of one call.
        strict: return ``None`` (instead of ``[]``) when no rule applies to a layer with
            weights (a custom layer, an unknown sequence length): ``summary`` reports it
            as "not counted", never as 0.

    Returns:
        The list (empty for a layer that costs 0 MACs by the rule), or ``None``.

    Example:
        >>> layer_macs(keras.layers.Dense(4), (None, 3), (None, 4))
        [(12, 'kernel')]
        >>> layer_macs(keras.layers.LSTM(2), (None, 5, 3), (None, 2))  # 4*(3+2)*2*5
        [(120, 'cell.kernel'), (80, 'cell.recurrent_kernel')]
    """
    zero_cost = (L.BatchNormalization, L.LayerNormalization, L.Embedding, L.PReLU,
                 L.Normalization, L.GroupNormalization)  # weights, but 0 MACs by the rule
    unknown = None if strict else []
    first = getattr(layer, "data_format", "channels_last") == "channels_first"
    if input_shape and isinstance(input_shape[0], (tuple, list)):
        input_shape = tuple(input_shape[0])  # several inputs: the first decides
    if output_shape and isinstance(output_shape[0], (tuple, list)):
        output_shape = tuple(output_shape[0])
    cin = (input_shape[1] if first else input_shape[-1]) if input_shape else None
    if isinstance(layer, L.Bidirectional):
        parts = [layer_macs(d, input_shape, None, strict=True)
                 for d in (layer.forward_layer, layer.backward_layer)]
        if any(p is None for p in parts):
            return unknown
        return [(m, None) for part in parts for m, _ in part]
    if isinstance(layer, (L.SimpleRNN, L.GRU, L.LSTM)):
        return _recurrent_macs(layer, input_shape, cin) or unknown
    if isinstance(layer, L.MultiHeadAttention):
        return _attention_macs(layer) or unknown
    found = _kernel_macs(layer, input_shape, output_shape, cin, first)
    if found is not None:
        return found
    if not layer.weights or isinstance(layer, zero_cost):
        return []
    return unknown


def _known(*dims) -> bool:
    return all(d is not None for d in dims)


def _recurrent_macs(layer, input_shape, cin):
    """SimpleRNN/GRU/LSTM over all timesteps, or None (unknown length or width)."""
    gates = 4 if isinstance(layer, L.LSTM) else 3 if isinstance(layer, L.GRU) else 1
    steps = input_shape[1] if input_shape and len(input_shape) == 3 else None
    if not _known(steps, cin):
        return None
    u = layer.units
    return [(steps * gates * cin * u, "cell.kernel"),
            (steps * gates * u * u, "cell.recurrent_kernel")]


def _attention_macs(layer):
    """MultiHeadAttention: projections, the two attention matmuls, the output; or None."""
    shapes = [getattr(layer, f"_{k}_shape", None) for k in ("query", "key", "value")]
    if any(s is None for s in shapes):
        return None
    (q, k, v) = (tuple(s.as_list()) for s in shapes)
    tq, tk = _prod(q[1:-1]) if _known(*q[1:]) else None, \
        _prod(k[1:-1]) if _known(*k[1:]) else None
    if not _known(tq, tk):
        return None
    h, dk = layer._num_heads, layer._key_dim
    dv = layer._value_dim or dk
    dout = layer._output_shape or q[-1]
    dout = _prod(dout) if isinstance(dout, (tuple, list)) else int(dout)
    return [(tq * q[-1] * h * dk, "_query_dense.kernel"),
            (tk * k[-1] * h * dk, "_key_dense.kernel"),
            (tk * v[-1] * h * dv, "_value_dense.kernel"),
            (tq * tk * h * (dk + dv), None),
            (tq * h * dv * dout, "_output_dense.kernel")]


def _kernel_macs(layer, input_shape, output_shape, cin, first):
    """Convolutions (separable, depthwise, transposed, grouped) and Dense; None otherwise."""
    def spatial(shape):
        return shape[2:] if first else shape[1:-1]

    if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        sp = _prod(spatial(output_shape))
        dm = layer.depth_multiplier
        dw = sp * cin * dm * _prod(layer.kernel_size)
        return [(dw, "depthwise_kernel"), (sp * cin * dm * layer.filters, "pointwise_kernel")]
    if isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        return [(_prod(spatial(output_shape)) * cin * layer.depth_multiplier
                 * _prod(layer.kernel_size), "depthwise_kernel")]
    if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
        return [(_prod(spatial(input_shape)) * _prod(layer.kernel_size) * cin * layer.filters,
                 "kernel")]
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        groups = getattr(layer, "groups", 1) or 1
        return [(_prod(spatial(output_shape)) * layer.filters * _prod(layer.kernel_size)
                 * cin // groups, "kernel")]
    if isinstance(layer, L.Dense):
        return [(_prod(output_shape[1:-1]) * cin * layer.units, "kernel")]
    return None
