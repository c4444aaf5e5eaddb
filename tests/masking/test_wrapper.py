"""PruningWrapper passes masks and call arguments through: the pruned model at sparsity 0 is
the original, and the stripped model is the trained one. (Pruning inside layer wrappers and
under mixed precision: test_wrapper_inside.py.)"""

import numpy as np
import pytest

import tfprune
from tfprune.compat import keras

from ._helpers import assert_close, fit

L = keras.layers
RNG = np.random.default_rng(0)


@pytest.mark.slow
@pytest.mark.parametrize("rnn", [L.LSTM, L.GRU])
def test_embedding_mask_reaches_the_recurrent_layer(rnn):
    ids = RNG.integers(1, 10, (8, 6))
    ids[:, 4:] = 0  # padding: masked by mask_zero
    m = keras.Sequential([keras.Input((6,)), L.Embedding(10, 4, mask_zero=True),
                          rnn(5), L.Dense(2)])
    assert_close(tfprune.prune(m, sparsity=0.0)(ids), m(ids))
    p = fit(tfprune.prune(m, sparsity=0.5), ids, np.ones((8, 2)))
    assert_close(tfprune.strip(p)(ids), p(ids))


@pytest.mark.slow  # ~40 s under the shared load (RNN/attention tracing)
def test_attention_mask_and_keras_mask_pass_through_multi_head_attention():
    ids = keras.Input((5,))
    pad = keras.Input((5, 5))
    h = L.Embedding(10, 4, mask_zero=True)(ids)
    h = L.MultiHeadAttention(2, 4, name="mha")(h, h, attention_mask=pad)
    m = keras.Model([ids, pad], L.Dense(2)(L.GlobalAveragePooling1D()(h)))
    x = [RNG.integers(0, 10, (8, 5)), (RNG.random((8, 5, 5)) > 0.3).astype("float32")]
    assert_close(tfprune.prune(m, sparsity=0.0)(x), m(x))
    p = fit(tfprune.prune(m, sparsity=0.5), x, np.ones((8, 2)))
    assert_close(tfprune.strip(p)(x), p(x))


@pytest.mark.slow  # ~40 s under the shared load (RNN/attention tracing)
def test_masking_layer_mask_reaches_conv1d_and_lstm():
    x = RNG.normal(size=(8, 6, 3)).astype("float32")
    x[:, 4:] = 0.0
    m = keras.Sequential([keras.Input((6, 3)), L.Masking(0.0), L.Conv1D(4, 1),
                          L.LSTM(3), L.Dense(2)])
    assert_close(tfprune.prune(m, sparsity=0.0)(x), m(x))
    p = fit(tfprune.prune(m, sparsity=0.5), x, np.ones((8, 2)))
    assert_close(tfprune.strip(p)(x), p(x))


def _old_layout(config, **changes):
    """A wrapper config as tfprune 0.2 saved it: ``n_m``/``block`` beside ``granularity``."""
    old = dict(config, n_m=[2, 4], block=[4, 1])
    old.update(changes)
    return old


@pytest.mark.parametrize("granularity, old, spelling", [
    ("n:m", {"n_m": [1, 4]}, "1:4"),
    ("block", {"block": [2, 2]}, "block:2x2"),
    ("weight", {}, "weight"),
    ("unstructured", {}, "weight"),
])
def test_a_config_saved_in_the_old_key_layout_still_loads(granularity, old, spelling):
    from tfprune.masking.wrapper import PruningWrapper, WrapperOptions

    w = PruningWrapper(keras.layers.Dense(4, name="d"), criterion="magnitude",
                       options=WrapperOptions(sparsity_scale=0.5, scope="layer"))
    keras.Sequential([keras.Input((8,)), w])
    config = _old_layout(w.get_config(), granularity=granularity, **old)
    assert {"update", "sparsity_scale", "channel_map", "scope", "scored", "n_m",
            "block"} <= set(config)
    loaded = PruningWrapper.from_config(config)
    assert str(loaded.granularity_spec) == spelling
    assert (loaded.n_m, loaded.block) == (
        tuple(old.get("n_m", (2, 4))) if spelling != "weight" else (2, 4),
        tuple(old.get("block", (4, 1))) if spelling != "weight" else (4, 1))
    assert (loaded.sparsity_scale, loaded.update, loaded.scope) == (0.5, "layer", "layer")
    assert loaded.get_config()["granularity"] == spelling and "n_m" not in loaded.get_config()
