"""Filter criteria: l1, l2 (per weight, reduced over a channel's slices), fpgm (per
channel by nature) and bn_scale (the BatchNormalization gamma of a group).

At ``granularity="channel"`` the group reduction in
:mod:`tfprune.core.criteria.grouping` turns the per-weight scores of l1/l2 into filter
norms: ``sum_i |W[i, c]|`` and ``sum_i W[i, c]^2`` (the squared L2 norm: same ranking).
"""

from __future__ import annotations

import tensorflow as tf

from tfprune import errors
from tfprune.core.criteria.base import Criterion, register_criterion

__all__ = ["L1", "L2", "FPGM", "BNScale", "fpgm"]

_FILTER = ("channel", "weight", "n:m", "block", "head")


def _channels_last(weight, axis):
    w = tf.cast(weight, tf.float32)
    if w.shape.rank == 0:
        raise errors.ConfigError("channel scores need a weight with at least one axis.")
    if axis is None or axis % w.shape.rank == w.shape.rank - 1:
        return w
    return tf.experimental.numpy.moveaxis(w, axis, -1)


def fpgm(kernel, axis: int = -1) -> tf.Tensor:
    """Filter Pruning via Geometric Median: ``s_c = sum_j ||W[:, c] - W[:, j]||_2``.

    Example:
        >>> fpgm(tf.constant([[0., 1., 5.]])).numpy()
        array([6., 5., 9.], dtype=float32)
    """
    w = _channels_last(kernel, axis)
    w = tf.transpose(tf.reshape(w, [-1, tf.shape(w)[-1]]))  # [out, features]
    sq = tf.reduce_sum(tf.square(w), axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * tf.matmul(w, w, transpose_b=True)
    return tf.reduce_sum(tf.sqrt(tf.maximum(d2, 0.0)), axis=1)


@register_criterion("l1")
class L1(Criterion):
    """L1 filter norm: per weight ``|w|``; per channel ``s_c = sum_i |W[i, c]|``.

    Default granularity ``"channel"`` (filter pruning); at ``"weight"`` it ranks
    like ``magnitude``.

    References:
        Li, Kadav, Durdanovic, Samet, Graf. Pruning Filters for Efficient ConvNets.
        ICLR 2017.

    Example:
        >>> L1().score(tf.constant([[1., -2.], [3., 0.]]), {}).numpy()
        array([[1., 2.],
               [3., 0.]], dtype=float32)
    """

    granularities = _FILTER

    def score(self, weight, stats):
        return tf.abs(tf.cast(weight, tf.float32))


@register_criterion("l2")
class L2(Criterion):
    """L2 filter norm: per weight ``w^2``; per channel ``s_c = sum_i W[i, c]^2``.

    Example:
        >>> L2().score(tf.constant([[3., 0.], [4., 1.]]), {}).numpy()
        array([[ 9.,  0.],
               [16.,  1.]], dtype=float32)
    """

    granularities = _FILTER

    def score(self, weight, stats):
        return tf.square(tf.cast(weight, tf.float32))


@register_criterion("fpgm")
class FPGM(Criterion):
    """Distance to the other filters: ``s_c = sum_j ||W[:, c] - W[:, j]||_2``.

    Filters near the geometric median are replaceable and score low. Channel
    granularity only; ``stats["axis"]`` is the weight's channel axis.

    References:
        He, Liu, Wang, Hu, Yang. Filter Pruning via Geometric Median for Deep
        Convolutional Neural Networks Acceleration. CVPR 2019.

    Example:
        >>> FPGM().score(tf.constant([[0., 1., 5.]]), {}).numpy()
        array([6., 5., 9.], dtype=float32)
    """

    per_channel = True
    granularities = ("channel",)

    def score(self, weight, stats):
        return fpgm(weight, stats.get("axis", -1))


@register_criterion("bn_scale")
class BNScale(Criterion):
    """Network slimming: ``s_c = |gamma_c|`` of the group's BatchNormalization layers.

    Channel granularity only: it scores the ``gamma`` members of a dependency group
    (groups without one are scored by the l1 norm of their filters, with a warning).

    References:
        Liu et al. Learning Efficient Convolutional Networks through Network
        Slimming. ICCV 2017.

    Example:
        >>> BNScale().score(tf.constant([-.5, 2.]), {}).numpy()
        array([0.5, 2. ], dtype=float32)
    """

    granularities = ("channel",)
    score_roles = ("affine",)

    def score(self, weight, stats):
        return tf.abs(tf.cast(weight, tf.float32))
