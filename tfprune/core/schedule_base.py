"""What every pruning schedule shares: argument checks and TF-MOT's config envelope.

``Schedule`` gives every schedule of :mod:`tfprune.core.schedules` and
:mod:`tfprune.core.ramps` TF-MOT's ``{"class_name", "config"}`` envelope, repr and equality;
the ``check_*`` functions validate schedule arguments with messages that name the schedule.
Users import the schedules from ``tfprune.schedules``.

Example:
    >>> check_span("AGP", 0, 10)
    (0, 10)
"""

from __future__ import annotations

import numbers

import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule as _tfmot

from tfprune import errors
from tfprune.compat import keras

__all__ = ["Schedule", "as_step", "check_frequency", "check_int", "check_span",
           "check_sparsity", "register"]

register = keras.utils.register_keras_serializable(package="tfprune")
"""Register a schedule class for Keras deserialization under ``package="tfprune"``."""


# ----------------------------------------------------------------------------- validation
def check_int(name: str, owner: str, value, minimum: int) -> int:
    """``value`` as an int, refused unless it is an integer >= ``minimum``.

    Example:
        >>> check_int("step", "OneShot", 3, 0)
        3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise errors.ConfigError(
            f"{owner}: `{name}` must be an integer, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise errors.ConfigError(f"{owner}: `{name}` must be >= {minimum}, got {name}={value}.")
    return int(value)


def check_sparsity(name: str, owner: str, value) -> float:
    """``value`` as a float sparsity in [0, 1) (see :func:`tfprune.errors.check_sparsity`).

    Example:
        >>> check_sparsity("sparsity", "Constant", 0.5)
        0.5
    """
    return errors.check_sparsity(value, name, owner)


def check_frequency(owner: str, frequency) -> int:
    """``frequency`` (steps between mask updates) as a positive int.

    Example:
        >>> check_frequency("AGP", 10)
        10
    """
    if isinstance(frequency, numbers.Integral) and not isinstance(frequency, bool) \
            and frequency <= 0:
        raise errors.ConfigError(
            f"{owner}: `frequency` must be a positive number of steps between mask updates, "
            f"got frequency={frequency}. Use frequency=1 to update at every step.")
    return check_int("frequency", owner, frequency, 1)


def check_span(owner: str, begin_step, end_step) -> tuple[int, int]:
    """``(begin_step, end_step)`` as ints, refused unless ``0 <= begin_step < end_step``.

    Example:
        >>> check_span("Linear", 5, 20)
        (5, 20)
    """
    begin_step = check_int("begin_step", owner, begin_step, 0)
    end_step = check_int("end_step", owner, end_step, -(2**62))
    if end_step <= begin_step:
        raise errors.ConfigError(
            f"{owner}: `end_step` must be greater than `begin_step`, got begin_step="
            f"{begin_step}, end_step={end_step}. Set end_step to the step at which the final "
            f"sparsity is reached (e.g. 75% of epochs * steps_per_epoch).")
    return begin_step, end_step


def as_step(step) -> tf.Tensor:
    """``step`` (an int, an int tensor or a variable, scalar or vector) as int64.

    Example:
        >>> as_step(3).dtype.name
        'int64'
    """
    return tf.cast(step, tf.int64)


# ----------------------------------------------------------------------------- base class
class Schedule(_tfmot.PruningSchedule):
    """Shared envelope, repr and equality; subclasses store their ``__init__`` args.

    A subclass lists its ``__init__`` arguments in ``_ARGS``; ``get_config`` returns them in
    TF-MOT's envelope and ``from_config`` accepts either the envelope or its ``config``.

    Example:
        >>> class Never(Schedule):
        ...     def __call__(self, step):
        ...         return tf.constant(False), tf.constant(0.0)
        >>> Never(), Never() == Never()
        (Never(), True)
    """

    _ARGS: tuple[str, ...] = ()

    def _args(self) -> dict:
        """The ``__init__`` arguments, by name (the ``config`` of the envelope)."""
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
