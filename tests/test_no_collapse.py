"""The no-collapse guard of a global weight ranking (issue 25 item 4): an output channel the
ranking empties keeps a uniform cut's share of its weights; nothing else changes."""

from __future__ import annotations

import numpy as np

import tfprune
from tfprune.compat import keras


def _two_scales(small_layer):
    """A big-weight Dense feeding a layer with tiny weights (the DS-CNN's classifier)."""
    keras.utils.set_random_seed(0)
    i = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(8, 3, name="big")(i)
    x = small_layer(x)
    m = keras.Model(i, keras.layers.GlobalAveragePooling2D()(x))
    big = m.get_layer("big")
    big.kernel.assign(big.kernel * 100.0)
    small = m.get_layer("small")
    small.weights[0].assign(small.weights[0] * 0.01)
    return m


def _kernel(model, name):
    return model.get_layer(name).weights[0].numpy()


def test_emptied_dense_units_keep_their_share():
    m = _two_scales(keras.layers.Dense(4, name="small"))
    p = tfprune.strip(tfprune.one_shot(m, 0.9, scope="global"))
    k = _kernel(p, "small")  # (8, 4): a uniform 90 % cut keeps ceil(0.1 * 8) = 1 per unit
    assert ((k != 0).sum(0) >= 1).all()
    # the kept weights are each unit's largest
    src = np.abs(_kernel(m, "small"))
    for c in range(4):
        assert np.argmax(src[:, c]) in np.flatnonzero(k[:, c])
    assert _kernel(p, "big").any()


def test_emptied_depthwise_channels_keep_their_share():
    m = _two_scales(keras.layers.DepthwiseConv2D(3, name="small"))
    p = tfprune.strip(tfprune.one_shot(m, 0.9, scope="global"))
    k = _kernel(p, "small")  # (3, 3, 8, 1): every channel keeps ceil(0.1 * 9) = 1 weight
    assert ((k != 0).reshape(-1, 8).sum(0) >= 1).all()


def test_no_emptied_channel_no_change():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((16,)), keras.layers.Dense(16, name="a"),
                          keras.layers.Dense(16, name="b")])
    p = tfprune.strip(tfprune.one_shot(m, 0.5, scope="global"))
    kept = sum(int((_kernel(p, n) != 0).sum()) for n in ("a", "b"))
    assert kept == 256  # exactly the global budget: the guard added nothing
    assert all(((_kernel(p, n) != 0).sum(0) > 0).all() for n in ("a", "b"))


def test_hidden_units_may_still_be_emptied():
    keras.utils.set_random_seed(0)
    i = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(8, 3, name="big")(i)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, name="small")(x)
    m = keras.Model(i, keras.layers.Dense(3, name="out")(x))
    m.get_layer("big").kernel.assign(m.get_layer("big").kernel * 100.0)
    m.get_layer("small").kernel.assign(m.get_layer("small").kernel * 0.01)
    p = tfprune.strip(tfprune.one_shot(m, 0.9, scope="global"))
    assert ((_kernel(p, "small") != 0).sum(0) == 0).any()  # a hidden unit: structured pruning
    assert ((_kernel(p, "out") != 0).sum(0) >= 1).all()  # every class keeps an input
