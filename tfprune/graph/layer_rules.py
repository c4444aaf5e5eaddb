"""The built-in channel rules, one per layer family (``rule(layer, inputs, ctx) ->
outputs``, see :class:`tfprune.graph.build.Context`), and the generic ones a user registers
(:func:`passthrough`, :func:`pin`). The registry that matches them to layer classes is
:mod:`tfprune.graph.rules`. All rules assume channels_last.

Example:
    >>> "math.add" in ELEMENTWISE_OPS
    True
"""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfprune import errors
from tfprune.compat import keras

__all__ = ["passthrough", "pin", "refuse", "keep", "merge_inputs", "ELEMENTWISE_OPS", "conv",
           "conv_transpose", "depthwise", "separable", "batch_norm", "layer_norm", "prelu",
           "activation", "softmax", "spatial", "flatten", "reshape", "permute", "merge",
           "concatenate", "rescaling", "layer_scale", "attention", "embedding", "tf_op"]

L = keras.layers


def refuse(layer, ctx):
    """The error for a layer no rule covers (returned, for the caller to raise), naming the
    layer and the two fixes (``exclude=[...]`` or ``register_rule``).

    Example:
        >>> import types
        >>> str(refuse(keras.layers.Lambda(lambda x: x), types.SimpleNamespace(path="f")))[:40]
        "Cannot tell how layer 'f' (Lambda) maps "
    """
    name = type(layer).__name__
    hint = ""
    if isinstance(layer, pruning_wrapper.PruneLowMagnitude):
        hint = " Strip the pruning wrappers first: model = tfprune.strip(model)."
    return errors.UnsupportedLayerError(
        f"Cannot tell how layer {ctx.path!r} ({name}) maps channels, so no channel can be "
        f"removed through it.{hint} Add {ctx.path!r} to exclude=[...] to keep its input and "
        f"output channels, or register a rule: tfprune.graph.register_rule({name}, "
        "tfprune.graph.pin) if it mixes channels (they are then kept), "
        "tfprune.graph.passthrough only if it is element-wise (or your own rule)."
    )


# --- generic rules -----------------------------------------------------------
def passthrough(layer, inputs, ctx):
    """Element-wise layer: channel ``c`` in is channel ``c`` out."""
    ctx.note(inputs[0], "passes channels through")
    return [inputs[0]]


def pin(layer, inputs, ctx):
    """Layer that mixes channels: its input and output channels are kept."""
    reason = f"{ctx.path!r} ({type(layer).__name__}) mixes channels"
    if isinstance(layer, (L.RNN, L.Bidirectional)):  # the reason users meet on text models
        reason += (f": tfprune does not remove the units of a recurrent layer (each lives in "
                   f"its gates and recurrent kernel); prune {ctx.path!r} at "
                   "granularity='weight' (or 'n:m'/'block')")
    return keep(layer, inputs, ctx, reason, "mixes channels (input kept)")


def _check_last(layer, ctx):
    fmt = getattr(layer, "data_format", "channels_last")
    if fmt not in (None, "channels_last"):
        raise errors.UnsupportedLayerError(
            f"Layer {ctx.path!r} ({type(layer).__name__}) uses data_format={fmt!r}; "
            "tfprune's graph supports channels_last only. Add it to exclude=[...]."
        )


def _channel_axis_is_last(axis, rank):
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return [a % rank for a in axes] == [rank - 1]


# --- layers with kernels -------------------------------------------------------
def conv(layer, inputs, ctx):
    """Conv1D/2D/3D and Dense: kernel [..., in, out]."""
    _check_last(layer, ctx)
    x = inputs[0]
    n = int(layer.filters if hasattr(layer, "filters") else layer.units)
    if getattr(layer, "groups", 1) != 1:
        return pin(layer, inputs, ctx)
    out = ctx.new(n)
    ctx.weight("kernel", -2, x, "in", "consumes channels (kernel input axis)")
    ctx.weight("kernel", -1, out, "out", "produces channels (kernel output axis, bias)")
    ctx.weight("bias", 0, out, "bias", "produces channels (kernel output axis, bias)")
    ctx.config("filters" if hasattr(layer, "filters") else "units", out)
    if _mixes(layer):  # e.g. Dense(activation="softmax"): a removed unit changes the others
        ctx.pin(out, f"{ctx.path!r} applies {layer.activation.__name__} across its channels")
    return [out]


def conv_transpose(layer, inputs, ctx):
    """Conv1D/2D/3DTranspose: kernel [..., out, in]."""
    _check_last(layer, ctx)
    out = ctx.new(int(layer.filters))
    ctx.weight("kernel", -1, inputs[0], "in", "consumes channels (kernel input axis)")
    ctx.weight("kernel", -2, out, "out", "produces channels (kernel output axis)")
    ctx.weight("bias", 0, out, "bias", "produces channels (bias)")
    ctx.config("filters", out)
    return [out]


