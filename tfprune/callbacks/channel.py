"""Gradual structured (channel) pruning of a plain tf_keras model during ``fit``.

:class:`ChannelPruning` is thin glue over :mod:`tfprune.surgery`: when the schedule
asks, it plans which channels of each dependency group to keep (as
:func:`tfprune.structured.plans` does, on the current weights) and turns the plan into
0/1 masks with the same function :func:`tfprune.structured.apply_masks` uses; after
every optimizer step it re-applies them, so removed channels stay exactly zero and
``tfprune.shrink(model)`` at the end gives the smaller model with equal outputs.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule as _tfmot

from tfprune import errors
from tfprune.masking import pruner
from tfprune import graph as graph_lib
from tfprune.compat import keras
from tfprune.structured import plans as plan_lib
from tfprune.structured import rebuild as rebuild_lib

__all__ = ["ChannelPruning"]


class ChannelPruning(keras.callbacks.Callback):
    """Gradual structured pruning during ``fit``: whole channels removed on a schedule.

    At every training step ``t`` for which ``schedule(t)`` says prune, the channels
    of every prunable dependency group are scored on the current weights and the
    lowest ``sparsity(t)`` fraction is masked (same rules and options as
    :func:`tfprune.structured.plans`). Masks are nested: a removed channel scores
    lowest and is never brought back. After every optimizer step the masked weights
    (kernel slices, biases, BatchNormalization gamma/beta, depthwise slices, consumer
    input slices) are set to zero again, so at the end of ``fit`` the model is exactly
    channel-sparse and ``tfprune.shrink(model)`` removes the channels.

    ``logs["channel_sparsity"]`` (removed / prunable channels) is added at every epoch
    end, so ``History`` records it; :attr:`plan` is the current
    :class:`tfprune.structured.Plan`.

    Steps: ``t`` is ``model.optimizer.iterations`` after the step (1 after the first
    batch of a fresh optimizer; steps of earlier ``fit`` calls count, so after dense
    training start the schedule at ``begin_step=int(model.optimizer.iterations)``).
    Resuming: the step is read from ``model.optimizer.iterations`` (restored by
    ``BackupAndRestore`` and checkpoints) and the channels removed so far are read
    from the zeros in the weights at the first batch, so the callback keeps no state
    that must be saved; one instance can serve many ``fit`` calls. With
    ``steps_per_execution > 1`` masks are re-applied once per execution and a prune
    step inside an execution is taken at its end.

    Args:
        schedule: a ``PruningSchedule`` (e.g. :class:`tfprune.schedules.AGP`);
            its sparsity is the fraction of each group's channels removed.
        criterion: ``"l1"``, ``"l2"``, ``"fpgm"``, ``"bn_scale"`` or a callable
            ``kernel -> [out_channels]``.
        reduction: ``"sum"``, ``"mean"`` or ``"max"`` over group members.
        round_to: kept channel counts are multiples of this.
        min_channels: never keep fewer channels in a group.
        exclude: layer names whose output channels are kept.
        scope: ``"layer"`` (same sparsity per group) or ``"global"``.
        granularity: ``"filter"`` (score producers) or ``"channel"`` (consumers).

    Raises:
        ConfigError: ``schedule`` is not a PruningSchedule or an option is unknown
            or out of range (at construction); ``round_to`` is larger than a group
            (at the start of ``fit``).
        ModelTypeError: the model has pruning wrapper layers (at the start of ``fit``).

    Example:
        >>> import numpy as np, tfprune
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="h"),
        ...                       keras.layers.Dense(2, name="out")])
        >>> m.compile("sgd", "mse")
        >>> cb = ChannelPruning(tfprune.schedules.AGP(0.5, end_step=4, frequency=2))
        >>> h = m.fit(np.ones((32, 4)), np.ones((32, 2)), batch_size=8, verbose=0,
        ...           callbacks=[cb])
        >>> h.history["channel_sparsity"], tfprune.shrink(m).get_layer("h").units
        ([0.5], 4)
    """

    def __init__(
        self,
        schedule,
        *,
        criterion="l2",
        reduction: str = "sum",
        round_to: int = 1,
        min_channels: int = 1,
        exclude=None,
        scope: str = "layer",
        granularity: str = "filter",
    ):
        super().__init__()
        if not isinstance(schedule, _tfmot.PruningSchedule):
            raise errors.ConfigError(
                f"ChannelPruning: `schedule` must be a PruningSchedule such as "
                f"tfprune.schedules.AGP(0.5, end_step=1000), got {schedule!r} "
                f"({type(schedule).__name__})."
            )
        plan_lib.check_options(
            criterion=criterion,
            granularity=granularity,
            reduction=reduction,
            scope=scope,
            round_to=round_to,
            min_channels=min_channels,
        )
        if exclude is not None and (
            isinstance(exclude, str) or not all(isinstance(e, str) for e in exclude)
        ):
            raise errors.ConfigError(
                f"ChannelPruning: `exclude` must be a list of layer names, got {exclude!r}."
            )
        self.schedule = schedule
        self.options = dict(
            criterion=criterion,
            granularity=granularity,
            reduction=reduction,
            round_to=round_to,
            min_channels=min_channels,
            scope=scope,
        )
        self.exclude = list(exclude or [])
        self._reset()

    def _reset(self):
        self._graph = None
        self._keep = {}
        self._masks = {}
        self._apply = None
        self._step = None
        self._window = (0, np.zeros(0, bool), np.zeros(0, np.float32))

    # --- lifecycle -----------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._reset()
        wrapped = [w.name for w in pruner.wrapped_layers(self.model)]
        if wrapped:
            raise errors.ModelTypeError(
                f"ChannelPruning: `model` {self.model.name!r} has pruning wrapper layers "
                f"{wrapped[:3]}; it needs a plain tf_keras model. Train wrapped models with "
                "tfprune.PruningCallback, or strip them first: model = tfprune.strip(model)."
            )
        self._graph = graph_lib.build(self.model, exclude=self.exclude)
        groups = self._graph.prunable()
        plan_lib.check_round_to(groups, self.options["round_to"])
        self._keep = {g.index: np.ones(g.channels, bool) for g in groups}
        variables = {rebuild_lib.weight_key(u): getattr(u.layer, u.attr) for u in self._graph.uses}
        masks = rebuild_lib.weight_masks(self._graph, self._keep)
        with self.model.distribute_strategy.scope():
            self._masks = {
                k: (variables[k], tf.Variable(m.astype(variables[k].dtype.name), trainable=False))
                for k, m in masks.items()
            }
        pairs = list(self._masks.values())

        @tf.function
        def apply():
            for var, mask in pairs:
                var.assign(var * mask)

        self._apply = apply

    def on_train_batch_begin(self, batch, logs=None):
        if self._step is None:  # read here: BackupAndRestore may restore after on_train_begin
            self._step = int(self.model.optimizer.iterations.numpy())
            self._keep = self._read_zeros()
            self._set_masks()

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step > self._step:
            should, sparsity = self._schedule(self._step + 1, step + 1)
            due = np.flatnonzero(should)
            self._step = step
            if due.size:
                self._prune(float(sparsity[due[-1]]))
        self._apply()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["channel_sparsity"] = self.channel_sparsity

    # --- state ---------------------------------------------------------------
    @property
    def channel_sparsity(self) -> float:
        """Removed channels / prunable channels (0.0 before training)."""
        total = sum(k.size for k in self._keep.values())
        return float(sum((~k).sum() for k in self._keep.values()) / total) if total else 0.0

    @property
    def plan(self):
        """The current :class:`tfprune.structured.Plan` (``None`` before ``fit``)."""
        if self._graph is None:
            return None
        by_index = {g.index: g for g in self._graph.prunable()}
        return plan_lib.Plan(
            {
                by_index[i].name: tuple(np.flatnonzero(k).tolist())
                for i, k in self._keep.items()
                if not k.all()
            },
            {by_index[i].name: k.size for i, k in self._keep.items() if not k.all()},
        )

    def _schedule(self, lo: int, hi: int) -> tuple:
        """``schedule`` at steps lo..hi-1 as numpy, evaluated in windows of 1024 steps."""
        start, should, sparsity = self._window
        if lo < start or hi > start + len(should):
            start = lo
            out = self.schedule(tf.range(lo, lo + max(1024, hi - lo), dtype=tf.int64))
            should, sparsity = out[0].numpy(), out[1].numpy()
            self._window = (start, should, sparsity)
        return should[lo - start : hi - start], sparsity[lo - start : hi - start]

    def _read_zeros(self) -> dict:
        derived, _ = plan_lib.derive(self._graph)
        keep = {i: k.copy() for i, k in self._keep.items()}
        keep.update(plan_lib.keep_masks(self._graph, derived))
        return keep

    def _prune(self, sparsity: float):
        kept = plan_lib.select(self._graph, sparsity=sparsity, previous=self._keep, **self.options)
        for gi, k in kept.items():
            m = np.zeros(self._keep[gi].size, bool)
            m[k] = True
            self._keep[gi] = m
        self._set_masks()

    def _set_masks(self):
        for key, m in rebuild_lib.weight_masks(self._graph, self._keep).items():
            self._masks[key][1].assign(m.astype(self._masks[key][1].dtype.name))
