"""Pruning schedules: when to update masks, and to which sparsity.

Every schedule is a registered subclass of TF-MOT's ``PruningSchedule``, so it works
with :func:`tfprune.prune` and inside TF-MOT's own ``prune_low_magnitude``, and it
survives .keras, .h5 and SavedModel round trips (registered under ``package="tfprune"``;
``get_config`` returns TF-MOT's ``{"class_name", "config"}`` envelope).

``schedule(step) -> (should_prune, sparsity)`` is graph-safe: ``step`` may be a Python
int, an int tensor or the wrapper's int64 ``pruning_step`` variable, and also a vector
of steps (element-wise). It returns a bool tensor and a float32 tensor.

Ramp schedules (``AGP``, ``Linear``, ``Exponential``, ``Cosine``) move from
``initial_sparsity`` at ``begin_step`` to ``final_sparsity`` at ``end_step``; masks are
updated every ``frequency`` steps from ``begin_step`` AND at ``end_step`` itself, so the
final sparsity is always applied (TF-MOT's ``PolynomialDecay`` skips it when
``end_step - begin_step`` is not a multiple of ``frequency``). With progress
``p = clip((t - begin_step) / (end_step - begin_step), 0, 1)``:

=============  ===============================================================
``AGP``        ``s_f + (s_i - s_f) * (1 - p) ** power``  (Zhu & Gupta 2017)
``Linear``     ``s_f + (s_i - s_f) * (1 - p)``
``Cosine``     ``s_f + (s_i - s_f) * (1 + cos(pi * p)) / 2``
``Exponential````1 - (1 - s_i) * ((1 - s_f) / (1 - s_i)) ** p``: every update removes
               the same fraction of the remaining weights
=============  ===============================================================

Step counting under TF-MOT's wrapper: ``UpdatePruningStep`` sets the step to 0 at the
start of ``fit`` and the wrapper adds 1 before its mask update, so the first training
batch sees step 1 (step 0 is never a mask update inside ``fit``).

Example:
    >>> s = AGP(0.8, end_step=100, frequency=10)
    >>> [round(float(s(t)[1]), 4) for t in (0, 50, 100)]
    [0.0, 0.7, 0.8]
"""

from __future__ import annotations

import math
import numbers

import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule as _tfmot

from tfprune import errors
from tfprune.compat import keras
from tfprune.core._schedule_base import (
    _as_step,
    _check_frequency,
    _check_int,
    _check_span,
    _check_sparsity,
    _Ramp,
    _Schedule,
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

_register = keras.utils.register_keras_serializable(package="tfprune")


# ----------------------------------------------------------------------------- schedules
@_register
class Constant(_Schedule):
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
        self.sparsity = _check_sparsity("sparsity", "Constant", sparsity)
        self.begin_step = _check_int("begin_step", "Constant", begin_step, 0)
        if end_step != -1:
            _check_span("Constant", begin_step, end_step)
        self.end_step = int(end_step)
        self.frequency = _check_frequency("Constant", frequency)

    def __call__(self, step):
        step = _as_step(step)
        in_range = step >= self.begin_step
        if self.end_step >= 0:
            in_range &= step <= self.end_step
        turn = tf.equal(tf.math.floormod(step - self.begin_step, self.frequency), 0)
        sparsity = tf.fill(tf.shape(step), tf.constant(self.sparsity, tf.float32))
        return in_range & turn, sparsity


@_register
class AGP(_Ramp):
    """Automated gradual pruning (Zhu & Gupta): a polynomial ramp, fast first, slow last.

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** power`` for
    ``t0 <= t <= t0 + n * dt``, with ``t0 = begin_step``, ``t0 + n * dt = end_step`` and
    ``dt = frequency`` (masks are also updated at ``end_step``). ``Polynomial`` is the same
    class. Identical to TF-MOT's ``PolynomialDecay`` at every step.

    Args:
        final_sparsity: sparsity reached at ``end_step``, in [0, 1).
        end_step: step at which ``final_sparsity`` is reached (> ``begin_step``).
        begin_step: first mask update (>= 0).
        initial_sparsity: sparsity at ``begin_step`` (<= ``final_sparsity``).
        power: exponent of the ramp (> 0); 3 in the paper, 1 is linear.
        frequency: steps between mask updates (> 0), ``dt`` in the paper.

    Example:
        >>> s = AGP(0.9, end_step=1000, begin_step=0, power=3)
        >>> round(float(s(500)[1]), 4)
        0.7875

    References:
        Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of pruning for
        model compression", 2017. https://arxiv.org/abs/1710.01878
    """

    _ARGS = _Ramp._ARGS + ("power",)

    def __init__(self, final_sparsity, *, end_step, begin_step=0, initial_sparsity=0.0,
                 power=3, frequency=100):
        super().__init__(final_sparsity, end_step=end_step, begin_step=begin_step,
                         initial_sparsity=initial_sparsity, frequency=frequency)
        if isinstance(power, bool) or not isinstance(power, numbers.Real) \
                or not math.isfinite(float(power)) or power <= 0:
            raise errors.ConfigError(
                f"AGP: `power` must be a positive number (3 in Zhu & Gupta), got power={power!r}.")
        self.power = power

    def _curve(self, p):
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * tf.pow(
            1.0 - p, float(self.power))


Polynomial = AGP


@_register
class Linear(_Ramp):
    """Sparsity grows linearly from ``initial_sparsity`` to ``final_sparsity``.

    Args are those of :class:`AGP` without ``power``.

    Example:
        >>> s = Linear(0.8, end_step=100, frequency=10)
        >>> round(float(s(25)[1]), 4), bool(s(25)[0]), bool(s(30)[0])
        (0.2, False, True)
    """

    def _curve(self, p):
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - p)


