"""Lottery-ticket rewinding: iterative magnitude pruning with weight rewinding."""

from __future__ import annotations

import logging
import warnings

import tensorflow as tf

from tfprune import errors
from tfprune.callbacks import dynamic as _dynamic
from tfprune.compat import keras
from tfprune.masking import pruner

__all__ = ["LotteryTicket"]

log = logging.getLogger(__name__)


class LotteryTicket(keras.callbacks.Callback):
    """Iterative magnitude pruning over rounds, rewinding the survivors (Frankle & Carbin).

    The weights are recorded at ``rewind_step`` (0: at the start of ``fit``, the
    initialisation; ``k``: after ``k`` training steps of this ``fit``, "late rewinding").
    Every ``epochs_per_round`` epochs a round ends: in each prunable weight, ``rate`` of the
    weights still alive are pruned by magnitude (sparsity after round ``r`` is
    ``1 - (1 - rate) ** r``), then every layer weight (kernels, biases, BatchNorm
    statistics; not the masks or the step) is rewound to its recorded value and the mask
    applied, and (by default) the optimizer's slots are zeroed. After ``rounds`` rounds the
    ticket trains on for the rest of ``fit``; plan ``epochs_per_round * (rounds + 1)``
    epochs. ``logs`` get ``lottery_round`` and ``lottery_sparsity``.

    The callback owns the masks: wrap the model with ``schedule=schedules.Manual()``; a
    schedule that would recompute masks during ``fit`` is refused. In a custom loop call
    :meth:`record` once and :meth:`prune_round` at the end of each round.

    Run state (round, epochs, the run's first step, the rewind target) is kept in
    variables attached to the model, so ``keras.callbacks.BackupAndRestore`` (placed after
    this callback) or a ``tf.train.Checkpoint`` resumes a killed run exactly. A new run
    (a new ``fit`` after a finished one, or a model reloaded from ``.keras``/``.h5``)
    starts at the round the masks already reach: it never lowers their sparsity.

    Args:
        rate: fraction of the remaining weights pruned per round, in (0, 1).
        rounds: number of pruning rounds (>= 1).
        epochs_per_round: training epochs per round (>= 1).
        rewind_step: training step (of this ``fit``) whose weights are the rewind target.
        reset_optimizer: zero the optimizer's slot variables at each rewind.

    Attributes (read from the run state):
        round: rounds done so far. sparsity: the current per-layer sparsity.

    Example:
        >>> import numpy as np, tfprune
        >>> from tfprune.compat import keras
        >>> from tensorflow_model_optimization.python.core.sparsity.keras import prune
        >>> m = prune.prune_low_magnitude(keras.Sequential([keras.Input((4,)),
        ...     keras.layers.Dense(10)]), pruning_schedule=tfprune.schedules.Manual())
        >>> m.compile("sgd", "mse")
        >>> lt = LotteryTicket(rate=0.5, rounds=2)
        >>> _ = m.fit(np.ones((8, 4)), np.ones((8, 10)), epochs=3, verbose=0, callbacks=[lt])
        >>> lt.round, lt.sparsity
        (2, 0.75)

    References:
        Frankle & Carbin, "The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural
        Networks", ICLR 2019. https://arxiv.org/abs/1803.03635 ; Frankle et al., "Linear
        Mode Connectivity and the Lottery Ticket Hypothesis", ICML 2020 (rewinding to
        step k). https://arxiv.org/abs/1912.05671
    """

    def __init__(self, *, rate: float = 0.2, rounds: int = 5, epochs_per_round: int = 1,
                 rewind_step: int = 0, reset_optimizer: bool = True):
        super().__init__()
        if not 0.0 < rate < 1.0:
            raise errors.ConfigError(
                f"LotteryTicket: `rate` is the fraction of remaining weights pruned per round "
                f"and must be in (0, 1), e.g. 0.2; got rate={rate}.")
        for name, value, low in (("rounds", rounds, 1), ("epochs_per_round", epochs_per_round, 1),
                                 ("rewind_step", rewind_step, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise errors.ConfigError(
                    f"LotteryTicket: `{name}` must be an integer >= {low}, got {name}={value!r}.")
        self.rate, self.rounds, self.epochs_per_round = float(rate), rounds, epochs_per_round
        self.rewind_step, self.reset_optimizer = rewind_step, bool(reset_optimizer)
        self._reset()

    def _reset(self):
        self._state, self._wrappers, self._vars, self._bound = None, [], [], None

    # -- run state (model variables) ------------------------------------------------------
    @property
    def round(self) -> int:
        return 0 if self._state is None else int(self._state.round.numpy())

    @property
    def sparsity(self) -> float:
        return 0.0 if self._state is None else round(float(self._state.sparsity.numpy()), 12)

    def get_state(self) -> dict:
        """The run state as ``{name: array}`` (what a checkpoint of the model carries)."""
        self._bind(None)
        return _dynamic.state_dict(self._state)

    def set_state(self, state: dict) -> None:
        """Restore a state from :meth:`get_state` (the model must be set or bound)."""
        self._bind(None)
        _dynamic.load_state_dict(self._state, state, "LotteryTicket")

    def _start_run(self):
        """A new run: the round is the one the current masks reach (never un-prune)."""
        current = _dynamic.overall_sparsity(self._bound)
        done = 0
        while done < self.rounds and 1.0 - (1.0 - self.rate) ** (done + 1) <= current + 1e-9:
            done += 1
        for name, value in (("active", 1), ("round", done), ("sparsity", current),
                            ("epochs", 0), ("recorded", 0),
                            ("first_step", max(pruner.global_step(self._bound), 0))):
            getattr(self._state, name).assign(value)

    # -- public API (also for custom training loops) ------------------------------------
    def record(self, model=None) -> None:
        """Record the current layer weights as the rewind target."""
        self._bind(model)
        _dynamic.restore(self._state.rewind, _dynamic.snapshot(self._vars))
        self._state.recorded.assign(1)

    def rewind(self, model=None) -> None:
        """Restore the recorded layer weights, then zero the pruned ones.

        Raises:
            tfprune.errors.ConfigError: nothing was recorded yet.
        """
        self._bind(model)
        if not int(self._state.recorded.numpy()):
            seen = pruner.global_step(self._bound) - int(self._state.first_step.numpy())
            raise errors.ConfigError(
                f"LotteryTicket: no weights were recorded to rewind to (rewind_step="
                f"{self.rewind_step}, {max(seen, 0)} training steps seen). Call "
                "record(model) first in a custom loop, or choose a rewind_step smaller than "
                "the steps of one round (epochs_per_round * steps_per_epoch).")
        _dynamic.restore(self._vars, [v.numpy() for v in self._state.rewind])
        for _, weight, mask in _dynamic.triples(self._wrappers):
            _dynamic.set_mask(weight, mask, mask)
        if self.reset_optimizer:
            self._zero_optimizer()

    def prune_round(self, model=None) -> float:
        """Prune ``rate`` of the remaining weights of every prunable weight, then rewind.

        Returns:
            The per-layer sparsity after this round.
        """
        self._bind(model)
        if not int(self._state.recorded.numpy()):
            self.rewind()  # raises the explanation
        number = self.round + 1
        sparsity = round(1.0 - (1.0 - self.rate) ** number, 12)
        for _, weight, mask in _dynamic.triples(self._wrappers):
            mask.assign(_dynamic.magnitude_mask(weight, mask, sparsity))
        self._state.round.assign(number)
        self._state.sparsity.assign(sparsity)
        self.rewind()
        log.info("LotteryTicket: round %d, sparsity %.4g, weights rewound.", number, sparsity)
        return sparsity

    # -- Keras hooks --------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._reset()
        self._bind(self.model, start=False)
        step = _dynamic.start_steps(self.model)
        _dynamic.refuse_active_schedules(
            self._wrappers, step + 1, step + _dynamic.fit_length(self), "LotteryTicket")
        if not int(self._state.active.numpy()):  # else resuming (restored by a checkpoint)
            self._start_run()
            if self.rewind_step == 0:
                self.record()
        epochs = (getattr(self, "params", None) or {}).get("epochs")
        left = self.rounds - self.round
        need = self.epochs_per_round * left
        if epochs and left > 0 and epochs < need:
            warnings.warn(
                f"LotteryTicket: fit runs {epochs} epochs but {left} remaining rounds of "
                f"{self.epochs_per_round} epochs need {need} (plus epochs to train the final "
                f"ticket); only {epochs // self.epochs_per_round} rounds will run.", stacklevel=2)

    def on_train_batch_end(self, batch, logs=None):
        seen = pruner.global_step(self.model) - int(self._state.first_step.numpy())
        if not int(self._state.recorded.numpy()) and seen >= self.rewind_step:
            self.record()

    def on_epoch_end(self, epoch, logs=None):
        epochs = int(self._state.epochs.numpy()) + 1
        self._state.epochs.assign(epochs)
        if epochs % self.epochs_per_round == 0 and self.round < self.rounds:
            self.prune_round()
        if logs is not None:
            logs["lottery_round"] = self.round
            logs["lottery_sparsity"] = self.sparsity

    def on_train_end(self, logs=None):
        if self._state is not None:
            self._state.active.assign(0)

    # -- helpers ------------------------------------------------------------------------
    def _bind(self, model, start: bool = True):
        model = model if model is not None else (self._bound or self.model)
        if model is None:
            raise errors.ConfigError("LotteryTicket: pass the pruned model (no model is set).")
        if model is not self._bound:
            self._bound = model
            self._wrappers = _dynamic.wrappers_or_raise(model, "LotteryTicket")
            self._vars = _dynamic.layer_variables(model, self._wrappers)
            self._state, created = _dynamic.run_state(
                model, "lottery", {"active": 0, "round": 0, "sparsity": 0.0, "epochs": 0,
                                   "recorded": 0, "first_step": 0}, {"rewind": self._vars})
            if start and not int(self._state.active.numpy()):
                self._start_run()  # custom loop: record()/prune_round() without fit

    def _zero_optimizer(self):
        opt = getattr(self._bound, "optimizer", None)
        if opt is None:
            return
        variables = opt.variables() if callable(opt.variables) else opt.variables
        for v in variables:
            if v is not opt.iterations:  # keep the step count (learning-rate schedules)
                v.assign(tf.zeros_like(v))
