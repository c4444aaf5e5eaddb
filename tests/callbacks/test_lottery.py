"""Tests of tfprune.callbacks.lottery.LotteryTicket: rounds, rewinding, errors."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow_model_optimization.python.core.sparsity.keras import prune

import tfprune
from tfprune import errors
from tfprune.callbacks import lottery
from tfprune.compat import keras
from tfprune.core import schedules

X = np.random.RandomState(0).rand(80, 12).astype("float32")
Y = np.random.RandomState(1).randint(0, 4, size=80)


def _pruned(schedule=None):
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(4)])
    pruned = prune.prune_low_magnitude(model, pruning_schedule=schedule or schedules.Manual())
    pruned.compile(keras.optimizers.Adam(0.01),
                   keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return pruned


class _Snap(keras.callbacks.Callback):
    """Snapshots of the layer weights: after batch ``at_step`` and at each epoch end."""

    def __init__(self, at_step=0):
        super().__init__()
        self.at_step, self.at, self.epoch_end, self._n = at_step, None, [], 0

    def _weights(self):
        return [w.layer.get_weights() for w in tfprune.masking.pruner.wrapped_layers(self.model)]

    def on_train_begin(self, logs=None):
        if self.at_step == 0:
            self.at = self._weights()

    def on_train_batch_end(self, batch, logs=None):
        self._n += 1
        if self._n == self.at_step:
            self.at = self._weights()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end.append(self._weights())


def _masks(model):
    return [m.numpy().copy() for w in tfprune.masking.pruner.wrapped_layers(model)
            for _, m, _ in w.pruning_vars]


@pytest.mark.slow
@pytest.mark.parametrize("rewind_step", [0, 3])
def test_rewinding_restores_the_recorded_weights_under_the_mask(rewind_step):
    model, snap = _pruned(), _Snap(rewind_step)
    ticket = lottery.LotteryTicket(rate=0.5, rounds=1, rewind_step=rewind_step)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[snap, ticket])
    trained = snap.epoch_end[0]  # _Snap runs before the ticket: weights before rewinding
    for w, recorded, before in zip(tfprune.masking.pruner.wrapped_layers(model), snap.at, trained, strict=True):
        kernel, bias = w.layer.get_weights()
        mask = w.pruning_vars[0][1].numpy()
        assert 1 - mask.mean() == 0.5
        np.testing.assert_array_equal(kernel, recorded[0] * mask)
        np.testing.assert_array_equal(bias, recorded[1])
        kept = np.abs(before[0])[mask > 0]
        dropped = np.abs(before[0])[mask == 0]
        assert kept.min() >= dropped.max()  # magnitude pruning of the trained weights


@pytest.mark.slow
def test_rounds_prune_rate_of_the_remaining_weights_and_masks_are_nested():
    model, snap = _pruned(), _Snap()
    ticket = lottery.LotteryTicket(rate=0.5, rounds=2, reset_optimizer=True)

    class _Masks(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.seen = getattr(self, "seen", []) + [_masks(self.model)]
            self.slots = [v.numpy() for v in self.model.optimizer.variables[1:]]

    watch = _Masks()
    hist = model.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[snap, ticket, watch])
    assert hist.history["lottery_sparsity"] == [0.5, 0.75]
    assert hist.history["lottery_round"] == [1, 2]
    first, second = watch.seen
    for a, b in zip(first, second, strict=True):
        assert 1 - b.mean() == 0.75 and np.all(b <= a)
    assert all(np.all(s == 0) for s in watch.slots)  # optimizer slots reset at the rewind
    for w, recorded in zip(tfprune.masking.pruner.wrapped_layers(model), snap.at, strict=True):
        np.testing.assert_array_equal(w.layer.get_weights()[0],
                                      recorded[0] * w.pruning_vars[0][1].numpy())


@pytest.mark.slow
def test_rewinding_without_recorded_weights_says_how_to_fix_it():
    with pytest.raises(errors.ConfigError, match="no weights were recorded.*record"):
        lottery.LotteryTicket().rewind(_pruned())
    model = _pruned()
    ticket = lottery.LotteryTicket(rate=0.2, rounds=1, rewind_step=50)
    with pytest.raises(errors.ConfigError, match="rewind_step=50, 10 training steps seen"):
        model.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[ticket])


def test_lottery_refuses_bad_arguments_and_an_active_schedule():
    with pytest.raises(errors.ConfigError, match="rate"):
        lottery.LotteryTicket(rate=1.0)
    with pytest.raises(errors.ConfigError, match="rounds"):
        lottery.LotteryTicket(rounds=0)
    with pytest.raises(errors.ConfigError, match="LotteryTicket sets the masks itself.*Manual"):
        _pruned(schedules.AGP(0.5, end_step=10, frequency=2)).fit(
            X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[lottery.LotteryTicket()])


@pytest.mark.slow
def test_lottery_warns_when_fit_is_too_short_for_its_rounds():
    with pytest.warns(UserWarning, match="need 4.*only 0 rounds"):
        _pruned().fit(X, Y, batch_size=40, epochs=1, verbose=0,
                      callbacks=[lottery.LotteryTicket(rounds=2, epochs_per_round=2)])
