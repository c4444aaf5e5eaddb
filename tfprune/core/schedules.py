"""Pruning schedules: when to update masks, and to which sparsity.

Every schedule is a registered subclass of TF-MOT's ``PruningSchedule``, so it works
with :func:`tfprune.prune` and inside TF-MOT's own ``prune_low_magnitude``, and it
survives .keras, .h5 and SavedModel round trips (registered under ``package="tfprune"``;
``get_config`` returns TF-MOT's ``{"class_name", "config"}`` envelope).

``schedule(step) -> (should_prune, sparsity)`` is graph-safe: ``step`` may be a Python
int, an int tensor or the wrapper's int64 ``pruning_step`` variable, and also a vector
of steps (element-wise). It returns a bool tensor and a float32 tensor.

The ramps (``AGP``/``Polynomial``, ``Linear``, ``Exponential``, ``Cosine``) live in
:mod:`tfprune.core.ramps` and are re-exported here; masks are updated every ``frequency``
steps from ``begin_step`` AND at ``end_step`` itself, so the final sparsity is always
applied.

Step counting under TF-MOT's wrapper: ``UpdatePruningStep`` sets the step to 0 at the
start of ``fit`` and the wrapper adds 1 before its mask update, so the first training
batch sees step 1 (step 0 is never a mask update inside ``fit``).

Example:
    >>> s = AGP(0.8, end_step=100, frequency=10)
    >>> [round(float(s(t)[1]), 4) for t in (0, 50, 100)]
    [0.0, 0.7, 0.8]
"""

from __future__ import annotations

import numbers

import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule as _tfmot

from tfprune import errors
from tfprune.core.ramps import AGP, Cosine, Exponential, Linear, Polynomial
from tfprune.core.schedule_base import (
    Schedule,
    as_step,
    check_frequency,
    check_int,
    check_span,
    check_sparsity,
    register,
)

__all__ = [
    "AGP",
    "Constant",
    "Cosine",
    "Exponential",
    "Iterative",
    "Linear",
    "Manual",
    "OneShot",
    "Polynomial",
    "get",
    "last_update",
]


# ----------------------------------------------------------------------------- schedules
@register
class Constant(Schedule):
    """Constant sparsity from ``begin_step`` on, re-applied every ``frequency`` steps.

    Args:
        sparsity: fraction of weights set to zero, in [0, 1).
        begin_step: first step at which masks are updated (>= 0).
        end_step: last step at which masks are updated, or -1 to keep updating for ever.
        frequency: steps between mask updates (> 0).

    Example:
        >>> s = Constant(0.5, begin_step=10, frequency=5)
        >>> [bool(s(t)[0]) for t in (5, 10, 12, 15)], float(s(12)[1])
        ([False, True, False, True], 0.5)
    """

    _ARGS = ("sparsity", "begin_step", "end_step", "frequency")

    def __init__(self, sparsity, *, begin_step=0, end_step=-1, frequency=100):
        self.sparsity = check_sparsity("sparsity", "Constant", sparsity)
        self.begin_step = check_int("begin_step", "Constant", begin_step, 0)
        if end_step != -1:
            check_span("Constant", begin_step, end_step)
        self.end_step = int(end_step)
        self.frequency = check_frequency("Constant", frequency)

    def __call__(self, step):
        step = as_step(step)
        in_range = step >= self.begin_step
        if self.end_step >= 0:
            in_range &= step <= self.end_step
        turn = tf.equal(tf.math.floormod(step - self.begin_step, self.frequency), 0)
        sparsity = tf.fill(tf.shape(step), tf.constant(self.sparsity, tf.float32))
        return in_range & turn, sparsity


