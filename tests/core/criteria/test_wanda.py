"""Wanda: |w| * ||x||, per-output comparison groups in one_shot, every granularity."""

import warnings

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria
from tfprune.masking import channels, pruner

L = keras.layers


def _data(n=64, d=8, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype("float32")
    x[:, 0] *= 10.0  # one outlier feature: its weights matter most
    return x


def _model():
    m = keras.Sequential([keras.Input((8,)), L.Dense(6, name="a"), L.Dense(4, name="b")])
    m.layers[0].kernel.assign(np.random.default_rng(2).normal(size=(8, 6)).astype("float32"))
    return m


def test_wanda_score_is_weight_times_input_norm():
    x = _data()
    w = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
    got = criteria.get("wanda").score(w, {"hessian": x.T @ x / len(x)}).numpy()
    expected = np.abs(w) * np.linalg.norm(x, axis=0)[:, None] / np.sqrt(len(x))
    np.testing.assert_allclose(got, expected, rtol=1e-4)


@pytest.mark.slow
def test_one_shot_wanda_keeps_the_same_count_per_output_and_the_outlier_feature():
    x, m = _data(), _model()
    p = tfprune.one_shot(m, 0.5, criterion="wanda", data=x)
    mask = pruner.wrapped_layers(p)[0].pruning_vars[0][1].numpy()
    np.testing.assert_array_equal(mask.sum(axis=0), 4)  # per output: 4 of 8 inputs
    assert mask[0].all()  # the 10x feature is kept by every output
    layer = pruner.wrapped_layers(tfprune.one_shot(m, 0.5, data=x,
                                                   criterion=criteria.Wanda(per_output=False)))[0]
    assert layer.pruning_vars[0][1].numpy().sum() == 24  # layer-wide ranking, same count
    kernel = tfprune.strip(p).layers[0].kernel.numpy()
    np.testing.assert_array_equal(kernel != 0, mask > 0)  # weights not updated, only masked
    np.testing.assert_allclose(kernel[mask > 0], m.layers[0].kernel.numpy()[mask > 0])


def test_wanda_at_nm_and_channel_granularity():
    x, m = _data(), _model()
    p = tfprune.one_shot(m, criterion="wanda", granularity="n:m", data=x, exclude=["b"])
    mask = pruner.wrapped_layers(p)[0].pruning_vars[0][1].numpy()
    assert np.all(mask.reshape(2, 4, 6).sum(axis=1) == 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to l1: the producer kernel is scored
        p = tfprune.one_shot(m, 0.5, criterion="wanda", granularity="channel", data=x)
    keep = channels.keep_state(pruner.wrapped_layers(p))["a"]
    s = np.abs(m.layers[0].kernel.numpy()) * np.linalg.norm(x, axis=0)[:, None]
    np.testing.assert_array_equal(keep, np.isin(np.arange(6), np.argsort(-s.sum(axis=0))[:3]))


def test_wanda_without_data_is_refused_and_config_round_trips():
    with pytest.raises(errors.ConfigError, match="pass data="):
        tfprune.one_shot(_model(), 0.5, criterion="wanda")
    with pytest.raises(errors.ConfigError, match="per_output"):
        criteria.Wanda(per_output=1)
    c = criteria.Wanda(per_output=False)
    assert type(c).from_config(c.get_config()) == c
