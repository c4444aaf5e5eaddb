"""BatchNormalization-folded weight scores for one global ranking.

A layer followed by BatchNormalization has weights of arbitrary scale: BN divides its
output by the batch's standard deviation, so ``w`` and ``0.01 * w`` compute the same
network. A global magnitude ranking across such layers compares numbers that mean
nothing (on a DS-CNN, 50 % global magnitude removed 99.4 % of the first convolution and
the network fell to chance). The weight that acts is ``w * gamma / sqrt(var + eps)``: a
criterion whose scores scale like ``|w| ** p`` (``Criterion.weight_power = p``) is
ranked on that folded weight in ``scope="global"``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune.compat import keras

__all__ = ["bn_factors", "output_layout", "fold_scores"]


def bn_factors(wrapper) -> np.ndarray | None:
    """Per-output-channel ``|gamma| / sqrt(moving_variance + epsilon)`` of the
    BatchNormalization that is the only consumer of ``wrapper``, or None.

    Example:
        >>> import tfprune
        >>> i = keras.Input((4,))
        >>> m = keras.Model(i, keras.layers.BatchNormalization(epsilon=0.0)(
        ...     keras.layers.Dense(2, name="d")(i)))
        >>> p = tfprune.prune(m, sparsity=0.5, scope="global")
        >>> bn_factors(p.get_layer("prune_d"))
        array([1., 1.], dtype=float32)
    """
    consumers = {id(n.outbound_layer): n.outbound_layer
                 for n in getattr(wrapper, "_outbound_nodes", [])}
    if len(consumers) != 1:
        return None
    bn = next(iter(consumers.values()))
    if not isinstance(bn, keras.layers.BatchNormalization) or len(bn.axis) != 1:
        return None
    var = bn.moving_variance.numpy().astype(np.float32)
    gamma = np.abs(bn.gamma.numpy()).astype(np.float32) if bn.scale else np.ones_like(var)
    return gamma / np.sqrt(var + np.float32(bn.epsilon))


def output_layout(layer, weight_name: str) -> str | None:
    """Where a prunable weight keeps its output channels: ``"last"`` (Dense, Conv*,
    SeparableConv's pointwise kernel), ``"second_last"`` (Conv*Transpose: ``[..., out, in]``),
    ``"depthwise"`` (``[..., in, multiplier]``), or None (not a kernel: no folding).

    Example:
        >>> output_layout(keras.layers.Conv2DTranspose(4, 3), "kernel")
        'second_last'
    """
    leaf = weight_name.split("/")[-1].split(":")[0]
    if leaf == "depthwise_kernel":
        depthwise = isinstance(layer, (keras.layers.DepthwiseConv2D,
                                       getattr(keras.layers, "DepthwiseConv1D", ())))
        return "depthwise" if depthwise else None  # SeparableConv: BN follows the pointwise
    if leaf not in ("kernel", "pointwise_kernel"):
        return None
    transposed = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                  keras.layers.Conv3DTranspose)
    return "second_last" if isinstance(layer, transposed) else "last"


def fold_scores(scores, factors, power: float, layout: str = "last") -> tf.Tensor:
    """``scores * factors ** power`` along the output channels of a kernel's scores
    (``layout`` from :func:`output_layout`); unchanged when the shapes do not match.

    Example:
        >>> fold_scores(tf.ones([2, 3]), np.array([1., 2., 4.], np.float32), 1).numpy()
        array([[1., 2., 4.],
               [1., 2., 4.]], dtype=float32)
    """
    shape = scores.shape.as_list()
    f = np.asarray(factors, np.float32) ** power
    if layout == "last" and shape and shape[-1] == f.size:
        return scores * f
    if layout == "second_last" and len(shape) >= 2 and shape[-2] == f.size:
        return scores * f[:, None]
    if layout == "depthwise" and len(shape) >= 2 and shape[-1] * shape[-2] == f.size:
        return scores * f.reshape(shape[-2], shape[-1])
    return scores
