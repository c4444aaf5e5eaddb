"""Run state of AccuracyGuard and LotteryTicket survives a Keras reload and a second fit.

(Interrupted-and-resumed runs: test_state_resume.py.)
"""

from __future__ import annotations

import pytest

import tfprune
from tfprune.callbacks import guard, lottery
from tfprune.compat import keras
from tfprune.masking import pruner

from ._state_runs import X, Y, _model


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_fit_too_short_for_a_data_criterion_warns_with_cause_and_fix():
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16), keras.layers.Dense(3)])
    p = tfprune.prune(base, sparsity=0.75, criterion="taylor")
    p.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    p.optimizer.build(p.trainable_variables)  # fit traces its step once, not twice
    with pytest.warns(UserWarning, match=r"(?s)taylor.*step 0 is skipped.*step 100 "
                      r"\(schedule frequency 100\).*had 4 steps.*Fix"):
        h = p.fit(X, Y, batch_size=16, verbose=0, callbacks=[tfprune.PruningCallback()])
    assert h.history["sparsity"] == [0.0]


@pytest.mark.slow
def test_fit_that_reaches_the_target_does_not_warn(recwarn):
    p = _model(tfprune.schedules.OneShot(0.5))
    p.fit(X, Y, batch_size=16, verbose=0, callbacks=[tfprune.PruningCallback()])
    assert not [w for w in recwarn if "Pruning reached" in str(w.message)]
