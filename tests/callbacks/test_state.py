"""Run state of AccuracyGuard, LotteryTicket, RigL and SET survives interruption and reload.

A run interrupted after an epoch and resumed with ``BackupAndRestore`` (fresh model and
fresh callback, as after a crash) ends exactly where the uninterrupted run ends.
"""

from __future__ import annotations

import numpy as np
import pytest

import tfprune
from tfprune.callbacks import guard, lottery, rigl
from tfprune.compat import keras
from tfprune.masking import pruner

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 6)).astype("float32")
Y = ((X[:, 0] > 0).astype("int64") + (X[:, 1] > 0)).astype("int64")


class Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated crash")


def _model(schedule):
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(3)])
    p = tfprune.prune(base, schedule=schedule)
    p.compile(keras.optimizers.Adam(0.01),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return p


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


def _state(model, cb):
    masks = [m.numpy() for w in pruner.wrapped_layers(model) for _, m, _ in w.pruning_vars]
    extra = {"guard": lambda: (cb.chosen_sparsity, cb.history),
             "lottery": lambda: (cb.round, cb.sparsity)}
    return masks, model.get_weights(), pruner.global_step(model), extra


def _fit(model, cb, more=()):
    return model.fit(X, Y, batch_size=16, epochs=6, shuffle=False, verbose=0,
                     callbacks=[tfprune.PruningCallback(), cb, *more])


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


def test_lottery_after_keras_reload_never_unprunes(tmp_path):
    model = _model(tfprune.schedules.Manual())
    lt = lottery.LotteryTicket(rate=0.5, rounds=2)
    model.fit(X, Y, batch_size=32, epochs=2, verbose=0, callbacks=[lt])
    assert pruner.sparsity_report(model)["sparsity"] == pytest.approx(0.75, abs=0.01)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    lt2 = lottery.LotteryTicket(rate=0.5, rounds=3)
    h = reloaded.fit(X, Y, batch_size=32, epochs=1, verbose=0, callbacks=[lt2])
    # round 3 of 3 (the masks reached round 2): 0.875, never the 0.5 of a fresh round 1
    assert h.history["lottery_round"] == [3]
    assert pruner.sparsity_report(reloaded)["sparsity"] == pytest.approx(0.875, abs=0.01)


def test_guard_after_keras_reload_skips_levels_the_masks_reach(tmp_path):
    model = _model(tfprune.schedules.Manual())
    g = guard.AccuracyGuard("loss", sparsities=[0.5, 0.75], tolerance=10.0)
    model.fit(X, Y, batch_size=32, epochs=3, verbose=0, callbacks=[g])
    assert g.chosen_sparsity == 0.75
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    g2 = guard.AccuracyGuard("loss", sparsities=[0.5, 0.75, 0.9], tolerance=10.0)
    h = reloaded.fit(X, Y, batch_size=32, epochs=2, verbose=0, callbacks=[g2])
    assert h.history["guard_sparsity"] == [0.75, 0.9]  # 0.5 is never tried again
    assert pruner.sparsity_report(reloaded)["sparsity"] >= 0.75 - 1e-3


def test_one_instance_serves_two_fits_and_state_round_trips():
    model = _model(tfprune.schedules.Manual())
    lt = lottery.LotteryTicket(rate=0.5, rounds=2)
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0, callbacks=[lt])
    assert lt.round == 1
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0, callbacks=[lt])
    assert lt.round == 2  # the second fit continues from the masks, it does not restart
    state = lt.get_state()
    assert int(state["round"]) == 2 and len(state["rewind"]) == 4  # 2 kernels, 2 biases
    lt.set_state({"round": 1})
    assert lt.round == 1
    with pytest.raises(tfprune.errors.ConfigError, match="unknown state names"):
        lt.set_state({"rounds": 1})


def test_guard_refuses_a_nan_tolerance():
    with pytest.raises(tfprune.errors.ConfigError, match="tolerance.*finite"):
        guard.AccuracyGuard("loss", tolerance=float("nan"))


def test_fit_too_short_for_a_data_criterion_warns_with_cause_and_fix():
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16), keras.layers.Dense(3)])
    p = tfprune.prune(base, sparsity=0.75, criterion="taylor")
    p.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.warns(UserWarning, match=r"(?s)taylor.*step 0 is skipped.*step 100 "
                      r"\(schedule frequency 100\).*had 4 steps.*Fix"):
        h = p.fit(X, Y, batch_size=16, verbose=0, callbacks=[tfprune.PruningCallback()])
    assert h.history["sparsity"] == [0.0]


def test_fit_that_reaches_the_target_does_not_warn(recwarn):
    p = _model(tfprune.schedules.OneShot(0.5))
    p.fit(X, Y, batch_size=16, verbose=0, callbacks=[tfprune.PruningCallback()])
    assert not [w for w in recwarn if "Pruning reached" in str(w.message)]
