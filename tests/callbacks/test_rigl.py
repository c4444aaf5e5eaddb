"""Tests of tfprune.callbacks.rigl: drop_and_grow invariants, RigL and SET at constant sparsity."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorflow_model_optimization.python.core.sparsity.keras import prune, pruning_callbacks

import tfprune
from tfprune import errors
from tfprune.callbacks import rigl
from tfprune.compat import keras
from tfprune.core import schedules

X = np.random.RandomState(0).rand(80, 12).astype("float32")
Y = np.random.RandomState(1).randint(0, 4, size=80)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 300), density=st.floats(0.05, 1.0), fraction=st.floats(0.0, 1.0),
       seed=st.integers(0, 2**16))
def test_drop_and_grow_keeps_the_active_count_and_grows_only_inactive_entries(
        n, density, fraction, seed):
    rng = np.random.default_rng(seed)
    mask = (rng.random(n) < density).astype("float32")
    weight = rng.normal(size=n).astype("float32") * mask
    scores = rng.random(n).astype("float32")
    new, grown = (t.numpy() for t in rigl.drop_and_grow(weight, mask, scores, fraction))
    assert set(np.unique(new)) <= {0.0, 1.0}
    assert new.sum() == mask.sum()
    assert np.all(grown <= 1 - mask) and np.all(grown <= new)
    k = int(round(mask.sum() * fraction))
    assert (mask - new).clip(0).sum() == grown.sum() <= k


def test_drop_and_grow_drops_smallest_magnitudes_and_grows_largest_scores():
    weight = tf.constant([5.0, -0.1, 3.0, 0.2, 0.0, 0.0, 0.0, 0.0])
    mask = tf.constant([1.0, 1, 1, 1, 0, 0, 0, 0])
    scores = tf.constant([0.0, 0, 0, 0, 0.1, 9.0, 0.3, 8.0])
    new, grown = rigl.drop_and_grow(weight, mask, scores, 0.5)
    np.testing.assert_array_equal(new.numpy(), [1, 0, 1, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(grown.numpy(), [0, 0, 0, 0, 0, 1, 0, 1])


def _sparse_mlp(schedule=None):
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(4)])
    pruned = prune.prune_low_magnitude(model, pruning_schedule=schedule or schedules.OneShot(0.75))
    pruned.compile(keras.optimizers.Adam(0.01),
                   keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return pruned


class _Watch(keras.callbacks.Callback):
    """After each batch: active counts, masks and the weights at newly grown entries."""

    def on_train_begin(self, logs=None):
        self.counts, self.masks, self.grown_values = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        ws = tfprune.masking.pruner.wrapped_layers(self.model)
        masks = [m.numpy().copy() for w in ws for _, m, _ in w.pruning_vars]
        weights = [v.numpy() for w in ws for v, _, _ in w.pruning_vars]
        if self.masks:
            for old, new, wv in zip(self.masks[-1], masks, weights, strict=True):
                self.grown_values.extend(wv[(new > 0) & (old == 0)].tolist())
        self.counts.append([int(m.sum()) for m in masks])
        self.masks.append(masks)


@pytest.mark.slow
@pytest.mark.parametrize("make", [
    lambda: rigl.RigL((X, Y), frequency=4, drop_fraction=0.5, end_step=18, batch_size=16),
    lambda: rigl.SET(frequency=4, drop_fraction=0.5, end_step=18),
], ids=["RigL", "SET"])
def test_regrowth_keeps_sparsity_constant_while_the_mask_changes(make):
    model, cb, watch = _sparse_mlp(), make(), _Watch()
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0,
              callbacks=[pruning_callbacks.UpdatePruningStep(), cb, watch])
    assert watch.counts[0] == [48, 16]  # OneShot(0.75) at step 1: 192 -> 48, 64 -> 16
    assert all(c == watch.counts[0] for c in watch.counts)
    assert [s for s, _ in cb.history] == [4, 8, 12, 16]
    assert all(n > 0 for _, n in cb.history)
    changed = sum(int((a != b).sum()) for a, b in zip(watch.masks[0], watch.masks[-1], strict=True))
    assert changed > 0
    assert watch.grown_values and np.all(np.asarray(watch.grown_values) == 0.0)


@pytest.mark.slow
def test_rigl_regrows_where_the_dense_gradient_is_largest():
    model = _sparse_mlp()
    model.fit(X, Y, batch_size=80, epochs=1, verbose=0,
              callbacks=[pruning_callbacks.UpdatePruningStep()])
    kernel, mask, _ = model.layers[-1].pruning_vars[0]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.loss(Y[:16], model(X[:16], training=False)))
    grad = np.abs(tape.gradient(loss, kernel).numpy())
    assert np.count_nonzero(grad[mask.numpy() == 0]) > 0  # dense gradient at pruned entries
    before = mask.numpy().copy()
    cb = rigl.RigL((X, Y), frequency=1, drop_fraction=0.25, end_step=10, batch_size=16)
    cb.set_model(model)
    cb.on_train_begin()
    cb.update(0)
    grown = (mask.numpy() > 0) & (before == 0)
    kept = (mask.numpy() > 0) & (before > 0)
    inactive_after_drop = ~kept
    threshold = np.sort(grad[inactive_after_drop])[-grown.sum()]
    assert grown.sum() == 4 and np.all(grad[grown] >= threshold)


@pytest.mark.slow
def test_rigl_works_with_tfprune_wrappers_and_pruning_callback():
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16), keras.layers.Dense(4)])
    pruned = tfprune.prune(model, schedule=schedules.OneShot(0.5, step=1))
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = rigl.RigL((X, Y), frequency=5, end_step=15)
    hist = pruned.fit(X, Y, batch_size=8, epochs=2, verbose=0,
                      callbacks=[tfprune.PruningCallback(), cb])
    assert hist.history["sparsity"] == pytest.approx([0.5, 0.5], abs=0.01)
    assert hist.history["rigl_regrown"][0] > 0


def test_rigl_refuses_bad_input_and_a_schedule_that_would_overwrite_its_masks():
    with pytest.raises(errors.ConfigError, match="needs data="):
        rigl.RigL()
    with pytest.raises(errors.ConfigError, match="frequency"):
        rigl.SET(frequency=0)
    with pytest.raises(errors.ConfigError, match="drop_fraction"):
        rigl.SET(drop_fraction=0.0)
    with pytest.raises(errors.ConfigError, match="Unknown grow mode"):
        rigl.RigL((X, Y), grow="magnitude")
    model = _sparse_mlp(schedules.Constant(0.75, frequency=2))
    with pytest.raises(errors.ConfigError, match=r"recomputes them at steps 4, 6, 8.*Manual"):
        model.fit(X, Y, batch_size=8, epochs=1, verbose=0,
                  callbacks=[pruning_callbacks.UpdatePruningStep(), rigl.SET(frequency=4)])
