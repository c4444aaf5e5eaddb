"""``PruningCallback`` and ``before_step``: what drives pruning in ``model.fit``.

``PruningCallback`` does what TF-MOT's ``UpdatePruningStep`` does (step bookkeeping,
re-masking at epoch end) plus: global-scope mask updates, the sparsity in ``logs``
(so ``History`` and ``CSVLogger`` record it) and per-layer TensorBoard scalars.
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.callbacks import dynamic
from tfprune.compat import keras
from tfprune.masking import keras3_slots, keras3_training, pruner

__all__ = ["PruningCallback", "before_step", "shortfall"]

#: A run that ends below this fraction of its scheduled sparsity warns at the end of fit.
SHORTFALL = 0.9


def _training_begin(model) -> None:
    """Prepare a pruned model for training (what ``PruningCallback.on_train_begin`` does).

    Call it once before the first step of a custom training loop. Sets the step of a
    fresh model to 0 and computes the masks the schedule asks for at step 0.

    Example:
        >>> import tfprune
        >>> from tfprune.compat import keras
        >>> p = tfprune.prune(keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]),
        ...                   sparsity=0.5)
        >>> _training_begin(p); tfprune.masking.pruner.global_step(p)
        0
    """
    ws = pruner.wrapped_layers(model)
    if not ws:
        raise errors.ConfigError(
            f"Model {model.name!r} has no pruning wrappers: create it with tfprune.prune(...) "
            "or tfprune.one_shot(...) before training with PruningCallback.")
    if pruner.global_step(model) < 0:
        pruner.set_step(model, 0)
        first = pruner.tfprune_wrappers(model)
        if first and bool(first[0].pruning_schedule(tf.constant(0, tf.int64))[0]):
            pruner.update_masks(model, step=0)  # the scope is read from the wrappers


def before_step(model) -> None:
    """Custom training loops: call this before every training step. It is all you need.

    It starts a fresh model (step 0 and the masks due at step 0) and, for
    ``scope="global"``, recomputes the global masks when the schedule asks for it at
    the coming step. Layer-scope masks update inside ``model(x, training=True)``.
    It reads its state from the model's variables, so it keeps no state of its own.

    Example:
        >>> import numpy as np, tensorflow as tf, tfprune
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        >>> m.layers[0].set_weights([np.arange(1, 17, dtype="float32").reshape(4, 4),
        ...                          np.zeros(4, "float32")])  # no class loses every weight
        >>> p = tfprune.prune(m, sparsity=0.5, scope="global")
        >>> opt = keras.optimizers.SGD(0.1)
        >>> @tf.function
        ... def train_step(x):
        ...     with tf.GradientTape() as tape:
        ...         loss = tf.reduce_mean(p(x, training=True) ** 2)
        ...     opt.apply_gradients(zip(tape.gradient(loss, p.trainable_variables),
        ...                             p.trainable_variables))
        >>> for _ in range(3):
        ...     before_step(p)
        ...     train_step(tf.ones((2, 4)))
        >>> tfprune.masking.pruner.sparsity_report(p)["sparsity"]
        0.5
    """
    if keras3_slots.state_of(model) is not None:  # a subclassed Keras 3 model
        keras3_training.before_step(model)
        return
    ws = pruner.wrapped_layers(model)
    step = pruner.global_step(model) if ws else -1
    if step < 0:
        _training_begin(model)
        ws = pruner.wrapped_layers(model)
        step = 0
    ours = pruner.tfprune_wrappers(model)
    _begin_step(ours)
    external = [w for w in ours if w.external]
    if external:
        should, _ = external[0].pruning_schedule(tf.constant(step + 1, tf.int64))
        if bool(should):
            pruner.update_masks(model, step=step + 1)


def _begin_step(wrappers) -> None:
    """A step starts: eager training calls of a shared wrapper advance its step once
    (``wrappers``: tfprune's)."""
    for w in wrappers:
        w.begin_step()


def shortfall(model) -> str | None:
    """Why the masks are below 90% of the sparsity the schedule asks for now, or None.

    Compares ``pruner.sparsity_report(model)["sparsity"]`` with the weight-weighted
    target of the tfprune wrappers at the model's pruning step, and names the cause and
    the fix (a data criterion that has not seen statistics at a mask update yet; a run
    shorter than the schedule's first update).

    Example:
        >>> import tfprune
        >>> from tfprune.compat import keras
        >>> p = tfprune.prune(keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]),
        ...                   sparsity=0.5)
        >>> shortfall(p) is None  # before training nothing is due
        True
    """
    ws = pruner.tfprune_wrappers(model)
    step = pruner.global_step(model)
    if not ws or step <= 0:
        return None
    sizes = [sum(int(np.prod(v.shape)) for v, _, _ in w.pruning_vars) for w in ws]
    total = sum(sizes)
    if ws[0].external:
        target = ws[0].target_sparsity(step)
    else:
        target = sum(w.target_sparsity(step) * n for w, n in zip(ws, sizes, strict=True)) / total
    reached = pruner.sparsity_report(model)["sparsity"]
    if target <= 0 or reached >= SHORTFALL * target:
        return None
    w = ws[0]
    schedule, criterion = w.pruning_schedule, w.criterion
    frequency = getattr(schedule, "frequency", None)
    updates = dynamic.firing_steps(schedule, 0, step)
    after = dynamic.firing_steps(schedule, step + 1, step + 100_000)[:1]
    head = (f"Pruning reached sparsity {reached:.3g} but the schedule asks for {target:.3g} "
            f"at step {step} (below {SHORTFALL:.0%} of it).")
    if criterion.needs_data:
        seen = [u for u in updates if u > 0]
        nxt = f"step {after[0]}" if after else "no later step"
        if not seen:
            return (f"{head} Cause: criterion {criterion.name!r} needs statistics, so the "
                    f"mask update at step 0 is skipped (no statistics yet); the next update "
                    f"comes at {nxt} (schedule frequency {frequency}) but the run had {step} "
                    "steps. Fix: train for more steps, use a schedule with a smaller "
                    "frequency (e.g. tfprune.schedules.AGP(..., frequency=10)), or prune at "
                    "once with tfprune.one_shot(model, ..., data=...).")
        return (f"{head} Cause: criterion {criterion.name!r} had no statistics at some mask "
                f"updates (steps {seen[:5]}). Fix: train longer before the first update "
                "(begin_step) or calibrate with tfprune.one_shot(..., data=...).")
    if not updates:
        return (f"{head} Cause: the schedule made no mask update in the {step} steps run; the "
                f"first comes at step {after[0] if after else '?'}. Fix: train longer or use a "
                "smaller begin_step/frequency.")
    return (f"{head} Cause: the masks were last updated at step {updates[-1]}; the next "
            f"update is at step {after[0] if after else '?'}. Fix: train until the "
            "schedule's end_step, or use a smaller frequency.")


class PruningCallback(keras.callbacks.Callback):
    """Drives pruning during ``fit``; puts sparsity into ``logs``.

    Adds ``logs["sparsity"]`` (all masked weights together), at channel granularity
    ``logs["channel_sparsity"]`` (the fraction of group channels removed: 50 % of channels
    zeroes about 73 % of the weights of the layers involved, producers and consumers) and, with
    ``per_layer=True``, ``logs["sparsity/<layer>"]`` at every epoch end. Place it
    before ``CSVLogger`` in the callback list so the CSV gets these columns. With
    ``log_dir``, writes per-layer sparsity and mask-change counts to TensorBoard.
    One instance can serve many ``fit`` calls (state resets in ``on_train_begin``).

    Args:
        log_dir: optional TensorBoard directory.
        per_layer: also log each layer's sparsity.

    Example:
        >>> import numpy as np, tfprune
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8)])
        >>> p = tfprune.prune(m, sparsity=0.75); p.compile("sgd", "mse")
        >>> h = p.fit(np.ones((8, 4)), np.ones((8, 8)), verbose=0,
        ...           callbacks=[PruningCallback()])
        >>> h.history["sparsity"]
        [0.75]
    """

    def __init__(self, log_dir: str | None = None, per_layer: bool = True):
        super().__init__()
        if log_dir is not None and (not isinstance(log_dir, str) or not log_dir):
            raise errors.ConfigError(f"`log_dir` must be a non-empty path string, got {log_dir!r}.")
        self.log_dir = log_dir
        self.per_layer = per_layer
        self._reset()

    def _reset(self):
        self._wrappers = []
        self._ours = []  # tfprune's wrappers (TF-MOT's are in _wrappers too)
        self._global = False
        self._previous = None
        self._writer = None
        self._base = None  # the model's step before this epoch's first batch
        self._fires = (0, -1, frozenset())  # firing steps known for [lo, hi]
        self._checked = -1  # the last step whose due global update was applied
        self._epoch = 0
        self._k3 = None  # a subclassed Keras 3 model: its masks sit beside its layers

    def on_train_begin(self, logs=None):
        self._reset()
        if keras3_slots.state_of(self.model) is not None:
            self._k3 = keras3_training.Training(self.model)
            self._k3.begin()
            return
        _training_begin(self.model)
        self._wrappers = pruner.wrapped_layers(self.model)
        self._ours = pruner.tfprune_wrappers(self.model)
        self._global = any(w.external for w in self._ours)
        spe = getattr(self.model, "_steps_per_execution", None)
        self._per_call = max(int(keras.backend.get_value(spe)), 1) if spe is not None else 1
        if self.log_dir:
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_begin(self, epoch, logs=None):
        self._base = None
        self._epoch = epoch
        if self._k3 is not None:
            self._k3.epoch_begin()

    def on_train_batch_begin(self, batch, logs=None):
        # Layer-scope masks update inside the training step. Global, channel and head
        # masks are set here, at the steps where the schedule fires: the firing steps are
        # computed for many steps at once and the model's step is read once per epoch
        # (so a BackupAndRestore that restores it after on_train_begin is honoured), so a
        # batch without an update costs no TensorFlow work here. With
        # steps_per_execution = k the callback runs once per k steps: the updates due
        # inside a window are applied at the next opportunity (the next window's start, or
        # the epoch end), the latest one only (the schedule is monotone, so the mask of
        # the latest due step is the one that matters).
        if self._k3 is not None:
            self._k3.batch_begin(batch)
            return
        _begin_step(self._ours)
        if not self._global:
            return
        if self._base is None:
            step = pruner.global_step(self.model)
            if step < 0:
                _training_begin(self.model)
                step = 0
            self._base = step - batch
            self._checked = step
        self._apply_due(self._base + batch + 1)  # the step about to run

    def _apply_due(self, upto: int) -> None:
        """Apply the latest update due in (last step checked, ``upto``], if any."""
        if upto <= self._checked:
            return
        due = self._firing(self._checked + 1, upto)
        self._checked = upto
        if due:
            pruner.update_masks(self.model, step=due[-1])

    def on_train_batch_end(self, batch, logs=None):
        # one float comparison per batch (per execution with steps_per_execution > 1)
        loss = (logs or {}).get("loss")
        if loss is not None and not np.all(np.isfinite(loss)):
            raise errors.DataError(self._diverged(f"the loss is {float(np.mean(loss))}",
                                                  f"batch {batch}"))
        if self._k3 is not None:
            self._k3.batch_end(batch)

    def _firing(self, first: int, last: int) -> list[int]:
        """The steps in [first, last] at which the global schedule updates masks."""
        lo, hi, known = self._fires
        if first < lo or last > hi:
            schedule = next(w for w in self._ours if w.external).pruning_schedule
            lo, hi = first, max(last, first + 4095)
            known = frozenset(dynamic.firing_steps(schedule, lo, hi))
            self._fires = (lo, hi, known)
        return [s for s in range(first, last + 1) if s in known]

    def on_epoch_end(self, epoch, logs=None):
        if self._k3 is not None:
            self._log(logs, self._k3.report(), self._k3.check_finite())
            return
        if self._global and self._base is not None and self._per_call > 1:
            self._apply_due(pruner.global_step(self.model))  # due in the last window
        self._check_weights()
        pruner.assign_masked_weights(self.model)
        report = pruner.sparsity_report(self.model)
        if logs is not None:
            logs["sparsity"] = report["sparsity"]
            if "channels" in report:  # weights zeroed vs channels removed: both figures
                logs["channel_sparsity"] = report["channels"]
            if self.per_layer:
                for name, value in report["layers"].items():
                    logs[f"sparsity/{name}"] = value
        if self._writer is not None:
            self._write_tensorboard(epoch, report)

    def _check_weights(self) -> None:
        """Stop a run whose weights became NaN/inf (one read of the weights per epoch)."""
        for layer, values in ((w, keras.backend.batch_get_value(w.trainable_weights))
                              for w in self.model.layers if w.trainable_weights):
            for var, value in zip(layer.trainable_weights, values, strict=True):
                if not np.all(np.isfinite(value)):
                    raise errors.DataError(self._diverged(
                        f"weight {var.name} of layer {layer.name!r} holds NaN/inf",
                        "the end of the epoch"))

    def _log(self, logs, report, broken=None) -> None:
        """Sparsity into ``logs`` (a Keras 3 model's epoch end; ``broken``: NaN/inf found)."""
        if broken:
            raise errors.DataError(self._diverged(broken, "the end of the epoch"))
        if logs is not None:
            logs["sparsity"] = report["sparsity"]
            if self.per_layer:
                logs.update((f"sparsity/{n}", v) for n, v in report["layers"].items())

    def _diverged(self, what: str, where: str) -> str:
        step = self._k3.state.step if self._k3 is not None else pruner.global_step(self.model)
        return (f"Training diverged: {what} at {where} of epoch {self._epoch} (pruning step "
                f"{step}); PruningCallback stopped the run. Likely causes: a learning rate too "
                "high for this model (lower it, e.g. 10x, or clip gradients with "
                "clipnorm=1.0), or NaN/inf or unscaled values in the training data or labels "
                "(check them with np.isfinite(x).all()); a pruned model is worth nothing once "
                "its weights are NaN.")

    def on_train_end(self, logs=None):
        if self._k3 is not None:
            self._k3.batch_end(-1)
            return
        for w in self._ours:
            w.end_steps()
        pruner.assign_masked_weights(self.model)
        why = shortfall(self.model)
        if why:
            warnings.warn(why, stacklevel=2)
        if self._writer is not None:
            self._writer.flush()

    def _write_tensorboard(self, epoch, report):
        current = {w.layer.name: [np.asarray(keras.backend.get_value(m)) for _, m, _ in
                                  w.pruning_vars] for w in self._wrappers}
        with self._writer.as_default(step=epoch):
            tf.summary.scalar("sparsity", report["sparsity"])
            for name, value in report["layers"].items():
                tf.summary.scalar(f"sparsity/{name}", value)
                if self._previous is not None:
                    changed = sum(int(np.sum(a != b)) for a, b in
                                  zip(current[name], self._previous[name], strict=True))
                    tf.summary.scalar(f"mask_changes/{name}", changed)
        self._writer.flush()
        self._previous = current