def depthwise(layer, inputs, ctx):
    """DepthwiseConv1D/2D: output channel c*m+k comes from input channel c."""
    _check_last(layer, ctx)
    m = int(layer.depth_multiplier)
    x = inputs[0]
    out = np.repeat(x, m)
    ctx.weight("depthwise_kernel", -2, x, "dw", "filters each channel (depthwise kernel)")
    ctx.weight("bias", 0, out, "bias", f"filters each channel (bias, depth_multiplier={m})")
    return [out]


def separable(layer, inputs, ctx):
    """SeparableConv1D/2D: depthwise [.., in, m] then pointwise [.., in*m, out]."""
    _check_last(layer, ctx)
    x = inputs[0]
    m = int(layer.depth_multiplier)
    out = ctx.new(int(layer.filters))
    ctx.weight("depthwise_kernel", -2, x, "in", "consumes channels (depthwise kernel)")
    ctx.weight("pointwise_kernel", -2, np.repeat(x, m), "in", "consumes channels (pointwise)")
    ctx.weight("pointwise_kernel", -1, out, "out", "produces channels (pointwise kernel)")
    ctx.weight("bias", 0, out, "bias", "produces channels (bias)")
    ctx.config("filters", out)
    return [out]


def batch_norm(layer, inputs, ctx):
    """BatchNormalization over the channel axis: per-channel gamma, beta and statistics."""
    x = inputs[0]
    rank = len(ctx.input_shape())
    if not _channel_axis_is_last(layer.axis, rank):
        return pin(layer, inputs, ctx)
    how = "normalizes each channel (gamma, beta, moving mean/variance)"
    ctx.weight("gamma", 0, x, "affine", how)
    ctx.weight("beta", 0, x, "affine", how)
    ctx.weight("moving_mean", 0, x, "stat", how)
    ctx.weight("moving_variance", 0, x, "stat", how)
    return [x]


def layer_norm(layer, inputs, ctx):
    """LayerNormalization: statistics over the channel axis depend on every channel."""
    rank = len(ctx.input_shape())
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    if (rank - 1) in [a % rank for a in axes]:
        reason = f"{ctx.path!r} (LayerNormalization) normalizes across channels"
        ctx.pin(inputs[0], reason)
        ctx.note(inputs[0], "normalizes across channels (kept)")
        return [inputs[0]]
    return passthrough(layer, inputs, ctx)


def prelu(layer, inputs, ctx):
    """PReLU: alpha is per channel unless the channel axis is shared."""
    x = inputs[0]
    if layer.alpha.shape[-1] == len(x) and len(x) > 1:
        ctx.weight("alpha", -1, x, "scale", "per-channel slope (alpha)")
    return passthrough(layer, inputs, ctx)


# Activations that mix channels (a removed channel changes the others); keras3_* are Keras 3's
# functions in translated models (tfprune.compat).
_MIXING = ("softmax", "log_softmax", "keras3_glu", "keras3_sparsemax")


def _mixes(layer):
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", str(fn)) in _MIXING


def activation(layer, inputs, ctx):
    """Activation: element-wise, except softmax-like functions over channels."""
    if _mixes(layer):
        return pin(layer, inputs, ctx)
    return passthrough(layer, inputs, ctx)


def softmax(layer, inputs, ctx):
    """Softmax: pins the channels when normalizing over the channel axis."""
    rank = len(ctx.input_shape())
    if _channel_axis_is_last(layer.axis, rank):
        return pin(layer, inputs, ctx)
    return passthrough(layer, inputs, ctx)


def spatial(layer, inputs, ctx):
    """Pooling, padding, cropping, upsampling: per-channel, channels_last."""
    _check_last(layer, ctx)
    return passthrough(layer, inputs, ctx)


def flatten(layer, inputs, ctx):
    """Flatten: channel c lives at positions c, c+C, c+2C, ... of the vector."""
    _check_last(layer, ctx)
    x = inputs[0]
    reps = int(np.prod(ctx.input_shape()[1:-1] or (1,)))
    out = np.tile(x, reps)
    ctx.note(out, f"flattens ({reps} positions per channel)" if reps > 1 else "flattens")
    return [out]


def reshape(layer, inputs, ctx):
    """Reshape: keeps channels if the last axis is unchanged or everything is flattened."""
    x = inputs[0]
    ishape, oshape = ctx.input_shape()[1:], ctx.output_shape()[1:]
    if None in ishape or None in oshape:
        return pin(layer, inputs, ctx)
    if oshape[-1] == ishape[-1]:
        out = x
    elif len(oshape) == 1 or oshape[-1] == int(np.prod(ishape)):
        out = np.tile(x, int(np.prod(ishape[:-1] or (1,))))
    else:
        return pin(layer, inputs, ctx)
    ctx.config("target_shape", out)
    ctx.note(out, "reshapes (channels kept last)")
    return [out]


def permute(layer, inputs, ctx):
    """Permute: keeps channels only if the channel axis stays last."""
    if layer.dims[-1] == len(layer.dims):
        return passthrough(layer, inputs, ctx)
    return pin(layer, inputs, ctx)


