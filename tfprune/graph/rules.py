"""The registry of channel rules behind ``register_rule``, and the default table.

A rule is ``rule(layer, inputs, ctx) -> outputs`` (see
:class:`tfprune.graph.build.Context`). Rules are matched on the layer's class
hierarchy, most specific first, so a rule for ``Conv2D`` also serves a subclass
unless the subclass has its own. The built-in rules, one per layer family, are in
:mod:`tfprune.graph.layer_rules` (their names stay importable from here). All rules assume
channels_last.

Example:
    >>> RULES[keras.layers.Dense] is conv
    True
"""

from __future__ import annotations

from tfprune import errors
from tfprune.compat import keras
from tfprune.graph.layer_rules import (
    activation,
    attention,
    batch_norm,
    concatenate,
    conv,
    conv_transpose,
    depthwise,
    embedding,
    flatten,
    layer_norm,
    layer_scale,
    merge,
    passthrough,
    permute,
    pin,
    prelu,
    refuse,
    rescaling,
    reshape,
    scaled_add,
    separable,
    softmax,
    spatial,
    tf_op,
)

__all__ = ["register_rule", "passthrough", "pin", "apply", "attention", "embedding", "RULES"]

L = keras.layers
RULES: dict = {}


def register_rule(layer_class: type, rule) -> None:
    """Register how ``layer_class`` (and its subclasses) maps channels.

    Args:
        layer_class: a Keras layer class.
        rule: ``rule(layer, inputs, ctx) -> outputs``; use :func:`passthrough`
            for element-wise layers and :func:`pin` for layers that mix channels.

    Raises:
        ConfigError: ``layer_class`` is not a layer class or ``rule`` not callable.

    Example:
        >>> class Scale(keras.layers.Layer):
        ...     def call(self, x):
        ...         return 2.0 * x
        >>> register_rule(Scale, passthrough)
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, L.Layer)):
        raise errors.ConfigError(f"register_rule: {layer_class!r} is not a tf_keras layer class.")
    if not callable(rule):
        raise errors.ConfigError(f"register_rule: rule for {layer_class.__name__} is not callable.")
    RULES[layer_class] = rule


def apply(layer, inputs, ctx):
    """Run the rule for ``layer`` (most specific class first)."""
    excluded = ctx.path in ctx.exclude
    for klass in type(layer).__mro__:
        if klass in RULES:
            outs = RULES[klass](layer, inputs, ctx)
            if excluded:
                for a in outs:
                    ctx.pin(a, f"excluded layer {ctx.path!r}")
            return outs
    if excluded:
        return pin(layer, inputs, ctx)
    raise refuse(layer, ctx)


_DEFAULTS = {
    L.Conv1D: conv,
    L.Conv2D: conv,
    L.Conv3D: conv,
    L.Dense: conv,
    L.Conv1DTranspose: conv_transpose,
    L.Conv2DTranspose: conv_transpose,
    L.Conv3DTranspose: conv_transpose,
    L.DepthwiseConv1D: depthwise,
    L.DepthwiseConv2D: depthwise,
    L.SeparableConv1D: separable,
    L.SeparableConv2D: separable,
    L.BatchNormalization: batch_norm,
    L.LayerNormalization: layer_norm,
    L.PReLU: prelu,
    L.Activation: activation,
    L.Softmax: softmax,
    L.Flatten: flatten,
    L.Reshape: reshape,
    L.Permute: permute,
    L.Concatenate: concatenate,
    L.Rescaling: rescaling,
    L.Normalization: pin,
    L.MultiHeadAttention: attention,
    L.Embedding: embedding,
}
for _cls in (
    L.ReLU,
    L.LeakyReLU,
    L.ELU,
    L.ThresholdedReLU,
    L.Dropout,
    L.SpatialDropout1D,
    L.SpatialDropout2D,
    L.SpatialDropout3D,
    L.GaussianNoise,
    L.GaussianDropout,
    L.AlphaDropout,
    L.ActivityRegularization,
):
    _DEFAULTS[_cls] = passthrough
for _cls in (
    L.MaxPooling1D,
    L.MaxPooling2D,
    L.MaxPooling3D,
    L.AveragePooling1D,
    L.AveragePooling2D,
    L.AveragePooling3D,
    L.GlobalMaxPooling1D,
    L.GlobalMaxPooling2D,
    L.GlobalMaxPooling3D,
    L.GlobalAveragePooling1D,
    L.GlobalAveragePooling2D,
    L.GlobalAveragePooling3D,
    L.ZeroPadding1D,
    L.ZeroPadding2D,
    L.ZeroPadding3D,
    L.Cropping1D,
    L.Cropping2D,
    L.Cropping3D,
    L.UpSampling1D,
    L.UpSampling2D,
    L.UpSampling3D,
):
    _DEFAULTS[_cls] = spatial
for _cls in (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum):
    _DEFAULTS[_cls] = merge
# Layers that mix channels (recurrent layers and their wrappers included: LSTM/GRU/SimpleRNN/
# ConvLSTM derive from RNN): their input and output channels are kept; others are pruned.
for _name in ("RNN", "Bidirectional", "TimeDistributed", "Attention", "AdditiveAttention",
              "GroupNormalization", "UnitNormalization", "Masking", "Dot"):
    if hasattr(L, _name):
        _DEFAULTS[getattr(L, _name)] = pin
for _name in ("RepeatVector", "Identity"):  # the last axis passes through unchanged
    if hasattr(L, _name):
        _DEFAULTS[getattr(L, _name)] = passthrough
try:
    from tf_keras.src.applications.convnext import LayerScale
    from tf_keras.src.applications.inception_resnet_v2 import CustomScaleLayer
    from tf_keras.src.layers.core.tf_op_layer import TFOpLambda

    _DEFAULTS[LayerScale] = layer_scale
    _DEFAULTS[CustomScaleLayer] = scaled_add
    _DEFAULTS[TFOpLambda] = tf_op
except ImportError:  # pragma: no cover - tf_keras layout changed
    pass
RULES.update(_DEFAULTS)
