"""scope="global" magnitude ranks BatchNormalization-folded weights (masking/bnfold.py)."""

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune.compat import keras
from tfprune.masking import bnfold, pruner

L = keras.layers


def _net(scale=1.0):
    """Conv -> BN -> Dense; ``scale`` rescales the conv and BN so the function is the same."""
    keras.utils.set_random_seed(0)
    i = keras.Input((6, 6, 2))
    x = L.Conv2D(8, 3, name="c")(i)
    x = L.BatchNormalization(epsilon=0.0, name="bn")(x)
    m = keras.Model(i, L.Dense(3, name="d")(L.Flatten()(L.ReLU()(x))))
    rng = np.random.default_rng(0)
    gamma, beta = rng.uniform(0.5, 2, 8), rng.normal(size=8)
    mean, var = rng.normal(size=8), rng.uniform(0.5, 2, 8)
    m.get_layer("bn").set_weights([gamma, beta, mean * scale, var * scale**2])
    kernel, bias = m.get_layer("c").get_weights()
    m.get_layer("c").set_weights([kernel * scale, bias * scale])
    return m


def _masks(p):
    return {w.layer.name: w.pruning_vars[0][1].numpy() for w in pruner.wrapped_layers(p)}


@pytest.mark.slow
def test_global_magnitude_is_invariant_to_the_scale_bn_removes():
    a, b = _net(), _net(scale=0.01)
    x = np.random.default_rng(1).normal(size=(4, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(a(x).numpy(), b(x).numpy(), rtol=1e-4, atol=1e-4)
    ma, mb = (_masks(tfprune.one_shot(m, 0.5, scope="global")) for m in (a, b))
    for name in ma:
        np.testing.assert_array_equal(ma[name], mb[name], err_msg=name)
    assert 0 < 1 - mb["c"].mean() < 0.9  # raw |w| would have removed the whole conv


def test_only_a_sole_bn_consumer_folds():
    i = keras.Input((4,))
    h = L.Dense(3, name="h")(i)
    m = keras.Model(i, [L.BatchNormalization()(h), L.Dense(1)(h)])
    p = tfprune.prune(m, sparsity=0.5, scope="global")
    assert bnfold.bn_factors(p.get_layer("prune_h")) is None


def test_transposed_and_separable_kernels_fold_on_their_output_channels():
    assert bnfold.output_layout(L.Conv2DTranspose(4, 3), "kernel") == "second_last"
    assert bnfold.output_layout(L.DepthwiseConv2D(3), "depthwise_kernel") == "depthwise"
    assert bnfold.output_layout(L.SeparableConv2D(4, 3), "depthwise_kernel") is None
    assert bnfold.output_layout(L.SeparableConv2D(4, 3), "pointwise_kernel") == "last"
    assert bnfold.output_layout(L.Dense(4), "bias") is None
    # Conv2DTranspose kernel [kh, kw, out=3, in=3]: scaled along out, not along in
    got = bnfold.fold_scores(tf.ones([1, 1, 3, 3]), np.array([1., 2., 4.], np.float32), 1,
                             "second_last").numpy()[0, 0]
    np.testing.assert_array_equal(got[:, 0], [1., 2., 4.])
    np.testing.assert_array_equal(got[0], [1., 1., 1.])
