"""masking/refit.py: the least-squares refit of consumers of removed channels."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.masking import refit

L = keras.layers
X = np.random.default_rng(0).normal(size=(256, 6)).astype("float32")


def _mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6,)), L.Dense(8, name="h"), L.Dense(3, name="out")])


@pytest.mark.slow
def test_refit_reproduces_the_output_when_the_removed_inputs_are_redundant():
    m = _mlp()
    masked = keras.models.clone_model(m)
    masked.set_weights(m.get_weights())
    h = masked.get_layer("h")
    k, b = h.get_weights()
    k[:, 7], b[7] = k[:, 0] * 2.0, b[0] * 2.0  # channel 7 = 2 * channel 0 (linear layer)
    h.set_weights([k, b])
    m.get_layer("h").set_weights([k, b])
    keep = np.ones((8, 3), "float32")
    keep[7] = 0.0  # out loses its input 7
    masked.get_layer("out").kernel.assign(masked.get_layer("out").kernel * keep)
    before = np.abs(masked.predict(X, verbose=0) - m.predict(X, verbose=0)).max()
    refit.refit_layers(m, masked, ["out"], {"out": (keep, None)}, X, damp=1e-9)
    after = np.abs(masked.predict(X, verbose=0) - m.predict(X, verbose=0)).max()
    assert before > 1e-2 and after < 1e-3  # input 0 absorbs what input 7 carried
    assert np.all(masked.get_layer("out").kernel.numpy()[7] == 0)  # the mask is kept


def test_recalibrate_bn_takes_the_statistics_of_the_data():
    m = keras.Sequential([keras.Input((2,)), L.Dense(2, name="d"), L.BatchNormalization(name="bn")])
    m.get_layer("d").set_weights([np.eye(2, dtype="float32"), np.array([1.0, -2.0], "float32")])
    assert refit.recalibrate_bn(m, X[:, :2]) == ["bn"]
    want = X[:, :2] + np.array([1.0, -2.0])
    np.testing.assert_allclose(m.get_layer("bn").moving_mean.numpy(), want.mean(0), atol=1e-5)
    np.testing.assert_allclose(m.get_layer("bn").moving_variance.numpy(), want.var(0), rtol=1e-4)


def test_what_fits_and_too_few_samples():
    assert refit.fits(L.Dense(2)) and refit.fits(L.Conv2D(2, 3))
    assert not refit.fits(L.Conv2D(2, 3, dilation_rate=2))
    assert not refit.fits(L.DepthwiseConv2D(3))
    with pytest.raises(errors.ConfigError, match="got 15 calibration samples; give at least 16"):
        refit.check_samples(X[:15])


@pytest.mark.slow
def test_one_shot_compensate_refits_only_the_consumer_and_keeps_the_masks():
    m = _mlp()
    plain = tfprune.one_shot(m, 0.5, criterion="l1", granularity="channel", data=X)
    comp = tfprune.one_shot(m, 0.5, criterion="l1", granularity="channel", data=tfprune.Calibration(X, compensate=True))
    k_plain = plain.get_layer("out").layer.kernel.numpy()
    k_comp = comp.get_layer("out").layer.kernel.numpy()
    np.testing.assert_array_equal(k_plain == 0, k_comp == 0)  # same channels removed
    assert not np.allclose(k_plain, k_comp)  # the kept inputs were refitted
    np.testing.assert_array_equal(plain.get_layer("prune_h").layer.kernel.numpy(),
                                  comp.get_layer("prune_h").layer.kernel.numpy())
    ref = m.predict(X, verbose=0)
    err = [np.mean((tfprune.strip(p).predict(X, verbose=0) - ref) ** 2) for p in (plain, comp)]
    assert err[1] < err[0]  # least squares on the same data: never worse
