"""masking/gates.py: when a wrapper gathers statistics during training."""

import tensorflow as tf

from tfprune.masking import gates


class _Wrapper:
    def __init__(self, step, last=5, every=1, observe=False):
        self.pruning_step = tf.constant(step, tf.int64)
        self.observe, self._last = observe, last
        self.criterion = type("C", (), {"train_every": every})()

    def last_update(self):
        return self._last


def test_gated_runs_the_ops_only_where_the_gate_is_true():
    v = tf.Variable(0.0)
    gates.gated(tf.constant(True), lambda: [v.assign_add(1.0)])
    gates.gated(tf.constant(False), lambda: [v.assign_add(10.0)])
    gates.gated(None, lambda: [v.assign_add(100.0)])
    assert float(v.numpy()) == 101.0


def test_statistics_stop_after_the_last_mask_update():
    assert bool(gates.until_last_update(_Wrapper(step=4)))
    assert not bool(gates.until_last_update(_Wrapper(step=5)))
    assert gates.until_last_update(_Wrapper(step=50, last=None)) is None  # no last update
    assert gates.until_last_update(_Wrapper(step=50, observe=True)) is None  # calibrating


def test_every_nth_step_samples_the_steps_of_a_costly_criterion():
    due = [bool(gates.every_nth_step(_Wrapper(step=s, every=3), None)) for s in range(1, 8)]
    assert due == [True, False, False, True, False, False, True]  # advanced first: steps 0, 3, 6
    gate = tf.constant(False)
    assert not bool(gates.every_nth_step(_Wrapper(step=1, every=3), gate))  # both must hold
    assert gates.every_nth_step(_Wrapper(step=2, every=1), gate) is gate
