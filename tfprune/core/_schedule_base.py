"""Argument checks and the base classes of :mod:`tfprune.core.schedules`.

``_Schedule`` gives every schedule TF-MOT's ``{"class_name", "config"}`` envelope, repr and
equality; ``_Ramp`` is a ramp from ``initial_sparsity`` to ``final_sparsity`` over
``[begin_step, end_step]`` with updates every ``frequency`` steps and at ``end_step``.
Private: users import the schedules from ``tfprune.schedules``.

Example:
    >>> _check_span("AGP", 0, 10)
    (0, 10)
"""

from __future__ import annotations

import numbers

import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule as _tfmot

from tfprune import errors
from tfprune.compat import keras


# ----------------------------------------------------------------------------- validation
def _check_int(name: str, owner: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise errors.ConfigError(
            f"{owner}: `{name}` must be an integer, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise errors.ConfigError(f"{owner}: `{name}` must be >= {minimum}, got {name}={value}.")
    return int(value)


def _check_sparsity(name: str, owner: str, value) -> float:
    return errors.check_sparsity(value, name, owner)


def _check_frequency(owner: str, frequency) -> int:
    if isinstance(frequency, numbers.Integral) and not isinstance(frequency, bool) \
            and frequency <= 0:
        raise errors.ConfigError(
            f"{owner}: `frequency` must be a positive number of steps between mask updates, "
            f"got frequency={frequency}. Use frequency=1 to update at every step.")
    return _check_int("frequency", owner, frequency, 1)


def _check_span(owner: str, begin_step, end_step) -> tuple[int, int]:
    begin_step = _check_int("begin_step", owner, begin_step, 0)
    end_step = _check_int("end_step", owner, end_step, -(2**62))
    if end_step <= begin_step:
        raise errors.ConfigError(
            f"{owner}: `end_step` must be greater than `begin_step`, got begin_step="
            f"{begin_step}, end_step={end_step}. Set end_step to the step at which the final "
            f"sparsity is reached (e.g. 75% of epochs * steps_per_epoch).")
    return begin_step, end_step


def _as_step(step) -> tf.Tensor:
    return tf.cast(step, tf.int64)


# ----------------------------------------------------------------------------- base classes
class _Schedule(_tfmot.PruningSchedule):
    """Shared envelope, repr and equality; subclasses store their __init__ args."""

    _ARGS: tuple[str, ...] = ()

    def _args(self) -> dict:
        return {name: getattr(self, name) for name in self._ARGS}

    def get_config(self) -> dict:
        return {"class_name": keras.utils.get_registered_name(type(self)),
                "config": self._args()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "class_name" in config and "config" in config:  # the whole envelope
            config = dict(config["config"])
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._args().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._args() == other._args()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))


class _Ramp(_Schedule):
    """A ramp from initial to final sparsity over [begin_step, end_step]."""

    _ARGS = ("final_sparsity", "initial_sparsity", "begin_step", "end_step", "frequency")

    def __init__(self, final_sparsity, *, end_step, begin_step=0, initial_sparsity=0.0,
                 frequency=100):
        owner = type(self).__name__
        self.final_sparsity = _check_sparsity("final_sparsity", owner, final_sparsity)
        self.initial_sparsity = _check_sparsity("initial_sparsity", owner, initial_sparsity)
        if self.initial_sparsity > self.final_sparsity:
            raise errors.ConfigError(
                f"{owner}: `initial_sparsity` ({initial_sparsity}) must not exceed "
                f"`final_sparsity` ({final_sparsity}); pruning cannot bring weights back.")
        self.begin_step, self.end_step = _check_span(owner, begin_step, end_step)
        self.frequency = _check_frequency(owner, frequency)

    def _progress(self, step: tf.Tensor) -> tf.Tensor:
        span = float(self.end_step - self.begin_step)
        p = tf.cast(step - self.begin_step, tf.float32) / span
        return tf.clip_by_value(p, 0.0, 1.0)

    def _curve(self, p: tf.Tensor) -> tf.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, step):
        step = _as_step(step)
        with tf.name_scope(f"{type(self).__name__.lower()}_pruning_schedule"):
            sparsity = self._curve(self._progress(step))
            sparsity = tf.where(step >= self.end_step,
                                tf.constant(self.final_sparsity, tf.float32),
                                tf.cast(sparsity, tf.float32))
            in_range = (step >= self.begin_step) & (step <= self.end_step)
            turn = tf.equal(tf.math.floormod(step - self.begin_step, self.frequency), 0)
            return in_range & (turn | tf.equal(step, self.end_step)), sparsity
