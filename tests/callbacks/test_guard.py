"""Tests of tfprune.callbacks.guard.AccuracyGuard on sklearn digits (offline, 1,797 8x8 images)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from tensorflow_model_optimization.python.core.sparsity.keras import prune

from tfprune import errors
from tfprune.callbacks import guard
from tfprune.compat import keras
from tfprune.core import schedules
from tfprune.masking import pruner


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(x))
    x, y = (x[order] / 16.0).astype("float32"), y[order]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def _pruned(schedule=None):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10)])
    pruned = prune.prune_low_magnitude(model, pruning_schedule=schedule or schedules.Manual())
    pruned.compile(keras.optimizers.Adam(0.01),
                   keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=["accuracy"])
    return pruned


def _layer_sparsities(model):
    return [1 - float(m.numpy().mean()) for w in pruner.wrapped_layers(model)
            for _, m, _ in w.pruning_vars]


@pytest.mark.slow
def test_guard_ends_at_the_highest_sparsity_that_held(digits):
    train, val = digits
    model = _pruned()
    g = guard.AccuracyGuard("val_accuracy", sparsities=[0.5, 0.8, 0.9, 0.99, 0.998],
                            tolerance=0.03, warmup_epochs=3)
    hist = model.fit(*train, validation_data=val, batch_size=64, epochs=12, verbose=0,
                     callbacks=[g])
    held = [h["sparsity"] for h in g.history if h["held"]]
    assert [h["held"] for h in g.history] == [True] * len(held) + [False]  # stopped at a drop
    assert len(held) >= 2 and g.chosen_sparsity == held[-1]
    failed = g.history[-1]
    assert failed["value"] < g.reference - 0.03
    assert len(hist.history["loss"]) == 3 + len(held) + 1  # stop_training after the drop
    assert hist.history["guard_sparsity"][:3] == [0.0] * 3
    assert hist.history["guard_sparsity"][3:] == held + [failed["sparsity"]]
    # the last good state is back: masks at the chosen sparsity, metric as recorded then
    assert _layer_sparsities(model) == pytest.approx([g.chosen_sparsity] * 2, abs=1e-3)
    accuracy = model.evaluate(*val, verbose=0)[1]
    assert accuracy == pytest.approx(g.history[len(held) - 1]["value"], abs=1e-6)
    assert accuracy >= g.reference - 0.03


@pytest.mark.slow
def test_guard_undoes_a_level_that_fit_ended_before_judging(digits):
    train, val = digits
    model = _pruned()
    g = guard.AccuracyGuard("val_loss", sparsities=[0.5, 0.6], tolerance=10.0,
                            epochs_per_level=2, warmup_epochs=1)
    model.fit(*train[:2], validation_data=val, batch_size=200, epochs=2, verbose=0,
              callbacks=[g])
    assert g.mode == "min" and g.history == [] and g.chosen_sparsity == 0.0
    assert _layer_sparsities(model) == [0.0, 0.0]


@pytest.mark.slow
def test_guard_names_the_metrics_that_exist_when_monitor_is_missing(digits):
    train, val = digits
    with pytest.raises(errors.ConfigError, match="Metrics that exist: 'accuracy', 'loss'"):
        _pruned().fit(*train, batch_size=200, epochs=1, verbose=0,
                      callbacks=[guard.AccuracyGuard("val_precision")])
    with pytest.raises(errors.ConfigError,
                       match="monitor='val_accuracy'.*'accuracy', 'loss'.*validation_data"):
        _pruned().fit(*train, batch_size=200, epochs=1, verbose=0,
                      callbacks=[guard.AccuracyGuard("val_accuracy")])


def test_guard_refuses_bad_arguments_and_an_active_schedule(digits):
    with pytest.raises(errors.ConfigError, match="strictly increasing"):
        guard.AccuracyGuard(sparsities=[0.5, 0.5])
    with pytest.raises(errors.ConfigError, match="baseline"):
        guard.AccuracyGuard(warmup_epochs=0)
    with pytest.raises(errors.ConfigError, match="Unknown mode"):
        guard.AccuracyGuard(mode="up")
    train, _ = digits
    with pytest.raises(errors.ConfigError, match="AccuracyGuard sets the masks itself"):
        _pruned(schedules.Constant(0.5, frequency=3)).fit(
            *train, batch_size=200, epochs=1, verbose=0, callbacks=[guard.AccuracyGuard("loss")])
