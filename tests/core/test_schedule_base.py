"""core/schedule_base.py: the argument checks every schedule shares, and the base class's
envelope, repr and equality."""

import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.core import schedule_base as sb


class Every(sb.Schedule):
    """A test schedule: prune every ``frequency`` steps to ``sparsity``."""

    _ARGS = ("sparsity", "frequency")

    def __init__(self, sparsity, frequency=1):
        self.sparsity = sb.check_sparsity("sparsity", "Every", sparsity)
        self.frequency = sb.check_frequency("Every", frequency)

    def __call__(self, step):
        step = sb.as_step(step)
        return tf.equal(step % self.frequency, 0), tf.constant(self.sparsity)


def test_check_int_refuses_bools_floats_and_small_values_naming_the_owner():
    assert sb.check_int("n", "Own", 4, 1) == 4
    for bad, why in ((True, "must be an integer"), (2.0, "must be an integer"),
                     (0, "must be >= 1, got n=0")):
        with pytest.raises(errors.ConfigError, match=f"Own: `n` {why}"):
            sb.check_int("n", "Own", bad, 1)


def test_frequency_and_span_refusals_say_the_fix():
    with pytest.raises(errors.ConfigError, match="Use frequency=1 to update at every step"):
        sb.check_frequency("AGP", 0)
    with pytest.raises(errors.ConfigError, match="begin_step=5, end_step=5.*Set end_step"):
        sb.check_span("Linear", 5, 5)
    with pytest.raises(errors.ConfigError, match="`begin_step` must be >= 0"):
        sb.check_span("Linear", -1, 5)
    with pytest.raises(errors.ConfigError):
        sb.check_sparsity("sparsity", "Every", 1.0)


def test_envelope_round_trip_repr_and_equality():
    s = Every(0.5, frequency=3)
    config = s.get_config()
    assert config["config"] == {"sparsity": 0.5, "frequency": 3}
    assert Every.from_config(config) == s == Every.from_config(config["config"])
    assert repr(s) == "Every(sparsity=0.5, frequency=3)"
    assert s != Every(0.5, frequency=2) and len({s, Every(0.5, frequency=3)}) == 1
    update, sparsity = s(tf.constant([6], tf.int32))
    assert update.numpy().tolist() == [True] and float(sparsity) == 0.5
