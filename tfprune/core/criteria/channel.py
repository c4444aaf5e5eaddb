"""Per-output-channel weight criteria: l1, l2, fpgm, bn_scale; shape ``[channels]``.

The math is :mod:`tfprune.core.criteria.channel_scores` (shared with structured surgery); these
classes put it behind the Criterion contract, moving the output-channel axis last
(``stats["axis"]``: -2 for ConvTranspose kernels).
"""

from __future__ import annotations

import tensorflow as tf

from tfprune.core.criteria import channel_scores
from tfprune.core.criteria.base import Criterion, register_criterion

__all__ = ["L1", "L2", "FPGM", "BNScale"]


def _channels_last(weight, stats):
    w = tf.cast(weight, tf.float32)
    axis = stats.get("axis", -1)
    if axis is None or axis % w.shape.rank == w.shape.rank - 1:
        return w
    return tf.experimental.numpy.moveaxis(w, axis, -1)


@register_criterion("l1")
class L1(Criterion):
    """L1 norm of each output filter/unit: ``s_c = sum_i |W[i, c]|``.

    References:
        Li, Kadav, Durdanovic, Samet, Graf. Pruning Filters for Efficient ConvNets.
        ICLR 2017.

    Example:
        >>> L1().score(tf.constant([[1., -2.], [3., 0.]]), {}).numpy()
        array([4., 2.], dtype=float32)
    """

    per_channel = True

    def score(self, weight, stats):
        return channel_scores.l1(_channels_last(weight, stats))


@register_criterion("l2")
class L2(Criterion):
    """L2 norm of each output filter/unit: ``s_c = sqrt(sum_i W[i, c]^2)``.

    Example:
        >>> L2().score(tf.constant([[3., 0.], [4., 1.]]), {}).numpy()
        array([5., 1.], dtype=float32)
    """

    per_channel = True

    def score(self, weight, stats):
        return channel_scores.l2(_channels_last(weight, stats))


@register_criterion("fpgm")
class FPGM(Criterion):
    """Distance to the other filters: ``s_c = sum_j ||W[:, c] - W[:, j]||_2``.

    Filters near the geometric median are replaceable and score low.

    References:
        He, Liu, Wang, Hu, Yang. Filter Pruning via Geometric Median for Deep
        Convolutional Neural Networks Acceleration. CVPR 2019.

    Example:
        >>> FPGM().score(tf.constant([[0., 1., 5.]]), {}).numpy()
        array([6., 5., 9.], dtype=float32)
    """

    per_channel = True

    def score(self, weight, stats):
        return channel_scores.fpgm(_channels_last(weight, stats))


@register_criterion("bn_scale")
class BNScale(Criterion):
    """Network slimming: ``s_c = |gamma_c|`` of the BatchNormalization that follows.

    References:
        Liu et al. Learning Efficient Convolutional Networks through Network
        Slimming. ICCV 2017.

    Example:
        >>> BNScale().score(tf.zeros([2, 2]), {"bn_gamma": tf.constant([-.5, 2.])}).numpy()
        array([0.5, 2. ], dtype=float32)
    """

    needs = frozenset({"bn_gamma"})
    per_channel = True

    def score(self, weight, stats):
        return channel_scores.bn_scale(stats["bn_gamma"])
