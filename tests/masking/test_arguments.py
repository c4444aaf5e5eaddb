"""masking/arguments.py: Request, Calibration and the deprecated keywords of prune/one_shot."""

import warnings

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.masking import arguments


def dense():
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="d")])


def test_calibration_of_wraps_plain_data_once():
    cal = arguments.of([1, 2])
    assert cal == arguments.Calibration([1, 2]) and arguments.of(cal) is cal
    assert (cal.loss, cal.max_batches, cal.compensate) == (None, None, False)


def test_deprecated_keywords_fold_into_granularity_and_data_with_a_warning():
    @arguments.accepts_deprecated("n_m", "block", "loss", "max_batches", "compensate")
    def f(*, granularity=None, data=None):
        return granularity, data

    with pytest.warns(DeprecationWarning, match=r"n_m=\(1, 4\) is deprecated; use "
                      r"granularity='1:4'.*removed in tfprune 0\.4"):
        assert str(f(granularity="n:m", n_m=(1, 4))[0]) == "1:4"
    with pytest.warns(DeprecationWarning, match=r"block=\(8, 1\).*granularity='block:8x1'"):
        assert str(f(granularity="block", block=(8, 1))[0]) == "block:8x1"
    with pytest.warns(DeprecationWarning, match=r"loss='mse'.*tfprune\.Calibration"):
        _, data = f(data=[1], loss="mse", max_batches=2)
    assert data == arguments.Calibration([1], loss="mse", max_batches=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new spelling is silent
        assert f(granularity="2:4") == ("2:4", None)


def test_an_unknown_keyword_still_raises_naming_it():
    with pytest.raises(TypeError, match="n_mm"):
        tfprune.prune(dense(), sparsity=0.5, n_mm=(2, 4))
    with pytest.raises(TypeError, match="max_batch"):
        tfprune.one_shot(dense(), 0.5, max_batch=2)


def test_a_bad_deprecated_pair_is_blamed_on_its_keyword():
    with pytest.raises(errors.ConfigError, match=r"`n_m` = \(4, 2\).*0 < N < M"):
        tfprune.prune(dense(), granularity="n:m", n_m=(4, 2))


def test_one_shot_loss_and_max_batches_keywords_give_the_same_model():
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    y = np.random.default_rng(1).normal(size=(64, 4)).astype("float32")
    m = dense()
    new = tfprune.one_shot(m, 0.5, criterion="taylor",
                           data=tfprune.Calibration((x, y), loss="mse", max_batches=1))
    with pytest.warns(DeprecationWarning, match="loss="):
        old = tfprune.one_shot(m, 0.5, criterion="taylor", data=(x, y), loss="mse",
                               max_batches=1)
    np.testing.assert_array_equal(new.layers[0].pruning_vars[0][1].numpy(),
                                  old.layers[0].pruning_vars[0][1].numpy())


def test_the_compensate_keyword_warns_and_gives_the_same_model():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, name="d"),
                          keras.layers.BatchNormalization(name="bn"),
                          keras.layers.Dense(4, name="out")])
    x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
    new = tfprune.one_shot(m, 0.5, data=tfprune.Calibration(x, compensate=True))
    with pytest.warns(DeprecationWarning, match=r"compensate=True is deprecated; use "
                      r"data=tfprune\.Calibration\(data, compensate=True\)") as caught:
        old = tfprune.one_shot(m, 0.5, data=x, compensate=True)
    assert caught[0].filename == __file__  # the warning points at the user's call
    np.testing.assert_array_equal(new.get_layer("bn").moving_mean.numpy(),
                                  old.get_layer("bn").moving_mean.numpy())
    assert not np.array_equal(new.get_layer("bn").moving_mean.numpy(),
                              m.get_layer("bn").moving_mean.numpy())
