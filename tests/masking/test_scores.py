"""masking/scores.py: a wrapper's criterion scores, unit scores and masks."""

import numpy as np
import pytest
import tensorflow as tf

from tfprune.compat import keras
from tfprune.masking.wrapper import PruningWrapper

L = keras.layers
KERNEL = np.arange(1, 33, dtype="float32").reshape(8, 4) * np.where(
    np.arange(32).reshape(8, 4) % 2, -1.0, 1.0).astype("float32")


def _wrapper(**kw):
    w = PruningWrapper(L.Dense(4, use_bias=False, name="d"), criterion="magnitude", **kw)
    keras.Sequential([keras.Input((8,)), w])
    w.layer.kernel.assign(KERNEL)
    return w


def test_magnitude_scores_and_the_mask_keep_the_largest_weights():
    w = _wrapper()
    np.testing.assert_array_equal(w.scores(0).numpy(), np.abs(KERNEL))
    thr, mask = w.mask_for(0, tf.constant(0.75))
    np.testing.assert_array_equal(mask.numpy(), (np.abs(KERNEL) > 24).astype("float32"))
    assert float(thr) == 25.0  # the smallest kept score


def test_pruned_units_score_minus_infinity():
    w = _wrapper()
    mask = np.ones((8, 4), "float32")
    mask[0] = 0.0
    w.pruning_vars[0][1].assign(mask)
    units = w.unit_scores(0).numpy()
    assert np.isneginf(units[0]).all() and np.isfinite(units[1:]).all()


def test_block_units_are_pooled_and_expanded():
    w = _wrapper(granularity="block:2x2")
    units = w.unit_scores(0).numpy()
    np.testing.assert_allclose(units, np.abs(KERNEL).reshape(4, 2, 2, 2).mean(axis=(1, 3)))
    _, mask = w.mask_for(0, tf.constant(0.5))
    blocks = mask.numpy().reshape(4, 2, 2, 2)
    assert all(len(np.unique(b)) == 1 for row in blocks.transpose(0, 2, 1, 3) for b in row)
    assert mask.numpy().mean() == pytest.approx(0.5)


def test_a_data_criterion_keeps_its_mask_until_statistics_are_recorded():
    w = PruningWrapper(L.Dense(4, name="d"), criterion="wanda")
    keras.Sequential([keras.Input((8,)), w])
    mask = np.zeros((8, 4), "float32")
    mask[:, 0] = 1.0
    w.pruning_vars[0][1].assign(mask)
    _, got = w.mask_for(0, tf.constant(0.5))
    np.testing.assert_array_equal(got.numpy(), mask)  # nothing recorded: unchanged
