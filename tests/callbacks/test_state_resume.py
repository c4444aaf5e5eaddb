"""Run state of AccuracyGuard, LotteryTicket, RigL and SET survives interruption.

A run interrupted after an epoch and resumed with ``BackupAndRestore`` (fresh model and
fresh callback, as after a crash) ends exactly where the uninterrupted run ends. (Its own
file, apart from test_state.py, so the two pytest-xdist workers share the load.)
"""

from __future__ import annotations

import numpy as np
import pytest

import tfprune
from tfprune.callbacks import guard, lottery, rigl
from tfprune.compat import keras

from ._state_runs import Interrupt, X, Y, _fit, _model, _state

CASES = {
    "guard": (tfprune.schedules.Manual, lambda: guard.AccuracyGuard(
        "loss", sparsities=[0.5, 0.75, 0.9], tolerance=10.0, epochs_per_level=1,
        stop_training=False)),
    "lottery": (tfprune.schedules.Manual, lambda: lottery.LotteryTicket(rate=0.5, rounds=3)),
    "rigl": (lambda: tfprune.schedules.OneShot(0.6), lambda: rigl.RigL(
        (X, Y), frequency=3, drop_fraction=0.5, batch_size=16)),
    "set": (lambda: tfprune.schedules.OneShot(0.6), lambda: rigl.SET(frequency=3,
                                                                     drop_fraction=0.5)),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CASES))
def test_interrupted_and_resumed_run_equals_uninterrupted_run(kind, tmp_path):
    schedule, make = CASES[kind]
    full, cb_full = _model(schedule()), make()
    _fit(full, cb_full)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    crashed, cb_crashed = _model(schedule()), make()
    with pytest.raises(KeyboardInterrupt):
        _fit(crashed, cb_crashed, [backup, Interrupt(2)])
    resumed, cb_resumed = _model(schedule()), make()  # a new process would start like this
    hist = _fit(resumed, cb_resumed, [keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    assert len(hist.history["loss"]) == 3  # epochs 4..6 only: the run did resume
    a, b = _state(full, cb_full), _state(resumed, cb_resumed)
    assert a[2] == b[2] == 24
    for ma, mb in zip(a[0], b[0], strict=True):
        np.testing.assert_array_equal(ma, mb)
    for wa, wb in zip(a[1], b[1], strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-5)
    if kind in a[3]:
        assert a[3][kind]() == b[3][kind]()
    if kind == "lottery":
        assert cb_resumed.round == 3 and cb_resumed.sparsity == 0.875
    if kind == "guard":
        assert cb_resumed.chosen_sparsity == 0.9
