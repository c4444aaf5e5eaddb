"""Accuracy-guarded (dynamic) pruning: raise sparsity while a metric holds."""

from __future__ import annotations

import logging
import math

from tfprune import errors
from tfprune.callbacks import dynamic as _dynamic
from tfprune.compat import keras

__all__ = ["AccuracyGuard"]

log = logging.getLogger(__name__)

_MAX_WORDS = ("acc", "auc", "precision", "recall", "f1", "iou")


class AccuracyGuard(keras.callbacks.Callback):
    """Raise sparsity level by level while a validation metric stays near its reference.

    After ``warmup_epochs`` the monitored value becomes the reference (or ``baseline``).
    Then, for each level of ``sparsities`` in turn, the guard sets magnitude masks at that
    sparsity (each prunable weight separately; entries already pruned stay pruned), lets
    ``fit`` fine-tune for ``epochs_per_level`` epochs and compares the metric with the
    reference. If it holds (``value >= reference - tolerance``, or ``<=`` and ``+`` for a
    loss), the level is kept; if not, the weights and masks of the last level that held
    are restored and the search ends. If ``fit`` ends while a level is still being tried,
    that level is undone as well. So the model always ends at the highest sparsity that
    held: ``chosen_sparsity``. Each epoch also writes ``logs["guard_sparsity"]`` (the
    sparsity that epoch trained at), so ``History`` and ``CSVLogger`` record it.

    The guard owns the masks: wrap the model with ``schedule=schedules.Manual()``; a
    schedule that would recompute masks during ``fit`` is refused. Levels at or below the
    masks' current sparsity are skipped (a reloaded model is never un-pruned).

    Run state (level, epochs, reference, last good weights and masks) is kept in variables
    attached to the model, so ``keras.callbacks.BackupAndRestore`` (placed after the guard
    in the callback list) or a ``tf.train.Checkpoint`` of the model resumes a killed search
    exactly; :meth:`get_state` / :meth:`set_state` expose it. A new ``fit`` after a
    finished one starts a new search from the current masks.

    Args:
        monitor: a metric of ``fit``'s logs, e.g. ``"val_accuracy"`` or ``"val_loss"``.
        sparsities: increasing levels in [0, 1) to try.
        tolerance: allowed absolute drop (or rise, for a loss) from the reference.
        epochs_per_level: fine-tuning epochs before a level is judged (>= 1).
        warmup_epochs: epochs before the reference is taken (0 needs ``baseline``).
        baseline: the reference value; default: the value after the warm-up.
        mode: ``"max"``, ``"min"`` or ``"auto"`` (max for accuracy-like names).
        stop_training: stop ``fit`` when the search ends (else keep fine-tuning).

    Attributes (read from the run state):
        chosen_sparsity: the highest level that held (the start sparsity if none did).
        reference: the reference value.
        history: one dict per judged level: ``sparsity``, ``value``, ``held``.

    Example:
        >>> import numpy as np, tensorflow as tf, tfprune
        >>> from tfprune.compat import keras
        >>> from tfprune.core.schedules import Manual
        >>> from tensorflow_model_optimization.python.core.sparsity.keras import prune
        >>> m = prune.prune_low_magnitude(keras.Sequential([keras.Input((4,)),
        ...     keras.layers.Dense(8)]), pruning_schedule=Manual())
        >>> m.compile("sgd", "mse")
        >>> g = AccuracyGuard("loss", sparsities=[0.5], tolerance=1e9)
        >>> _ = m.fit(np.ones((8, 4)), np.ones((8, 8)), epochs=2, verbose=0, callbacks=[g])
        >>> g.chosen_sparsity
        0.5

    References:
        Inspired by Zhu & Gupta (2017) and by the "prune until accuracy drops" loops of
        Han et al. (2015); the restore-the-last-good-state rule is tfprune's.
    """

    def __init__(self, monitor: str = "val_accuracy", *, sparsities=(0.5, 0.75, 0.9, 0.95),
                 tolerance: float = 0.01, epochs_per_level: int = 1, warmup_epochs: int = 1,
                 baseline: float | None = None, mode: str = "auto", stop_training: bool = True):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise errors.ConfigError(f"AccuracyGuard: `monitor` must be a metric name, got {monitor!r}.")
        levels = [errors.check_sparsity(s, "sparsities", "AccuracyGuard") for s in sparsities]
        if not levels or any(b <= a for a, b in zip(levels, levels[1:], strict=False)):
            raise errors.ConfigError(
                f"AccuracyGuard: `sparsities` must be a non-empty, strictly increasing list of "
                f"values in [0, 1), got {list(sparsities)!r}.")
        tolerance = errors.check_number(tolerance, "tolerance", "AccuracyGuard", low=0.0)
        epochs_per_level = errors.check_int(epochs_per_level, "epochs_per_level",
                                            "AccuracyGuard", low=1)
        warmup_epochs = errors.check_int(warmup_epochs, "warmup_epochs", "AccuracyGuard", low=0)
        if baseline is not None:
            baseline = errors.check_number(baseline, "baseline", "AccuracyGuard")
        if warmup_epochs == 0 and baseline is None:
            raise errors.ConfigError(
                f"AccuracyGuard: `warmup_epochs` must be >= 1, or 0 with a `baseline` value; "
                f"got warmup_epochs={warmup_epochs}, baseline={baseline}.")
        if mode not in ("auto", "max", "min"):
            raise errors.unknown_name("mode", mode, ["auto", "max", "min"])
        if mode == "auto":
            mode = "max" if any(w in monitor.lower() for w in _MAX_WORDS) else "min"
        self.monitor, self.sparsities, self.tolerance = monitor, levels, float(tolerance)
        self.epochs_per_level, self.warmup_epochs = int(epochs_per_level), int(warmup_epochs)
        self.baseline, self.mode, self.stop_training = baseline, mode, bool(stop_training)
        self._reset()

    def _reset(self):
        self._state, self._checked, self._wrappers, self._vars = None, False, [], []

    # -- run state (model variables) ------------------------------------------------------
    def _get(self, name):
        return getattr(self._state, name).numpy()

    def _set(self, name, value):
        getattr(self._state, name).assign(value)

    @property
    def chosen_sparsity(self) -> float | None:
        """The highest level that held (the start sparsity if none did)."""
        return None if self._state is None else float(self._get("chosen"))

    @property
    def reference(self) -> float | None:
        """The reference value of the monitored metric (None before it is taken)."""
        value = None if self._state is None else float(self._get("reference"))
        return None if value is None or math.isnan(value) else value

    @property
    def history(self) -> list[dict]:
        """One dict per judged level: ``sparsity``, ``value``, ``held``."""
        if self._state is None:
            return []
        values, held = self._get("values"), self._get("held")
        return [{"sparsity": s, "value": float(v), "held": bool(h)}
                for s, v, h in zip(self.sparsities, values, held, strict=True) if h >= 0]

    def get_state(self) -> dict:
        """The run state as ``{name: array}`` (what a checkpoint of the model carries)."""
        if self._state is None:
            raise errors.ConfigError("AccuracyGuard.get_state: no run yet (call fit first).")
        return _dynamic.state_dict(self._state)

    def set_state(self, state: dict) -> None:
        """Restore a state from :meth:`get_state` (call after ``on_train_begin``/``bind``)."""
        if self._state is None:
            raise errors.ConfigError("AccuracyGuard.set_state: bind a model first "
                                     "(guard.set_model(model); guard.on_train_begin()).")
        _dynamic.load_state_dict(self._state, state, "AccuracyGuard")

    # -- Keras hooks -----------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._reset()
        self._wrappers = _dynamic.wrappers_or_raise(self.model, "AccuracyGuard")
        step = _dynamic.start_steps(self.model)
        _dynamic.refuse_active_schedules(
            self._wrappers, step + 1, step + _dynamic.fit_length(self), "AccuracyGuard")
        self._vars = _dynamic.state_variables(self.model, self._wrappers)
        n = len(self.sparsities)
        self._state, _ = _dynamic.run_state(
            self.model, "guard",
            {"active": 0, "level": -1, "epochs": 0, "done": 0, "reference": math.nan,
             "chosen": 0.0, "values": [math.nan] * n, "held": [-1] * n},
            {"good": self._vars})
        if int(self._get("active")) and len(self._get("values")) == n:
            return  # resuming an interrupted search (state restored by a checkpoint)
        for name, value in (("active", 1), ("level", -1), ("epochs", 0), ("done", 0),
                            ("reference", math.nan), ("values", [math.nan] * n),
                            ("held", [-1] * n),
                            ("chosen", _dynamic.overall_sparsity(self.model))):
            self._set(name, value)
        self._keep_good()
        if self.warmup_epochs == 0:
            self._set("reference", float(self.baseline))
            self._advance()

    def on_train_batch_end(self, batch, logs=None):
        if self._checked or not logs:
            return
        self._checked = True
        base = self.monitor[4:] if self.monitor.startswith("val_") else self.monitor
        if base not in logs:
            raise errors.ConfigError(self._missing(sorted(logs), validation_known=False))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if self.monitor not in logs:
            raise errors.ConfigError(self._missing(sorted(logs), validation_known=True))
        value = float(logs[self.monitor])
        logs["guard_sparsity"] = self._current()
        if int(self._get("done")):
            return
        epochs = int(self._get("epochs")) + 1
        self._set("epochs", epochs)
        if int(self._get("level")) < 0:
            if epochs >= self.warmup_epochs:
                self._set("reference", float(self.baseline) if self.baseline is not None
                          else value)
                self._keep_good()
                self._advance()
        elif epochs >= self.epochs_per_level:
            self._judge(value)

    def on_train_end(self, logs=None):
        if self._state is None:
            return
        if not int(self._get("done")) and int(self._get("level")) >= 0:
            _dynamic.restore(self._vars, [v.numpy() for v in self._state.good])
            self._finish(f"fit ended while sparsity {self._current():.4g} was being tried")
        self._set("active", 0)

    # -- steps of the search -----------------------------------------------------------
    def _current(self) -> float:
        level = int(self._get("level"))
        return self.sparsities[level] if level >= 0 else self.chosen_sparsity

    def _keep_good(self):
        _dynamic.restore(self._state.good, [v.numpy() for v in self._vars])

    def _advance(self):
        level, chosen = int(self._get("level")) + 1, self.chosen_sparsity
        while level < len(self.sparsities) and self.sparsities[level] <= chosen + 1e-9:
            level += 1  # levels the masks already reach (a reloaded, pruned model)
        self._set("epochs", 0)
        if level >= len(self.sparsities):
            self._finish("every level held")
            return
        self._set("level", level)
        target = self.sparsities[level]
        for _, weight, mask in _dynamic.triples(self._wrappers):
            _dynamic.set_mask(weight, mask, _dynamic.magnitude_mask(weight, mask, target))

    def _judge(self, value: float):
        reference = self.reference
        if self.mode == "max":
            held = value >= reference - self.tolerance
        else:
            held = value <= reference + self.tolerance
        index = int(self._get("level"))
        level = self.sparsities[index]
        values, flags = self._get("values"), self._get("held")
        values[index], flags[index] = value, int(held)
        self._set("values", values)
        self._set("held", flags)
        if held:
            self._set("chosen", level)
            self._keep_good()
            self._advance()
        else:
            _dynamic.restore(self._vars, [v.numpy() for v in self._state.good])
            self._finish(f"{self.monitor}={value:.4g} at sparsity {level:.4g} is outside "
                         f"{reference:.4g} +/- {self.tolerance:.4g}")

    def _finish(self, why: str):
        self._set("done", 1)
        self._set("level", -1)
        log.info("AccuracyGuard: chose sparsity %.4g (%s).", self.chosen_sparsity, why)
        if self.stop_training and self.model is not None:
            self.model.stop_training = True

    def _missing(self, names, validation_known: bool) -> str:
        hint = ("" if validation_known else
                " (plus 'val_'-prefixed ones when fit gets validation_data or "
                "validation_split)")
        return (f"AccuracyGuard: monitor={self.monitor!r} is not produced by fit. Metrics that "
                f"exist: {', '.join(repr(n) for n in names)}{hint}. Pick one of them, add the "
                "metric to model.compile(metrics=[...]), or pass validation_data to fit for a "
                "'val_' metric.")