def merge_inputs(inputs, ctx):
    """Tie channel ``i`` of every input of an element-wise merge (1-channel inputs broadcast
    and are pinned); returns the merged channels (used by :func:`merge` and :func:`tf_op`)."""
    full = [a for a in inputs if len(a) > 1] or inputs[:1]
    for a in inputs:
        if len(a) == 1 and len(full[0]) > 1:
            ctx.pin(a, f"{ctx.path!r} broadcasts a 1-channel tensor")
    for a in full[1:]:
        ctx.tie(full[0], a)
    for a in full:
        ctx.note(a, "ties its inputs channel by channel")
    return full[0]


def merge(layer, inputs, ctx):
    """Add/Subtract/Multiply/Average/Maximum/Minimum: channel i of every input is tied."""
    return [merge_inputs(inputs, ctx)]


def concatenate(layer, inputs, ctx):
    """Concatenate: along channels, each input lands at an offset; otherwise ties."""
    rank = len(ctx.output_shape())
    if layer.axis % rank == rank - 1:
        out = np.concatenate(inputs)
        ctx.note(out, "concatenates channels")
        return [out]
    return merge(layer, inputs, ctx)


def rescaling(layer, inputs, ctx):
    """Rescaling: element-wise when scale and offset are scalars."""
    if np.size(layer.scale) == 1 and np.size(layer.offset) == 1:
        return passthrough(layer, inputs, ctx)
    return pin(layer, inputs, ctx)


def layer_scale(layer, inputs, ctx):
    """ConvNeXt LayerScale: gamma [projection_dim] scales each channel."""
    ctx.weight("gamma", 0, inputs[0], "scale", "scales each channel (gamma)")
    ctx.config("projection_dim", inputs[0])
    return passthrough(layer, inputs, ctx)


def scaled_add(layer, inputs, ctx):
    """InceptionResNetV2's CustomScaleLayer, ``x + scale * y``: a merge when ``scale`` is a
    number (it always is in Keras applications); kept otherwise."""
    if np.size(layer.scale) == 1:
        return merge(layer, inputs, ctx)
    return pin(layer, inputs, ctx)


def keep(layer, inputs, ctx, reason, how_in):
    """Keep the input and output channels of ``layer`` (``reason`` shows in the groups,
    ``how_in`` says what the layer does with its inputs); the rule of :func:`pin`,
    :func:`attention` and :func:`embedding`."""
    for a in inputs:
        ctx.pin(a, reason)
        ctx.note(a, how_in)
    outs = []
    for i, t in enumerate(tf.nest.flatten(ctx.node.outputs)):
        n = t.shape[-1] if t.shape.rank else 1
        outs.append(ctx.new(int(n or 1), key=f"pin{i}", pinned=reason))
        ctx.note(outs[-1], "creates channels (kept)")
    return outs


def attention(layer, inputs, ctx):
    """MultiHeadAttention: input and output channels are kept; its HEADS are pruned
    inside the layer (``granularity="head"``; ``shrink`` lowers ``num_heads``)."""
    return keep(layer, inputs, ctx, f"{ctx.path!r} (MultiHeadAttention) keeps its width",
                 "feeds attention (kept)")


def embedding(layer, inputs, ctx):
    """Embedding: token ids in (no channels); its ``output_dim`` channels are kept."""
    return keep(layer, inputs, ctx, f"{ctx.path!r} (Embedding) keeps output_dim",
                 "token ids")


ELEMENTWISE_OPS = {
    "__operators__.add",
    "__operators__.sub",
    "__operators__.mul",
    "__operators__.truediv",
    "__operators__.radd",
    "__operators__.rsub",
    "__operators__.rmul",
    "__operators__.neg",
    "math.add",
    "math.add_n",
    "math.subtract",
    "math.multiply",
    "math.divide",
    "math.truediv",
    "math.maximum",
    "math.minimum",
    "math.negative",
    "math.abs",
    "math.square",
    "math.sqrt",
    "math.rsqrt",
    "math.exp",
    "math.tanh",
    "math.sigmoid",
    "math.sin",
    "math.cos",
    "math.pow",
    "math.erf",
    "nn.relu",
    "nn.relu6",
    "nn.elu",
    "nn.selu",
    "nn.gelu",
    "nn.silu",
    "nn.swish",
    "nn.leaky_relu",
    "nn.softplus",
    "nn.sigmoid",
    "identity",
    "cast",
    "clip_by_value",
}


def tf_op(layer, inputs, ctx):
    """TFOpLambda: element-wise TensorFlow ops with tensors and scalar constants."""
    fn = layer.get_config().get("function", "")
    others = [
        v
        for v in tf.nest.flatten((ctx.node.call_args, ctx.node.call_kwargs))
        if not hasattr(v, "_keras_history")
    ]
    scalar = all(
        v is None or isinstance(v, (numbers.Number, str, bool)) or np.size(v) == 1 for v in others
    )
    if fn not in ELEMENTWISE_OPS:
        if ctx.path in ctx.exclude:
            return pin(layer, inputs, ctx)
        raise refuse(layer, ctx)
    if not scalar:
        return pin(layer, inputs, ctx)
    ctx.note(inputs[0], f"applies tf.{fn} element-wise")
    return [merge_inputs(inputs, ctx) if len(inputs) > 1 else inputs[0]]

