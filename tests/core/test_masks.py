import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from tfprune.core import masks

SPARSITY = st.floats(0.0, 0.99, allow_nan=False).map(lambda s: float(np.float32(s)))


def expected_kept(n, s):
    return max(1, min(n, round(n * (1 - s))))


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), s=SPARSITY, seed=st.integers(0, 1000))
def test_topk_mask_keeps_exact_count(n, s, seed):
    scores = tf.random.stateless_uniform([n], seed=[seed, 1])
    m = masks.topk_mask(scores, s).numpy()
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert m.sum() == expected_kept(n, s)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 300), a=SPARSITY, b=SPARSITY, seed=st.integers(0, 1000))
def test_topk_mask_is_monotone_in_sparsity(n, a, b, seed):
    lo, hi = sorted((a, b))
    scores = tf.random.stateless_uniform([n], seed=[seed, 2])
    dense_side = masks.topk_mask(scores, lo).numpy()
    sparse_side = masks.topk_mask(scores, hi).numpy()
    assert np.all(sparse_side <= dense_side)  # everything kept at hi is kept at lo


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), s=SPARSITY, seed=st.integers(0, 1000))
def test_remasking_masked_magnitudes_is_idempotent(n, s, seed):
    w = tf.random.stateless_normal([n], seed=[seed, 3])
    m1 = masks.topk_mask(tf.abs(w), s)
    m2 = masks.topk_mask(tf.abs(w * m1), s)
    np.testing.assert_array_equal(m1.numpy(), m2.numpy())


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4))
def test_zero_sparsity_keeps_everything(shape):
    m = masks.topk_mask(tf.random.uniform(shape), 0.0)
    assert m.shape == tuple(shape)
    assert float(tf.reduce_min(m)) == 1.0


def test_topk_mask_breaks_ties_deterministically():
    m = masks.topk_mask(tf.ones([10]), 0.5).numpy()
    assert m.sum() == 5
    np.testing.assert_array_equal(m, masks.topk_mask(tf.ones([10]), 0.5).numpy())


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 80), min_size=1, max_size=5), s=SPARSITY,
       seed=st.integers(0, 1000))
def test_global_masks_meet_total_and_share_one_threshold(sizes, s, seed):
    scores = [tf.random.stateless_uniform([n], seed=[seed, i]) for i, n in enumerate(sizes)]
    ms = masks.global_topk_masks(scores, s)
    total = sum(sizes)
    assert sum(float(m.numpy().sum()) for m in ms) == expected_kept(total, s)
    kept = np.concatenate([sc.numpy()[m.numpy() > 0] for sc, m in zip(scores, ms, strict=True)])
    dropped = np.concatenate([sc.numpy()[m.numpy() == 0] for sc, m in zip(scores, ms, strict=True)])
    if len(dropped):
        assert kept.min() >= dropped.max()


def test_topk_mask_works_inside_tf_function_with_tensor_sparsity():
    f = tf.function(lambda x, s: masks.topk_mask(x, s))
    out = f(tf.constant([[1.0, 5.0], [3.0, 2.0]]), tf.constant(0.5))
    np.testing.assert_array_equal(out.numpy(), [[0, 1], [1, 0]])


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 60), min_size=1, max_size=5), s=SPARSITY,
       seed=st.integers(0, 1000))
def test_global_masks_with_min_per_tensor_keep_every_tensor_alive(sizes, s, seed):
    scores = [tf.random.stateless_uniform([n], seed=[seed, i]) * (10.0 ** i)
              for i, n in enumerate(sizes)]
    ms = masks.global_topk_masks(scores, s, min_per_tensor=1)
    assert all(float(m.numpy().sum()) >= 1 for m in ms)
    kept = sum(float(m.numpy().sum()) for m in ms)
    assert expected_kept(sum(sizes), s) <= kept <= expected_kept(sum(sizes), s) + len(sizes)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=4),
       units=st.lists(st.integers(1, 50), min_size=4, max_size=4), s=SPARSITY,
       seed=st.integers(0, 1000))
def test_weighted_global_masks_keep_weights_within_budget(sizes, units, s, seed):
    units = units[: len(sizes)]
    scores = [tf.random.stateless_uniform([n], seed=[seed, i]) for i, n in enumerate(sizes)]
    ms = masks.global_topk_masks(scores, s, unit_sizes=units)
    total = sum(n * u for n, u in zip(sizes, units, strict=True))
    kept = sum(float(m.numpy().sum()) * u for m, u in zip(ms, units, strict=True))
    budget = expected_kept(total, s)
    assert kept <= max(budget, max(units))  # never over budget (one unit always kept)
    assert kept > budget - max(units) or kept == max(units)  # greedy: stops at the first misfit


def test_normalize_by_mean_ignores_removed_units():
    out = masks.normalize_by_mean(tf.constant([2.0, 4.0, -np.inf])).numpy()
    np.testing.assert_allclose(out[:2], [2 / 3, 4 / 3], rtol=1e-6)
    assert out[2] == -np.inf
