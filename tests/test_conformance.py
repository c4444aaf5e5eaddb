"""Conformance: every registered criterion at every granularity on small layer types.

A supported combination prunes to the target (weight/block: half the weights of every
kernel; n:m: 2 of every 4; channel: half the channels of every group, head: half the heads
of a MultiHeadAttention, and the shrunk model equals the masked one); an unsupported one is
refused naming the granularities the criterion supports.
"""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria, masks
from tfprune.masking import channels, pruner

L = keras.layers
BUILTIN = ["magnitude", "random", "l1", "l2", "fpgm", "bn_scale", "taylor", "obd", "snip",
           "movement", "apoz", "mean_activation", "hrank", "obs", "sensitivity", "wanda",
           "sparsegpt"]
GRANULARITIES = ["weight", "n:m", "block", "channel"]


def dense():
    return keras.Sequential([keras.Input((8,)), L.Dense(8, activation="relu", name="d"),
                             L.Dense(4, name="out")])


def conv():
    i = keras.Input((6, 6, 4))
    x = L.Conv2D(8, 3, activation="relu", name="c")(i)
    return keras.Model(i, L.Dense(4, name="out")(L.Flatten()(x)))


def dw_bn():
    i = keras.Input((6, 6, 4))
    x = L.Conv2D(8, 1, name="pw")(i)
    x = L.DepthwiseConv2D(3, name="dw")(x)
    x = L.ReLU()(L.BatchNormalization(name="bn")(x))
    return keras.Model(i, L.Dense(4, name="out")(L.GlobalAveragePooling2D()(x)))


def attention():
    i = keras.Input((8,), dtype="int32")
    x = L.Embedding(50, 16, name="emb")(i)
    x = L.MultiHeadAttention(num_heads=4, key_dim=4, name="mha")(x, x)
    return keras.Model(i, L.Dense(4, name="out")(L.GlobalAveragePooling1D()(x)))


def _data(model):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, *model.input_shape[1:])).astype("float32")
    return x, rng.integers(0, 4, 16)


def _check(model, name, granularity):
    x, y = _data(model)
    p = tfprune.one_shot(model, 0.5, criterion=name, granularity=granularity, data=tfprune.Calibration((x, y), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)))
    ws = pruner.wrapped_layers(p)
    if granularity == "channel":
        for group, keep in channels.keep_state(ws).items():
            assert keep.sum() == int(masks.kept_count(len(keep), 0.5)), group
        small = tfprune.shrink(tfprune.strip(p))
        ref = p(x).numpy()
        assert np.abs(ref - small(x).numpy()).max() <= 1e-5 * max(np.abs(ref).max(), 1.0)
        return
    for w in ws:
        for _, mask, _ in w.pruning_vars:
            assert masks.mask_sparsity(mask) == pytest.approx(0.5, abs=0.02), w.name


@pytest.mark.parametrize("build", [dense, pytest.param(conv, marks=pytest.mark.slow),
                                   pytest.param(dw_bn, marks=pytest.mark.slow)],
                         ids=lambda f: getattr(f, "__name__", str(f)))
@pytest.mark.parametrize("name", BUILTIN)
def test_every_criterion_at_every_granularity(build, name):
    model = build()
    crit = criteria.get(name)
    for granularity in GRANULARITIES:
        if granularity not in crit.granularities:
            with pytest.raises(errors.ConfigError, match=rf"{name!r}.*supports granularity"):
                tfprune.prune(model, sparsity=0.5, criterion=name, granularity=granularity)
        else:  # obs, sparsegpt, wanda: depthwise too (a Hessian per channel, issue 25)
            _check(model, name, granularity)


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILTIN)
def test_every_criterion_at_head_granularity(name):
    model = attention()
    if "head" not in criteria.get(name).granularities:
        with pytest.raises(errors.ConfigError, match=rf"{name!r}.*supports granularity"):
            tfprune.prune(model, sparsity=0.5, criterion=name, granularity="head")
        return
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 50, (16, 8)).astype("int32"), rng.integers(0, 4, 16)
    p = tfprune.one_shot(model, 0.5, criterion=name, granularity="head", data=tfprune.Calibration((x, y), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)))
    assert {g: int(k.sum()) for g, k in channels.keep_state(pruner.wrapped_layers(p)).items()} \
        == {"mha/heads": 2}
    small = tfprune.shrink(tfprune.strip(p))
    assert small.get_layer("mha").get_config()["num_heads"] == 2
    ref = p(x).numpy()
    assert np.abs(ref - small(x).numpy()).max() <= 1e-5 * max(np.abs(ref).max(), 1.0)


def test_builtin_list_covers_the_registry():
    assert set(BUILTIN) <= set(criteria.available())
