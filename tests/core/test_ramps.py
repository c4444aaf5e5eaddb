"""core/ramps.py: the ramp schedules' formulas from initial to final sparsity (AGP against
Zhu & Gupta and TF-MOT's PolynomialDecay; Linear, Exponential, Cosine in closed form).
(End points and the TF-MOT envelope of every schedule: test_schedules.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)

from tfprune import errors
from tfprune.core import ramps, schedules


def _curve(schedule, steps):
    should, sparsity = schedule(tf.constant(steps, tf.int64))
    return should.numpy(), sparsity.numpy()


@pytest.mark.parametrize("begin,end,freq,s_i,s_f,power", [
    (0, 1000, 100, 0.0, 0.9, 3), (10, 95, 7, 0.2, 0.8, 3), (0, 50, 1, 0.0, 0.5, 1),
    (5, 40, 4, 0.1, 0.95, 2.5)])
def test_agp_equals_zhu_gupta_formula_at_every_step(begin, end, freq, s_i, s_f, power):
    steps = np.arange(0, end + 30)
    should, got = _curve(schedules.AGP(s_f, end_step=end, begin_step=begin, initial_sparsity=s_i,
                                       power=power, frequency=freq), steps)
    p = np.clip((steps - begin) / (end - begin), 0, 1)
    expected = s_f + (s_i - s_f) * (1 - p) ** power
    np.testing.assert_allclose(got, expected, atol=1e-6)
    on_grid = ((steps - begin) % freq == 0) & (steps >= begin) & (steps <= end)
    np.testing.assert_array_equal(should, on_grid | (steps == end))
    tfmot = tfmot_schedules.PolynomialDecay(s_i, s_f, begin, end, power, freq)
    np.testing.assert_allclose(got, _curve(tfmot, steps)[1], atol=1e-6)


def test_linear_exponential_and_cosine_follow_their_closed_forms():
    steps = np.arange(0, 61)
    p = np.clip((steps - 10) / 40, 0, 1)  # begin 10, end 50
    s_i, s_f = 0.2, 0.8
    want = {
        ramps.Linear: s_f + (s_i - s_f) * (1 - p),
        ramps.Exponential: 1 - (1 - s_i) * ((1 - s_f) / (1 - s_i)) ** p,
        ramps.Cosine: s_f + (s_i - s_f) * 0.5 * (1 + np.cos(math.pi * p)),
    }
    for cls, expected in want.items():
        _, got = _curve(cls(s_f, end_step=50, begin_step=10, initial_sparsity=s_i), steps)
        np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=cls.__name__)
    assert schedules.AGP is ramps.AGP is ramps.Polynomial


@pytest.mark.parametrize("power", [float("nan"), float("inf"), -float("inf"), "3"])
def test_agp_refuses_a_non_finite_power_at_construction(power):
    """AGP(power=nan) was accepted and fit died in the graph trace (issue 24, fuzz)."""
    with pytest.raises(errors.ConfigError, match="power"):
        schedules.AGP(0.9, end_step=8, power=power)
