"""Per-output-channel scores as pure tensor functions: ``kernel -> [out_channels]``.

The output-channel axis is the LAST axis of ``kernel`` (Keras' layout for Conv
and Dense kernels). Larger score = more important.

Example:
    >>> import numpy as np
    >>> l1(np.array([[1., -2.], [3., 0.]])).numpy()
    array([4., 2.], dtype=float32)
"""

from __future__ import annotations

import tensorflow as tf

from tfprune import errors

__all__ = ["l1", "l2", "fpgm", "bn_scale", "SCORES", "get"]


def _matrix(kernel) -> tf.Tensor:
    k = tf.convert_to_tensor(kernel, tf.float32)
    if k.shape.rank == 0:
        raise errors.ConfigError("channel scores need a kernel with at least one axis.")
    return tf.reshape(k, [-1, tf.shape(k)[-1]])


def l1(kernel) -> tf.Tensor:
    """L1 norm of each output filter: ``s_c = sum_i |W[i, c]|``.

    Example:
        >>> l1([[1., -1.], [2., 0.]]).numpy()
        array([3., 1.], dtype=float32)
    """
    return tf.reduce_sum(tf.abs(_matrix(kernel)), axis=0)


def l2(kernel) -> tf.Tensor:
    """L2 norm of each output filter: ``s_c = sqrt(sum_i W[i, c]^2)``.

    Example:
        >>> l2([[3., 0.], [4., 1.]]).numpy()
        array([5., 1.], dtype=float32)
    """
    return tf.sqrt(tf.reduce_sum(tf.square(_matrix(kernel)), axis=0))


def fpgm(kernel) -> tf.Tensor:
    """Filter Pruning via Geometric Median: ``s_c = sum_j ||W[:, c] - W[:, j]||_2``.

    A filter close to all others (near the geometric median) is redundant and
    scores low.

    References:
        He et al., "Filter Pruning via Geometric Median for Deep CNN
        Acceleration", CVPR 2019.

    Example:
        >>> fpgm([[0., 1., 5.]]).numpy()
        array([6., 5., 9.], dtype=float32)
    """
    w = tf.transpose(_matrix(kernel))  # [out, features]
    sq = tf.reduce_sum(tf.square(w), axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * tf.matmul(w, w, transpose_b=True)
    return tf.reduce_sum(tf.sqrt(tf.maximum(d2, 0.0)), axis=1)


def bn_scale(gamma) -> tf.Tensor:
    """Network slimming: ``s_c = |gamma_c|`` of the BatchNormalization after the filter.

    References:
        Liu et al., "Learning Efficient Convolutional Networks through Network
        Slimming", ICCV 2017.

    Example:
        >>> bn_scale([0.5, -2.0]).numpy()
        array([0.5, 2. ], dtype=float32)
    """
    return tf.abs(tf.reshape(tf.convert_to_tensor(gamma, tf.float32), [-1]))


SCORES = {"l1": l1, "l2": l2, "fpgm": fpgm, "bn_scale": bn_scale}


def get(name):
    """Look up a score function by name, or pass a callable through.

    Example:
        >>> get("l2") is l2
        True
    """
    if callable(name):
        return name
    if name not in SCORES:
        raise errors.unknown_name("criterion", name, SCORES)
    return SCORES[name]
