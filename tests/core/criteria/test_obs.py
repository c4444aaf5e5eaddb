"""tfprune.core.criteria.obs: matrix views and the OBS update."""

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria
from tfprune.core.criteria.obs import matrix_views, tf_matrix_view

from ._fitted import cnn as _cnn
from ._fitted import data as _data

L = keras.layers


def test_matrix_views_agree_between_numpy_and_tensorflow():
    w = np.random.default_rng(0).normal(size=(3, 3, 4, 2))
    h = np.random.default_rng(1).normal(size=(4, 9, 9))
    views, back = matrix_views(w, h)
    mats, _, tf_back = tf_matrix_view(tf.constant(w), tf.constant(h))
    np.testing.assert_array_equal(np.stack([v for v, _ in views]), mats.numpy())
    np.testing.assert_array_equal(back([v for v, _ in views]), w)
    np.testing.assert_array_equal(tf_back(mats).numpy(), w)


def test_obs_reconstructs_layer_output_better_than_magnitude():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 12)).astype("float32")
    x[:, 1] = x[:, 0] + 0.01 * x[:, 1]  # correlated inputs: OBS can compensate
    m = keras.Sequential([keras.Input((12,)), L.Dense(6, use_bias=False, name="d")])
    ref = m(x).numpy()
    errs = {}
    for name in ("magnitude", "obs"):
        p = tfprune.strip(tfprune.one_shot(m, 0.6, criterion=name,
                                           data=x if name == "obs" else None))
        errs[name] = float(np.mean((p(x).numpy() - ref) ** 2))
        assert np.mean(p.layers[0].kernel.numpy() == 0) == pytest.approx(0.6, abs=0.02)
    assert errs["obs"] < 0.9 * errs["magnitude"]


def test_obs_handles_conv2d_through_im2col():
    x, _ = _data(32)
    m = _cnn()
    p = tfprune.one_shot(m, 0.5, criterion="obs", data=x, exclude=["fc", "head"])
    w = tfprune.masking.pruner.wrapped_layers(p)[0]
    assert w.statistics(0)["hessian"].shape == (18, 18)
    assert tfprune.masking.pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5, abs=0.01)


def test_obs_config_is_validated():
    with pytest.raises(errors.ConfigError, match="damp"):
        criteria.OBS(damp=-1)
