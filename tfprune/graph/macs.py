"""Multiply-accumulate count of the layers that dominate inference cost."""

from __future__ import annotations

import tensorflow as tf

from tfprune import layers
from tfprune.compat import keras
from tfprune.graph.keras_nodes import nodes

__all__ = ["count_macs"]


def _layer_macs(layer, in_shape, out_shape) -> int:
    return sum(m for m, _ in layers.layer_macs(layer, in_shape, out_shape))


def count_macs(model) -> int:
    """Multiply-accumulates of one sample, counted per call (shared layers count per use).

    The per-layer rule is :func:`tfprune.layers.layer_macs` (the one MAC rule of
    tfprune); nested models are included.

    Example:
        >>> m = keras.Sequential([keras.layers.Conv2D(8, 3, input_shape=(6, 6, 2))])
        >>> count_macs(m)  # 4*4 positions * 3*3*2*8
        2304
    """
    total = 0
    for node in nodes(model):
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
