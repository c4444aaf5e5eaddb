"""When a :class:`tfprune.masking.wrapper.PruningWrapper` advances its step and re-masks.

The wrapper's half of TF-MOT's ``PruneLowMagnitude.call`` (step increment, conditional mask
update, ``weight * mask``), kept apart from the Keras layer glue in :mod:`wrapper`:

* :class:`CriterionPruning`: TF-MOT's ``Pruning`` with the mask of each weight computed by
  the wrapper (``mask_for``, a tfprune criterion), or read as the pruner set it when the
  wrapper's ``update`` is ``"external"``;
* :class:`MaskUpdateMixin`: the step counting (once per training step, shared layers and
  replicas included, eager steps opened by ``begin_step``), the schedule's last update and
  the target sparsity at a step.

Example:
    >>> from tfprune.compat import keras
    >>> from tfprune.core import schedules
    >>> from tfprune.masking.wrapper import PruningWrapper
    >>> w = PruningWrapper(keras.layers.Dense(2), schedules.OneShot(0.5, step=3))
    >>> isinstance(w, MaskUpdateMixin), w.last_update(), w.target_sparsity(3)
    (True, 3, 0.5)
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.keras import utils as tfmot_utils
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_impl

from tfprune.core import schedules as schedules_lib
from tfprune.masking.train_guard import MISSING_CALLBACK_MSG

__all__ = ["CriterionPruning", "MaskUpdateMixin"]


#: graph -> {(wrapper id, thread id)} that already advanced the step in that graph.
_STEPPED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _is_true(training) -> bool:
    value = tf.get_static_value(training) if tf.is_tensor(training) else training
    return bool(value)


class CriterionPruning(pruning_impl.Pruning):
    """TF-MOT's Pruning with the mask computed by a tfprune Criterion (through the wrapper's
    ``mask_for``), or, for an external wrapper, the mask the pruner set.

    Example:
        >>> issubclass(CriterionPruning, pruning_impl.Pruning)
        True
    """

    def __init__(self, *, wrapper, **kwargs):
        super().__init__(**kwargs)
        self._wrapper = wrapper

    def _maybe_update_block_mask(self, weights):
        w = self._wrapper
        idx = next(i for i, (v, _, _) in enumerate(self._pruning_vars) if v is weights)
        _, mask_var, thr_var = self._pruning_vars[idx]
        if w.external:
            return thr_var.read_value(), mask_var.read_value()
        sparsity = self._pruning_schedule(self._step_fn())[1] * w.sparsity_scale
        sparsity = tf.clip_by_value(sparsity, 0.0, 0.9999)
        return w.mask_for(idx, sparsity)


class MaskUpdateMixin:
    """Step counting and mask updates of a pruning wrapper (mixed into ``PruningWrapper``).

    Uses the wrapper's ``pruning_step``, ``pruning_obj``, ``pruning_schedule``,
    ``sparsity_scale`` and ``update``; keeps ``_eager_step_open`` and the schedule's last
    update step (``_last_update``, ``_last_update_known``), set in the wrapper's ``__init__``.

    Example:
        >>> from tfprune.compat import keras
        >>> from tfprune.masking.wrapper import PruningWrapper
        >>> w = PruningWrapper(keras.layers.Dense(2))
        >>> w.begin_step(); w._eager_step_open
        True
        >>> w.end_steps(); w._eager_step_open is None
        True
    """

    _PRUNE_CALLBACK_ERROR_MSG = MISSING_CALLBACK_MSG

    def _tfmot_updates(self, training):
        """The first half of TF-MOT's ``PruneLowMagnitude.call`` (step, masks, w*mask)."""

        def increment_step():
            # checked before the increment: a step without the callback leaves the step
            # at -1, so every later attempt without it fails too (not only the first)
            started = tf.debugging.assert_non_negative(
                self.pruning_step, message=self._PRUNE_CALLBACK_ERROR_MSG)
            with tf.control_dependencies([started]):
                with tf.control_dependencies([self.pruning_step.assign_add(1)]):
                    return tf.no_op("update")

        # A shared layer (called several times in one training step) advances its step
        # once per traced step: only its first call in a graph increments. Under
        # MirroredStrategy every replica traces the step in the same graph, each in its own
        # thread, and each replica must increment its copy: the key is (layer, thread).
        # Eagerly (run_eagerly=True, eager custom loops) there is no graph: begin_step(),
        # called before every step by PruningCallback/before_step, lets only the first
        # training call of the step increment.
        graph = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()
        first_call = True
        if graph is not None:
            seen = _STEPPED.setdefault(graph, set())
            key = (id(self), threading.get_ident())
            first_call = key not in seen
            seen.add(key)
        elif self._eager_step_open is not None and _is_true(training):
            first_call = self._eager_step_open
            self._eager_step_open = False

        def add_update():
            with tf.control_dependencies([tf.debugging.assert_greater_equal(
                    self.pruning_step, np.int64(1), message=self._PRUNE_CALLBACK_ERROR_MSG)]):
                with tf.control_dependencies([self.pruning_obj.conditional_mask_update()]):
                    return tf.no_op("update")

        if first_call:
            self.add_update(tfmot_utils.smart_cond(training, increment_step, tf.no_op))
        self.add_update(tfmot_utils.smart_cond(training, add_update, tf.no_op))
        self.add_update(self.pruning_obj.weight_mask_op())

    def begin_step(self) -> None:
        """A training step starts: in eager calls only its first training call advances the step.

        ``PruningCallback`` and :func:`tfprune.before_step` call it before every step, so a
        layer called several times in one eager step (shared) advances once, as in a graph.
        """
        self._eager_step_open = True

    def end_steps(self) -> None:
        """Training ended: every eager training call advances the step again."""
        self._eager_step_open = None

    def last_update(self) -> int | None:
        """The last step at which the schedule updates masks (None: no last one), computed
        once (:func:`tfprune.core.schedules.last_update`); statistics stop after it.

        Example:
            >>> from tfprune.compat import keras
            >>> from tfprune.core import schedules
            >>> from tfprune.masking.wrapper import PruningWrapper
            >>> PruningWrapper(keras.layers.Dense(2), schedules.OneShot(0.5, step=3)).last_update()
            3
        """
        if not self._last_update_known:
            self._last_update = schedules_lib.last_update(self.pruning_schedule)
            self._last_update_known = True
        return self._last_update

    @property
    def external(self) -> bool:
        """True when the model-level pruner sets this wrapper's masks (``update="external"``:
        a global ranking, or one mask per group at channel/head granularity); False when
        the wrapper re-masks itself in the training step.

        Example:
            >>> from tfprune.compat import keras
            >>> from tfprune.masking.wrapper import PruningWrapper
            >>> PruningWrapper(keras.layers.Dense(2), granularity="channel").external
            True
        """
        return self.update == "external"

    def target_sparsity(self, step) -> float:
        """The sparsity this layer aims for at ``step`` (schedule × sparsity_scale)."""
        s = float(self.pruning_schedule(tf.constant(step, tf.int64))[1]) * self.sparsity_scale
        return float(np.clip(s, 0.0, 0.9999))
