"""Multiply-accumulate count of the layers that dominate inference cost."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune.compat import keras

__all__ = ["count_macs"]

L = keras.layers


def _prod(shape) -> int:
    return int(np.prod([d for d in shape if d is not None] or [1]))


def _layer_macs(layer, in_shape, out_shape) -> int:
    if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
        return _prod(in_shape[1:]) * _prod(layer.kernel.shape[:-1])
    if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        dw = _prod(layer.depthwise_kernel.shape)
        pw = _prod(layer.pointwise_kernel.shape)
        return _prod(out_shape[1:-1]) * (dw + pw)
    if isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        return _prod(out_shape[1:-1]) * _prod(layer.depthwise_kernel.shape)
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D, L.Dense)):
        return _prod(out_shape[1:-1]) * _prod(layer.kernel.shape)
    return 0


def count_macs(model) -> int:
    """Multiply-accumulates of one sample through Conv, Dense, depthwise and separable layers.

    ``MACs(conv) = H_out * W_out * k_h * k_w * C_in/groups * C_out``, Dense
    ``= C_in * C_out`` (times any leading axes), nested models included;
    element-wise layers, normalization and pooling are not counted.

    Example:
        >>> m = keras.Sequential([keras.layers.Conv2D(8, 3, input_shape=(6, 6, 2))])
        >>> count_macs(m)  # 4*4 positions * 3*3*2*8
        2304
    """
    total = 0
    for depth in model._nodes_by_depth:
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            if isinstance(layer, keras.Model):
                total += count_macs(layer)
                continue
            ins = node.keras_inputs
            outs = tf.nest.flatten(node.outputs)
            if not ins or not outs:
                continue
            total += _layer_macs(layer, tuple(ins[0].shape), tuple(outs[0].shape))
    return int(total)
