import numpy as np
import pytest

from tfprune import errors
from tfprune.compat import keras

L = keras.layers


def _out(model, x):
    """The model's inference output on ``x``, called eagerly (no predict function to trace)."""
    return model(x, training=False).numpy()


def _cnn():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6, 6, 2)),
                             L.Conv2D(12, 3, padding="same", activation="relu", name="c1"),
                             L.Conv2D(8, 3, activation="relu", name="c2"), L.Flatten(),
                             L.Dense(10, activation="relu", name="fc"), L.Dense(3, name="out")])


@pytest.mark.slow
def test_one_shot_compensate_lowers_the_loss_and_shrinks_exactly():
    import tfprune

    m = _cnn()
    x = np.random.default_rng(0).random((256, 6, 6, 2), dtype=np.float32)
    ref = _out(m, x)
    y = ref.argmax(-1)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    kw = {"criterion": "l1", "granularity": "channel", "data": (x, y)}
    plain = tfprune.one_shot(m, 0.5, **kw)
    comp = tfprune.one_shot(m, 0.5, **dict(kw, data=tfprune.Calibration((x, y), compensate=True)))
    out, plain_out = _out(comp, x), _out(plain, x)
    assert float(loss(y, out)) < float(loss(y, plain_out))
    assert np.mean((out - ref) ** 2) < 0.5 * np.mean((plain_out - ref) ** 2)
    small = tfprune.shrink(tfprune.strip(comp))
    assert small.count_params() < m.count_params()
    np.testing.assert_allclose(_out(small, x), out, atol=1e-4)


def test_one_shot_compensate_refusals():
    import tfprune

    m, x = _cnn(), np.zeros((32, 6, 6, 2), "float32")
    with pytest.raises(errors.ConfigError, match="pass data="):
        tfprune.one_shot(m, 0.5, criterion="l1", granularity="channel", data=tfprune.Calibration(compensate=True))
    with pytest.raises(errors.ConfigError, match="at least 16"):
        tfprune.one_shot(m, 0.5, data=tfprune.Calibration(x[:4], compensate=True))
    with pytest.raises(errors.ConfigError, match="True or False"):
        tfprune.one_shot(m, 0.5, criterion="l1", data=tfprune.Calibration(x, compensate="yes"))


@pytest.mark.slow
def test_one_shot_compensate_re_estimates_batchnorm_statistics():
    """Removing channels shifts what later BatchNormalizations see: compensate re-estimates
    their moving statistics on the calibration data (a DS-CNN fell to chance without it)."""
    import tfprune
    from tfprune.masking.refit import recalibrate_bn

    L = keras.layers
    i = keras.Input((8, 8, 3))
    h = L.BatchNormalization(name="bn1")(L.Conv2D(8, 3, padding="same", name="c1")(i))
    h = L.BatchNormalization(name="bn2")(L.Conv2D(6, 3, padding="same", name="c2")(L.ReLU()(h)))
    m = keras.Model(i, L.Dense(3, name="out")(L.GlobalAveragePooling2D()(h)))
    x = np.random.default_rng(0).random((64, 8, 8, 3)).astype("float32")
    recalibrate_bn(m, x)  # dense statistics, as after training
    before = m.get_layer("bn2").moving_mean.numpy().copy()
    pruned = tfprune.one_shot(m, 0.5, criterion="l1", granularity="channel", data=tfprune.Calibration(x, compensate=True))
    small = tfprune.shrink(tfprune.strip(pruned))
    np.testing.assert_array_equal(m.get_layer("bn2").moving_mean.numpy(), before)  # not modified
    bn2 = small.get_layer("bn2")
    seen = _out(keras.Model(small.inputs, bn2.input), x).reshape(-1, bn2.input.shape[-1])
    np.testing.assert_allclose(bn2.moving_mean.numpy(), seen.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn2.moving_variance.numpy(), seen.var(0), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("criterion,granularity", [("magnitude", "weight"),
                                                   ("sparsegpt", "weight"),
                                                   ("magnitude", "n:m")])
def test_one_shot_compensate_at_weight_granularity_re_estimates_batchnorm(criterion, granularity):
    """Weight pruning shifts what later BatchNormalizations see as much as channel removal:
    compensate=True re-estimates their statistics on the calibration inputs of the PRUNED
    model (the DS-CNN's one-shot SparseGPT at 50 %: 48 % without, 91 % with, bench/oneshot.py),
    and the output on those inputs moves closer to the dense model's."""
    import tfprune

    L = keras.layers
    i = keras.Input((8, 8, 4))
    h = L.BatchNormalization(name="bn1")(L.Conv2D(8, 3, padding="same", name="c1")(i))
    h = L.BatchNormalization(name="bn2")(L.Conv2D(8, 3, padding="same", name="c2")(L.ReLU()(h)))
    m = keras.Model(i, L.Dense(3, name="out")(L.GlobalAveragePooling2D()(h)))
    x = np.random.default_rng(0).random((64, 8, 8, 4)).astype("float32") + 1.0
    from tfprune.masking.refit import recalibrate_bn
    recalibrate_bn(m, x)  # the dense model's statistics, as after training
    before = m.get_layer("bn2").moving_mean.numpy().copy()
    kw = dict(criterion=criterion, granularity=granularity, data=x)
    plain = tfprune.strip(tfprune.one_shot(m, 0.7 if granularity == "weight" else None, **kw))
    comp = tfprune.strip(tfprune.one_shot(m, 0.7 if granularity == "weight" else None,
                                          **dict(kw, data=tfprune.Calibration(x, compensate=True))))
    np.testing.assert_array_equal(m.get_layer("bn2").moving_mean.numpy(), before)  # not modified
    for layer in ("c1", "c2"):  # the same weights: only the statistics differ
        np.testing.assert_array_equal(comp.get_layer(layer).kernel.numpy(),
                                      plain.get_layer(layer).kernel.numpy())
    bn2 = comp.get_layer("bn2")
    seen = _out(keras.Model(comp.inputs, bn2.input), x).reshape(-1, 8)
    np.testing.assert_allclose(bn2.moving_mean.numpy(), seen.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn2.moving_variance.numpy(), seen.var(0), rtol=1e-3, atol=1e-5)
    assert not np.allclose(bn2.moving_mean.numpy(), plain.get_layer("bn2").moving_mean.numpy())
