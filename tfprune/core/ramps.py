"""Ramp schedules: sparsity rises along a curve from ``begin_step`` to ``end_step``.

The ramps (``AGP``, ``Linear``, ``Exponential``, ``Cosine``) move from
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

Users import them from ``tfprune.schedules``.

Example:
    >>> s = AGP(0.8, end_step=100, frequency=10)
    >>> [round(float(s(t)[1]), 4) for t in (0, 50, 100)]
    [0.0, 0.7, 0.8]
"""

from __future__ import annotations

import math
import numbers

import tensorflow as tf

from tfprune import errors
from tfprune.core.schedule_base import (
    Schedule,
    as_step,
    check_frequency,
    check_span,
    check_sparsity,
    register,
)

__all__ = ["AGP", "Cosine", "Exponential", "Linear", "Polynomial", "Ramp"]

# ----------------------------------------------------------------------------- base class
class Ramp(Schedule):
    """A ramp from ``initial_sparsity`` to ``final_sparsity`` over ``[begin_step, end_step]``.

    Masks are updated every ``frequency`` steps from ``begin_step`` and at ``end_step``; a
    subclass gives the curve ``_curve(p)`` of the progress ``p`` in [0, 1].

    Example:
        >>> class Half(Ramp):
        ...     def _curve(self, p):
        ...         return 0.5 * self.final_sparsity + 0.0 * p
        >>> s = Half(0.5, end_step=10)
        >>> float(s(5)[1]), float(s(10)[1])
        (0.25, 0.5)
    """

    _ARGS = ("final_sparsity", "initial_sparsity", "begin_step", "end_step", "frequency")

    def __init__(self, final_sparsity, *, end_step, begin_step=0, initial_sparsity=0.0,
                 frequency=100):
        owner = type(self).__name__
        self.final_sparsity = check_sparsity("final_sparsity", owner, final_sparsity)
        self.initial_sparsity = check_sparsity("initial_sparsity", owner, initial_sparsity)
        if self.initial_sparsity > self.final_sparsity:
            raise errors.ConfigError(
                f"{owner}: `initial_sparsity` ({initial_sparsity}) must not exceed "
                f"`final_sparsity` ({final_sparsity}); pruning cannot bring weights back.")
        self.begin_step, self.end_step = check_span(owner, begin_step, end_step)
        self.frequency = check_frequency(owner, frequency)

    def _progress(self, step: tf.Tensor) -> tf.Tensor:
        span = float(self.end_step - self.begin_step)
        p = tf.cast(step - self.begin_step, tf.float32) / span
        return tf.clip_by_value(p, 0.0, 1.0)

    def _curve(self, p: tf.Tensor) -> tf.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, step):
        step = as_step(step)
        with tf.name_scope(f"{type(self).__name__.lower()}_pruning_schedule"):
            sparsity = self._curve(self._progress(step))
            sparsity = tf.where(step >= self.end_step,
                                tf.constant(self.final_sparsity, tf.float32),
                                tf.cast(sparsity, tf.float32))
            in_range = (step >= self.begin_step) & (step <= self.end_step)
            turn = tf.equal(tf.math.floormod(step - self.begin_step, self.frequency), 0)
            return in_range & (turn | tf.equal(step, self.end_step)), sparsity


# ----------------------------------------------------------------------------- ramps
@register
class AGP(Ramp):
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

    _ARGS = Ramp._ARGS + ("power",)

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


@register
class Linear(Ramp):
    """Sparsity grows linearly from ``initial_sparsity`` to ``final_sparsity``.

    Args are those of :class:`AGP` without ``power``.

    Example:
        >>> s = Linear(0.8, end_step=100, frequency=10)
        >>> round(float(s(25)[1]), 4), bool(s(25)[0]), bool(s(30)[0])
        (0.2, False, True)
    """

    def _curve(self, p):
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - p)


@register
class Exponential(Ramp):
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


@register
class Cosine(Ramp):
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
