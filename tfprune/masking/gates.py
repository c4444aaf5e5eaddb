"""When a pruning wrapper gathers statistics during training.

A data criterion's statistics only serve the mask updates still to come: after the
schedule's last update (:func:`tfprune.core.schedules.last_update`) none is gathered, and a
criterion with ``train_every > 1`` (hrank: SVDs per sample) gathers on every
``train_every``-th step only. Gates are bool tensors evaluated inside the training step;
``None`` means always gather (while calibrating, under a distribution strategy where no
collective may sit inside a conditional, and for schedules with no last update).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["gated", "until_last_update", "every_nth_step"]


def gated(gate, fn, *args):
    """``fn(*args)`` (its ops), run only where ``gate`` is True (always if ``gate`` is None).

    Example:
        >>> v = tf.Variable(0.0)
        >>> _ = gated(tf.constant(False), lambda: [v.assign_add(1.0)])
        >>> _ = gated(None, lambda: [v.assign_add(2.0)])
        >>> float(v.numpy())
        2.0
    """
    if gate is None:
        return fn(*args)

    def run():
        ops = fn(*args)
        with tf.control_dependencies([op for op in tf.nest.flatten(ops) if op is not None]):
            return tf.constant(True)

    return [tf.cond(gate, run, lambda: tf.constant(False))]


def _always(wrapper) -> bool:
    """No gating: while calibrating (``observing``) and under a distribution strategy."""
    return wrapper.observe or tf.distribute.has_strategy()


def until_last_update(wrapper):
    """True while a mask update of ``wrapper``'s schedule can still come, or None.

    The last update is computed once per wrapper (:meth:`PruningWrapper.last_update`:
    ``schedules.last_update`` evaluates the schedule over many steps).
    """
    if _always(wrapper):
        return None
    last = wrapper.last_update()
    if last is None:
        return None
    return tf.less(wrapper.pruning_step, np.int64(last))


def every_nth_step(wrapper, gate):
    """``gate``, and for a criterion with ``train_every > 1`` only every ``train_every``-th
    training step: its statistic is an average that a sample of the steps estimates, at a
    fraction of the cost. Never while calibrating."""
    every = int(wrapper.criterion.train_every)
    if every <= 1 or _always(wrapper):
        return gate
    # the step counter is already advanced here: training steps 0, every, 2*every, ...
    due = tf.equal(tf.math.floormod(wrapper.pruning_step - 1, every), 0)
    return due if gate is None else tf.logical_and(gate, due)
