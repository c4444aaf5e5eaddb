"""Activation criteria: one score per output channel/unit (channel granularity only).

The wrapper records channel statistics of the layer's output (channels last) in
training calls or from calibration data (``one_shot(data=...)``). Entries ``<= 0``
count as zeros: they are the zeros after the layer's ReLU, or after a ReLU that
directly follows a linear layer.
"""

from __future__ import annotations

import tensorflow as tf

from tfprune.core.criteria.base import Criterion, register_criterion

__all__ = ["APoZ", "MeanActivation", "HRank"]


@register_criterion("apoz")
class APoZ(Criterion):
    """Average Percentage of Zeros: ``s_c = 1 - mean(a_c <= 0)``; shape ``[channels]``.

    References:
        Hu, Peng, Tai, Tang. Network Trimming: A Data-Driven Neuron Pruning Approach
        towards Efficient Deep Architectures. arXiv:1607.03250, 2016.

    Example:
        >>> APoZ().score(tf.zeros([3, 2]), {"act_zero": tf.constant([.75, .25])}).numpy()
        array([0.25, 0.75], dtype=float32)
    """

    needs = frozenset({"act_zero"})
    per_channel = True
    granularities = ("channel",)

    def score(self, weight, stats):
        return 1.0 - tf.convert_to_tensor(stats["act_zero"], tf.float32)


@register_criterion("mean_activation")
class MeanActivation(Criterion):
    """Mean activation magnitude per channel: ``s_c = mean |a_c|``; shape ``[channels]``.

    References:
        Molchanov et al. Pruning Convolutional Neural Networks for Resource Efficient
        Inference. ICLR 2017 (the mean-activation baseline).

    Example:
        >>> MeanActivation().score(tf.zeros([3, 2]), {"act_mean": tf.constant([.5, 2.])}).numpy()
        array([0.5, 2. ], dtype=float32)
    """

    needs = frozenset({"act_mean"})
    per_channel = True
    granularities = ("channel",)

    def score(self, weight, stats):
        return tf.convert_to_tensor(stats["act_mean"], tf.float32)


@register_criterion("hrank")
class HRank(Criterion):
    """HRank: mean rank of each channel's ``H x W`` feature map; shape ``[channels]``.

    Any producer whose output is a feature map (rank 4) or a vector (a vector's
    "rank" is 1 where the unit is non-zero, 0 where it is zero). The rank is computed
    by SVD per sample and channel. Lin et al. show the mean rank is stable from a few
    hundred images, so during ``fit`` it is estimated on the first ``train_samples``
    samples of every ``train_every``-th step (a few percent of an epoch's cost instead
    of several times it); ``one_shot(data=...)`` uses every calibration sample.

    References:
        Lin et al. HRank: Filter Pruning using High-Rank Feature Map. CVPR 2020.

    Example:
        >>> HRank().score(tf.zeros([3, 3, 1, 2]), {"act_rank": tf.constant([4., 1.])}).numpy()
        array([4., 1.], dtype=float32)
    """

    needs = frozenset({"act_rank"})
    per_channel = True
    granularities = ("channel",)
    #: during fit: ranks of the first ``train_samples`` samples of every ``train_every``-th step
    train_samples = 8
    train_every = 4

    def score(self, weight, stats):
        return tf.convert_to_tensor(stats["act_rank"], tf.float32)