@register
class Iterative(Schedule):
    """Plateaus: prune to a sparsity at given steps, fine-tune in between, prune more.

    Masks are updated exactly at the plateau steps; between them the sparsity of the
    last plateau holds. Before the first plateau the sparsity is 0.

    Args:
        plateaus: list of ``(step, sparsity)``; steps strictly increasing (>= 0),
            sparsities strictly increasing in [0, 1).

    Example:
        >>> s = Iterative([(10, 0.5), (20, 0.75)])
        >>> [float(s(t)[1]) for t in (5, 10, 15, 20, 30)], bool(s(20)[0]), bool(s(21)[0])
        ([0.0, 0.5, 0.5, 0.75, 0.75], True, False)

    References:
        Han et al., "Learning both weights and connections for efficient neural
        networks", NeurIPS 2015.
    """

    _ARGS = ("plateaus",)

    def __init__(self, plateaus):
        if isinstance(plateaus, (str, bytes)) or not hasattr(plateaus, "__iter__"):
            raise errors.ConfigError(
                f"Iterative: `plateaus` must be a list of (step, sparsity) pairs, got {plateaus!r}.")
        pairs = []
        for i, item in enumerate(plateaus):
            if not hasattr(item, "__len__") or len(item) != 2:
                raise errors.ConfigError(
                    f"Iterative: plateaus[{i}] must be a (step, sparsity) pair, got {item!r}.")
            pairs.append([check_int(f"plateaus[{i}] step", "Iterative", item[0], 0),
                          check_sparsity(f"plateaus[{i}] sparsity", "Iterative", item[1])])
        if not pairs:
            raise errors.ConfigError(
                "Iterative: `plateaus` is empty; give at least one (step, sparsity) pair, "
                "e.g. [(1000, 0.5), (2000, 0.75)].")
        for i in range(1, len(pairs)):
            (s0, p0), (s1, p1) = pairs[i - 1], pairs[i]
            if s1 <= s0 or p1 <= p0:
                raise errors.ConfigError(
                    f"Iterative: plateaus must increase in both step and sparsity, but "
                    f"plateaus[{i - 1}]={tuple(pairs[i - 1])} is followed by plateaus[{i}]="
                    f"{tuple(pairs[i])}. Sort them by step and give each a higher sparsity.")
        self.plateaus = pairs

    @property
    def begin_step(self) -> int:
        return self.plateaus[0][0]

    @property
    def end_step(self) -> int:
        return self.plateaus[-1][0]

    @property
    def final_sparsity(self) -> float:
        return self.plateaus[-1][1]

    def __call__(self, step):
        step = as_step(step)
        steps = tf.constant([p[0] for p in self.plateaus], tf.int64)
        levels = tf.constant([0.0] + [p[1] for p in self.plateaus], tf.float32)
        flat = tf.reshape(step, [-1])
        passed = tf.reduce_sum(
            tf.cast(flat[:, None] >= steps[None, :], tf.int32), axis=1)
        sparsity = tf.reshape(tf.gather(levels, passed), tf.shape(step))
        hit = tf.reduce_any(tf.equal(flat[:, None], steps[None, :]), axis=1)
        return tf.reshape(hit, tf.shape(step)), sparsity


@register
class OneShot(Schedule):
    """Prune once, at ``step``, to ``sparsity``; masks then stay fixed.

    Args:
        sparsity: fraction of weights set to zero, in [0, 1).
        step: the one step at which masks are computed (>= 0). Under TF-MOT's wrapper and
            ``fit``, step 1 is the first training batch.

    Example:
        >>> s = OneShot(0.75, step=1)
        >>> [bool(s(t)[0]) for t in (0, 1, 2)], float(s(1)[1])
        ([False, True, False], 0.75)
    """

    _ARGS = ("sparsity", "step")

    def __init__(self, sparsity, *, step=1):
        self.sparsity = check_sparsity("sparsity", "OneShot", sparsity)
        self.step = check_int("step", "OneShot", step, 0)

    @property
    def begin_step(self) -> int:
        return self.step

    end_step = begin_step

    def __call__(self, step):
        step = as_step(step)
        sparsity = tf.where(step >= self.step, self.sparsity, 0.0)
        return tf.equal(step, self.step), tf.cast(sparsity, tf.float32)


@register
class Manual(Schedule):
    """Never updates masks by itself: masks are set by hand or by a callback.

    Use it with :class:`tfprune.callbacks.guard.AccuracyGuard`, :class:`tfprune.callbacks.lottery.LotteryTicket`
    or :class:`tfprune.callbacks.rigl.RigL`, which own the masks and refuse a schedule that would
    overwrite them during ``fit``.

    Example:
        >>> bool(Manual()(100)[0])
        False
    """

    def __call__(self, step):
        step = as_step(step)
        return tf.zeros_like(step, tf.bool), tf.zeros(tf.shape(step), tf.float32)


