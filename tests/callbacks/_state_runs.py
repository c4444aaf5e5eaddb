"""Data, model and fit shared by test_state.py and test_state_resume.py."""

from __future__ import annotations

import numpy as np

import tfprune
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
    p.optimizer.build(p.trainable_variables)  # fit traces its step once, not twice
    return p


def _state(model, cb):
    masks = [m.numpy() for w in pruner.wrapped_layers(model) for _, m, _ in w.pruning_vars]
    extra = {"guard": lambda: (cb.chosen_sparsity, cb.history),
             "lottery": lambda: (cb.round, cb.sparsity)}
    return masks, model.get_weights(), pruner.global_step(model), extra


def _fit(model, cb, more=()):
    return model.fit(X, Y, batch_size=16, epochs=6, shuffle=False, verbose=0,
                     callbacks=[tfprune.PruningCallback(), cb, *more])
