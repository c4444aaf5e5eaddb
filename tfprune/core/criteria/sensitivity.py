"""The measured criterion: how much the loss grows when one channel (or head) is removed.

``s_c = L(model with channel c of the group removed everywhere it lives) - L(model)``
on calibration data: the sensitivity-based pruning of the literature, measured exactly
instead of approximated to first (Taylor) or second order (OBD). The statistic
``loss_delta`` is measured at the model level (it needs the whole model) by
:class:`tfprune.measure.probe.ChannelProbe` when ``one_shot``/``structured.plan`` choose
the masks, and handed to :meth:`Sensitivity.score` per producer weight like any other
statistic; the group reduction is the usual one (:mod:`tfprune.core.criteria.grouping`).

At head granularity the unit is one head of a ``MultiHeadAttention`` (all its slices), the
group a layer's heads.

Cost: one evaluation of the model on the calibration samples per channel of every
prunable group (per head of every attention layer at head granularity) (e.g. the demo CNN's 224 channels on 256 samples: 224 evaluations).
Bound it with ``max_samples`` (default 256) and
``one_shot(data=tfprune.Calibration(..., max_batches=...))``.
"""

from __future__ import annotations

import tensorflow as tf

from tfprune import errors
from tfprune.core.criteria.base import Criterion, register_criterion

__all__ = ["Sensitivity"]


@register_criterion("sensitivity")
class Sensitivity(Criterion):
    """Measured loss increase of removing each channel alone; shape ``[channels]``.

    ``stats["loss_delta"]``: per output position of the weight (or ``{axis: vector}``);
    larger = the loss grows more without the channel = keep. A channel is removed from
    every member of its dependency group (producer kernel and bias, BatchNormalization,
    depthwise slices, consumers' input slices) while the loss is measured, so a coupled
    layer is never measured alone. At ``granularity="head"`` the unit is one head of a
    ``MultiHeadAttention`` (its query/key/value kernel and bias slices and its
    output-projection slice removed together): ``s_h = L(without head h) - L(model)``.

    Without a measured ``loss_delta`` (a wrapper reloaded from a file, whose masks are
    re-chosen at the same sparsity while fine-tuning) the score is the filter's L1 norm;
    removed channels score ``-inf`` in the group code, so the kept channels stay those
    that were measured.

    Through ``prune`` (masks updated by a schedule while training) the criterion carries
    its own calibration data: ``Sensitivity(data=(x, y))``. At every mask update the
    loss increases are measured again on the model's current weights (one evaluation
    per channel or head per update). The data is not saved with the model: a reloaded
    model keeps its kept channels (see above).

    Args:
        max_samples: calibration samples used for the measurement (the cost is one
            evaluation on them per channel).
        data: calibration ``(x, y)`` for ``prune(criterion=Sensitivity(data=...))``;
            ``one_shot`` and ``structured.plan`` take ``data=`` themselves.
        loss: the loss to measure (default: the model's compiled loss).

    References:
        Mozer, Smolensky. Skeletonization: A Technique for Trimming the Fat from a
        Network via Relevance Assessment. NeurIPS 1988.
        Molchanov et al. Importance Estimation for Neural Network Pruning. CVPR 2019
        (the measured "oracle" that Taylor approximates).

    Example:
        >>> s = Sensitivity().score(tf.zeros([3, 2]), {"loss_delta": [0.5, -0.1], "axis": -1})
        >>> s.numpy()
        array([ 0.5, -0.1], dtype=float32)
    """

    needs = frozenset({"loss_delta"})
    per_channel = True
    granularities = ("channel", "head")
    #: the loss needs calibration data with labels (``one_shot(data=(x, y))``)
    needs_data = True
    needs_labels = True
    #: measured by the pruner on the whole model, not gathered inside the wrapper
    measured = True

    def __init__(self, max_samples: int = 256, *, data=None, loss=None):
        if (isinstance(max_samples, bool) or not isinstance(max_samples, int)
                or max_samples < 8):
            raise errors.ConfigError(
                f"Sensitivity: max_samples must be an int >= 8, got max_samples={max_samples!r}.")
        if data is not None and not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise errors.ConfigError(
                "Sensitivity: data must be calibration (x, y) (labels: the loss is measured), "
                f"got {type(data).__name__}.")
        self.max_samples = max_samples
        self.data = data
        self.loss = loss

    def score(self, weight, stats):
        delta = stats.get("loss_delta")
        w = tf.convert_to_tensor(weight)
        axis = int(stats.get("axis", -1) if stats.get("axis") is not None else -1) % w.shape.rank
        if isinstance(delta, dict):
            delta = delta.get(axis)
        if delta is None:  # not measured: keep what is kept (see the class docstring)
            others = [a for a in range(w.shape.rank) if a != axis]
            return tf.reduce_sum(tf.abs(tf.cast(w, tf.float32)), axis=others)
        return tf.convert_to_tensor(delta, tf.float32)

    def get_config(self):
        return {"max_samples": self.max_samples}