# ----------------------------------------------------------------------------- lookup
_NAMES = {
    "constant": Constant, "agp": AGP, "polynomial": AGP, "linear": Linear,
    "exponential": Exponential, "cosine": Cosine, "iterative": Iterative,
    "one_shot": OneShot, "oneshot": OneShot, "manual": Manual,
}


def _by_name(name: str):
    key = name.split(">")[-1].lower()
    if key not in _NAMES:
        raise errors.unknown_name("schedule", name, _NAMES)
    return _NAMES[key]


def get(identifier, **kwargs) -> _tfmot.PruningSchedule:
    """Return a schedule from an instance, a name plus arguments, or a config envelope.

    Args:
        identifier: a ``PruningSchedule`` (returned as is; TF-MOT's own are accepted), a
            name (``"agp"``, ``"polynomial"``, ``"constant"``, ``"linear"``,
            ``"exponential"``, ``"cosine"``, ``"iterative"``, ``"one_shot"``,
            ``"manual"``; case-insensitive) or a ``{"class_name", "config"}`` dict as
            returned by ``get_config``.
        **kwargs: the schedule's arguments, with a name only.

    Returns:
        A ``PruningSchedule`` instance.

    Raises:
        tfprune.errors.ConfigError: unknown name (valid names listed), missing or
            unexpected arguments, or arguments given with an instance.

    Example:
        >>> get("agp", final_sparsity=0.5, end_step=10)
        AGP(final_sparsity=0.5, initial_sparsity=0.0, begin_step=0, end_step=10, frequency=100, power=3)
        >>> get({"class_name": "tfprune>OneShot", "config": {"sparsity": 0.5, "step": 3}})
        OneShot(sparsity=0.5, step=3)
    """
    if isinstance(identifier, _tfmot.PruningSchedule):
        if kwargs:
            raise errors.ConfigError(
                f"schedules.get: arguments {sorted(kwargs)} given with a schedule instance "
                f"({identifier!r}); pass either an instance or a name with arguments.")
        return identifier
    if isinstance(identifier, dict):
        if set(identifier) != {"class_name", "config"} or kwargs:
            raise errors.ConfigError(
                "schedules.get: a dict must be a schedule config {'class_name': ..., "
                f"'config': {{...}}}} with no other arguments, got keys {sorted(identifier)}.")
        name, kwargs = identifier["class_name"], dict(identifier["config"])
        cls = {"ConstantSparsity": _tfmot.ConstantSparsity,
               "PolynomialDecay": _tfmot.PolynomialDecay}.get(name) or _by_name(name)
    elif isinstance(identifier, str):
        cls = _by_name(identifier)
    else:
        raise errors.ConfigError(
            f"schedules.get: expected a PruningSchedule, a name or a config dict, got "
            f"{identifier!r} ({type(identifier).__name__}).")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise errors.ConfigError(
            f"schedules.get: cannot build {cls.__name__} from {kwargs}: {exc}. See "
            f"help(tfprune.schedules.{cls.__name__}) for its arguments.") from exc


def last_update(schedule, horizon: int = 100_000) -> int | None:
    """The last step at which ``schedule`` can update masks, or None (no last step known).

    A schedule with an ``end_step >= 0`` (the ramps, ``Constant(end_step=...)``,
    ``OneShot``, ``Iterative``, TF-MOT's ``PolynomialDecay``) has one, provided it does
    not fire after it (checked over ``horizon`` steps). ``Constant`` without ``end_step``
    updates for ever, and ``Manual`` hands the masks to callbacks that may update them at
    any step: both give None. The pruning wrappers stop gathering statistics after this
    step, since no mask update can use them.

    Example:
        >>> last_update(AGP(0.5, end_step=300)), last_update(OneShot(0.5, step=0))
        (300, 0)
        >>> last_update(Constant(0.5)) is None, last_update(Manual()) is None
        (True, True)
    """
    if isinstance(schedule, Manual):
        return None
    end = getattr(schedule, "end_step", None)
    if not isinstance(end, numbers.Integral) or end < 0:
        return None
    try:
        with tf.init_scope():  # eager even when called while a tf.function is traced
            later = schedule(tf.range(end + 1, end + 1 + horizon, dtype=tf.int64))[0]
            fires = bool(tf.reduce_any(later))
    except Exception:  # noqa: BLE001 - a schedule that only takes a scalar step
        return None
    return None if fires else int(end)