@_register
class Exponential(_Ramp):
    """Every update removes the same fraction of the weights that remain.

    ``1 - s_t = (1 - s_i) * ((1 - s_f) / (1 - s_i)) ** p``: the density decays
    geometrically, as in iterative magnitude pruning with a fixed rate per round.

    Args are those of :class:`AGP` without ``power``.

    Example:
        >>> s = Exponential(0.75, end_step=100)
        >>> round(float(s(50)[1]), 4)
        0.5

    References:
        Han et al., "Learning both weights and connections for efficient neural
        networks", NeurIPS 2015 (iterative pruning at a constant rate).
    """

    def _curve(self, p):
        ratio = (1.0 - self.final_sparsity) / (1.0 - self.initial_sparsity)
        return 1.0 - (1.0 - self.initial_sparsity) * tf.pow(ratio, p)


@_register
class Cosine(_Ramp):
    """Sparsity follows a half cosine: slow at both ends, fastest in the middle.

    Args are those of :class:`AGP` without ``power``.

    Example:
        >>> s = Cosine(0.8, end_step=100)
        >>> round(float(s(50)[1]), 4)
        0.4
    """

    def _curve(self, p):
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * 0.5 * (
            1.0 + tf.cos(math.pi * p))


@_register
class Iterative(_Schedule):
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
            pairs.append([_check_int(f"plateaus[{i}] step", "Iterative", item[0], 0),
                          _check_sparsity(f"plateaus[{i}] sparsity", "Iterative", item[1])])
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
        step = _as_step(step)
        steps = tf.constant([p[0] for p in self.plateaus], tf.int64)
        levels = tf.constant([0.0] + [p[1] for p in self.plateaus], tf.float32)
        flat = tf.reshape(step, [-1])
        passed = tf.reduce_sum(
            tf.cast(flat[:, None] >= steps[None, :], tf.int32), axis=1)
        sparsity = tf.reshape(tf.gather(levels, passed), tf.shape(step))
        hit = tf.reduce_any(tf.equal(flat[:, None], steps[None, :]), axis=1)
        return tf.reshape(hit, tf.shape(step)), sparsity


@_register
class OneShot(_Schedule):
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
        self.sparsity = _check_sparsity("sparsity", "OneShot", sparsity)
        self.step = _check_int("step", "OneShot", step, 0)

    @property
    def begin_step(self) -> int:
        return self.step

    end_step = begin_step

    def __call__(self, step):
        step = _as_step(step)
        sparsity = tf.where(step >= self.step, self.sparsity, 0.0)
        return tf.equal(step, self.step), tf.cast(sparsity, tf.float32)


@_register
class Manual(_Schedule):
    """Never updates masks by itself: masks are set by hand or by a callback.

    Use it with :class:`tfprune.callbacks.guard.AccuracyGuard`, :class:`tfprune.callbacks.lottery.LotteryTicket`
    or :class:`tfprune.callbacks.rigl.RigL`, which own the masks and refuse a schedule that would
    overwrite them during ``fit``.

    Example:
        >>> bool(Manual()(100)[0])
        False
    """

    def __call__(self, step):
        step = _as_step(step)
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
