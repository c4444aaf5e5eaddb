"""measure/batchstats.py: BatchNormalization on batch statistics, working copies."""

import numpy as np

from tfprune.compat import keras
from tfprune.measure import batchstats

L = keras.layers


def _normalised(x, gamma, beta, eps, axes):
    mean, var = x.mean(axes), x.var(axes)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def test_batch_statistics_replace_the_moving_ones_in_2d_and_fused_4d():
    rng = np.random.default_rng(0)
    for shape, axes in (((16, 3), (0,)), ((4, 5, 5, 3), (0, 1, 2))):
        bn = batchstats.BatchStatsNormalization(epsilon=1e-3)
        x = (rng.normal(size=shape) * 4 + 7).astype("float32")
        bn.build(shape)
        gamma, beta = np.array([1.0, 2.0, 0.5], "float32"), np.array([0.0, -1.0, 3.0], "float32")
        # moving statistics far from the batch's: they must not be used
        bn.set_weights([gamma, beta, np.full(3, 100.0, "float32"), np.full(3, 1e-4, "float32")])
        y = bn(x, training=False).numpy()
        np.testing.assert_allclose(y, _normalised(x, gamma, beta, 1e-3, axes), rtol=1e-4,
                                   atol=1e-4)
        assert np.all(bn.moving_mean.numpy() == 100.0)  # nothing updated


def test_working_copy_has_the_weights_in_new_variables():
    m = keras.Sequential([keras.Input((4,)), L.Dense(3, name="d"), L.BatchNormalization(name="bn")])
    w = batchstats.working_copy(m)
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), w.get_weights(), strict=True))
    assert type(w.get_layer("bn")) is L.BatchNormalization
    w.get_layer("d").kernel.assign(np.zeros((4, 3), "float32"))
    assert np.abs(m.get_layer("d").kernel.numpy()).sum() > 0


def test_only_channels_last_batch_norm_is_swapped():
    i = keras.Input((3, 4, 4))
    x = L.BatchNormalization(axis=1, name="first")(i)  # channels-first: kept as it is
    x = L.BatchNormalization(axis=-1, name="last")(x)
    w = batchstats.working_copy(keras.Model(i, x), batch_stats=True)
    assert type(w.get_layer("first")) is L.BatchNormalization
    assert type(w.get_layer("last")) is batchstats.BatchStatsNormalization


def test_has_batch_norm_looks_into_nested_models():
    inner = keras.Sequential([keras.Input((4,)), L.BatchNormalization()])
    i = keras.Input((4,))
    outer = keras.Model(i, L.Dense(2)(inner(i)))
    plain = keras.Sequential([keras.Input((4,)), L.Dense(2)])
    assert batchstats.has_batch_norm(outer) and not batchstats.has_batch_norm(plain)
