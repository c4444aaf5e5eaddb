"""SparseGPT: reconstruction on calibration data beats magnitude; masks exact; conv, N:M."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria, masks
from tfprune.core.criteria.sparsegpt import sparsegpt_prune
from tfprune.masking import pruner

L = keras.layers


def _correlated(n=256, d=16, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, d // 2))
    x = np.empty((n, d))
    x[:, 0::2], x[:, 1::2] = base, base + 0.1 * rng.normal(size=(n, d // 2))  # pairs
    return x.astype("float32")


def _dense():
    m = keras.Sequential([keras.Input((16,)), L.Dense(8, use_bias=False, name="d")])
    m.layers[0].kernel.assign(np.random.default_rng(1).normal(size=(16, 8)).astype("float32"))
    return m


def _rel_err(model, pruned, x):
    ref = model(x).numpy()
    return float(np.sum((pruned(x).numpy() - ref) ** 2) / np.sum(ref ** 2))


@pytest.mark.parametrize("kw", [{"sparsity": 0.5}, {"granularity": "n:m"}],
                         ids=["50%", "2:4"])
def test_sparsegpt_reconstructs_dense_outputs_better_than_magnitude(kw):
    x, m = _correlated(), _dense()
    errs = {}
    for name in ("magnitude", "sparsegpt"):
        p = tfprune.one_shot(m, kw.get("sparsity"), criterion=name,
                             granularity=kw.get("granularity"),
                             data=x if name == "sparsegpt" else None)
        kernel = tfprune.strip(p).layers[0].kernel.numpy()
        mask = pruner.wrapped_layers(p)[0].pruning_vars[0][1].numpy()
        assert np.mean(kernel == 0) == pytest.approx(0.5, abs=1e-6)
        assert np.all(kernel[mask == 0] == 0)
        if "granularity" in kw:  # 2 of every 4 inputs of each output
            assert np.all(mask.reshape(4, 4, 8).sum(axis=1) == 2)
        errs[name] = _rel_err(m, tfprune.strip(p), x)
    assert errs["sparsegpt"] < 0.75 * errs["magnitude"], errs
    np.testing.assert_array_equal(m.layers[0].kernel.numpy() != 0, True)  # user model intact


def test_sparsegpt_prune_is_exact_count_and_beats_obs_mask_free_update():
    rng = np.random.default_rng(3)
    x = _correlated(128, 24, 3).astype(np.float64)
    w = rng.normal(size=(24, 5))
    w2, mask = sparsegpt_prune(w, x.T @ x, sparsity=0.7, block_size=8)
    assert int(mask.sum()) == round(0.3 * w.size)
    assert np.all(w2[mask == 0] == 0)
    plain = sparsegpt_prune(w, x.T @ x, sparsity=0.0)[0]
    np.testing.assert_allclose(plain, w, rtol=1e-4, atol=1e-5)  # nothing removed: unchanged


@pytest.mark.slow
def test_sparsegpt_on_conv2d_through_im2col_is_sequential():
    rng = np.random.default_rng(0)
    m = keras.Sequential([keras.Input((6, 6, 4)), L.Conv2D(8, 3, activation="relu", name="c1"),
                          L.Conv2D(4, 3, name="c2"), L.Flatten(), L.Dense(3, name="fc")])
    x = rng.normal(size=(32, 6, 6, 4)).astype("float32")
    p = tfprune.one_shot(m, 0.5, criterion="sparsegpt", data=x)
    for w in pruner.wrapped_layers(p):
        assert masks.mask_sparsity(w.pruning_vars[0][1]) == pytest.approx(0.5, abs=1e-3)
    mag = tfprune.one_shot(m, 0.5)
    assert _rel_err(m, tfprune.strip(p), x) < _rel_err(m, tfprune.strip(mag), x)


def test_sparsegpt_refuses_unsupported_granularity_and_bad_config():
    with pytest.raises(errors.ConfigError, match="'sparsegpt'.*supports granularity"):
        tfprune.prune(_dense(), sparsity=0.5, criterion="sparsegpt", granularity="channel")
    with pytest.raises(errors.ConfigError, match="block_size"):
        criteria.SparseGPT(block_size=0)
    with pytest.raises(errors.ConfigError, match="one of sparsity"):
        sparsegpt_prune(np.ones((4, 1)), np.eye(4))


def test_sparsegpt_config_round_trips():
    c = criteria.SparseGPT(damp=0.05, block_size=32)
    assert type(c).from_config(c.get_config()) == c
    assert criteria.get(criteria.serialize(c)) == c
