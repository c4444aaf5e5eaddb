"""Gradient criteria: Taylor, OBD, SNIP, movement. Scores have the weight's shape.

The statistics are gathered by the wrapper's gradient tap (:mod:`tfprune.masking.stats`) in
every training step, or from calibration batches by ``one_shot(data=tfprune.Calibration(..., loss=...))``;
``stats[...]`` holds their mean over the recorded steps.
"""

from __future__ import annotations

import tensorflow as tf

from tfprune.core.criteria.base import Criterion, register_criterion

__all__ = ["Taylor", "OBD", "SNIP", "Movement"]


@register_criterion("taylor")
class Taylor(Criterion):
    """First-order Taylor importance accumulated over steps: ``s = mean_t |g_t * w_t|``.

    References:
        Molchanov, Tyree, Karras, Aila, Kautz. Pruning Convolutional Neural Networks
        for Resource Efficient Inference. ICLR 2017; Molchanov et al. Importance
        Estimation for Neural Network Pruning. CVPR 2019.

    Example:
        >>> Taylor().score(tf.constant([1., -2.]), {"abs_grad_weight": tf.constant([.5, .1])}).numpy()
        array([0.5, 0.1], dtype=float32)
    """

    needs = frozenset({"abs_grad_weight"})

    def score(self, weight, stats):
        return tf.convert_to_tensor(stats["abs_grad_weight"], tf.float32)


@register_criterion("obd")
class OBD(Criterion):
    """Optimal Brain Damage with the diagonal Fisher: ``s = 1/2 * w^2 * E[g^2]``.

    References:
        LeCun, Denker, Solla. Optimal Brain Damage. NeurIPS 1989.

    Example:
        >>> OBD().score(tf.constant([2., 1.]), {"grad_sq": tf.constant([1., 4.])}).numpy()
        array([2., 2.], dtype=float32)
    """

    needs = frozenset({"grad_sq"})

    def score(self, weight, stats):
        w = tf.cast(weight, tf.float32)
        return 0.5 * tf.square(w) * tf.convert_to_tensor(stats["grad_sq"], tf.float32)


@register_criterion("snip")
class SNIP(Criterion):
    """Connection sensitivity: ``s = |g * w|`` with ``g`` the gradient of the loss over the
    calibration batches (mean over the recorded steps).

    Meant for ``one_shot(data=...)`` at initialisation or before fine-tuning. In
    ``fit`` it uses the mean gradient since training began.

    References:
        Lee, Ajanthan, Torr. SNIP: Single-shot Network Pruning based on Connection
        Sensitivity. ICLR 2019.

    Example:
        >>> SNIP().score(tf.constant([2., -1.]), {"grad": tf.constant([-1., 3.])}).numpy()
        array([2., 3.], dtype=float32)
    """

    needs = frozenset({"grad"})

    def score(self, weight, stats):
        return tf.abs(tf.cast(weight, tf.float32) * tf.convert_to_tensor(stats["grad"], tf.float32))


@register_criterion("movement")
class Movement(Criterion):
    """Movement pruning: ``s = -mean_t w_t * g_t`` (weights moving away from zero score high).

    References:
        Sanh, Wolf, Rush. Movement Pruning: Adaptive Sparsity by Fine-Tuning.
        NeurIPS 2020.

    Example:
        >>> Movement().score(tf.constant([1.]), {"movement": tf.constant([-.3])}).numpy()
        array([-0.3], dtype=float32)
    """

    needs = frozenset({"movement"})

    def score(self, weight, stats):
        return tf.convert_to_tensor(stats["movement"], tf.float32)
