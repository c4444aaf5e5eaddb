"""One-shot wanda/sparsegpt/obs on DepthwiseConv2D and MultiHeadAttention projections:
masks at the target (unstructured and 2:4), SparseGPT reconstructs the layer's outputs on
the calibration data better than magnitude, and the input statistics are the right ones."""

import numpy as np
import pytest

import tfprune
from tfprune.compat import keras

L = keras.layers
CRITERIA = ("magnitude", "wanda", "sparsegpt", "obs")


def _smooth_images(n=48, size=8, channels=4, seed=0):
    """Neighbouring pixels correlated (a blurred noise image): the taps of a 3x3 patch are
    far from independent, which is what a Hessian can use and magnitude cannot."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size + 2, size + 2, channels))
    x = (x[:, :-2, :-2] + x[:, 1:-1, 1:-1] + x[:, 2:, 2:] + x[:, 1:-1, :-2]) / 2.0
    return (x * rng.uniform(0.2, 3.0, size=channels)).astype("float32")


def _depthwise_model():
    keras.utils.set_random_seed(1)
    i = keras.Input((8, 8, 4))
    o = L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="dw")(i)
    return keras.Model(i, o)


def _attention_model():
    keras.utils.set_random_seed(2)
    i = keras.Input((6, 16))
    o = L.MultiHeadAttention(4, 8, name="mha")(i, i)
    return keras.Model(i, o)


def _tokens(n=64, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 6, 8))
    return np.concatenate([base, base + 0.1 * rng.normal(size=base.shape)], -1).astype("float32")


def _rel_err(model, pruned, x):
    ref = model(x).numpy()
    return float(np.sum((pruned(x).numpy() - ref) ** 2) / np.sum(ref ** 2))


def _kernels(model, name):
    layer = model.get_layer(name)
    if isinstance(layer, L.MultiHeadAttention):
        return [d.kernel.numpy() for d in (layer._query_dense, layer._key_dense,
                                           layer._value_dense, layer._output_dense)]
    return [layer.depthwise_kernel.numpy()]


def _one_shot_errors(model, x, name, target):
    errs = {}
    for crit in CRITERIA:
        kw = {"granularity": "n:m"} if target == "2:4" else {"sparsity": target}
        p = tfprune.strip(tfprune.one_shot(model, kw.pop("sparsity", None), criterion=crit,
                                           data=None if crit == "magnitude" else x, **kw))
        for k in _kernels(p, name):
            want = 0.5 if target == "2:4" else target  # the count is rounded: 1 weight
            assert np.mean(k == 0) == pytest.approx(want, abs=0.5 / k.size + 1e-9), crit
            if target == "2:4":  # 2 of every 4 along the input-channel axis (axis -2)
                groups = np.moveaxis(k != 0, -2, -1)
                assert np.all(groups.reshape(-1, 4).sum(-1) == 2), crit
        errs[crit] = _rel_err(model, p, x)
    return errs


@pytest.mark.slow
@pytest.mark.parametrize("target", [0.5, 0.7, "2:4"])
def test_depthwise_one_shot_reaches_target_and_sparsegpt_beats_magnitude(target):
    model, x = _depthwise_model(), _smooth_images()
    errs = _one_shot_errors(model, x, "dw", target)
    assert errs["sparsegpt"] < 0.8 * errs["magnitude"], errs
    assert errs["obs"] < errs["magnitude"], errs


@pytest.mark.slow
@pytest.mark.parametrize("target", [0.5, "2:4"])
def test_attention_projections_one_shot_and_sparsegpt_beats_magnitude(target):
    model, x = _attention_model(), _tokens()
    errs = _one_shot_errors(model, x, "mha", target)
    assert errs["sparsegpt"] < 0.8 * errs["magnitude"], errs


@pytest.mark.slow
def test_sparsegpt_query_projection_reconstructs_its_own_outputs():
    model, x = _attention_model(), _tokens()
    wq = _kernels(model, "mha")[0]
    out = {}
    for crit in ("magnitude", "sparsegpt"):
        p = tfprune.strip(tfprune.one_shot(model, 0.5, criterion=crit,
                                           data=None if crit == "magnitude" else x))
        out[crit] = _kernels(p, "mha")[0]
    ref = np.einsum("btd,dhk->bthk", x, wq)
    err = {c: np.sum((np.einsum("btd,dhk->bthk", x, w) - ref) ** 2) for c, w in out.items()}
    assert err["sparsegpt"] < 0.6 * err["magnitude"], err


@pytest.mark.slow
@pytest.mark.parametrize("crit", ["sparsegpt", "obs"])
def test_a_following_batchnorm_weighs_each_output_error(crit):
    """Outputs that BatchNormalization scales up must not lose the most weights: pruning the
    folded weight gives a smaller error after BN than ignoring the BN."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 16)).astype("float32")
    factors = np.geomspace(0.05, 20.0, 8).astype("float32")
    kernel = (rng.normal(size=(16, 8)) / factors).astype("float32")  # small w, large factor
    i = keras.Input((16,))
    d = L.Dense(8, use_bias=False, name="d")
    bn = L.BatchNormalization(epsilon=0.0, name="bn")
    with_bn, plain = keras.Model(i, bn(d(i))), keras.Model(i, d(i))
    d.kernel.assign(kernel)
    bn.moving_variance.assign(1.0 / factors ** 2)
    errs = {}
    for name, model in (("folded", with_bn), ("plain", plain)):
        p = tfprune.strip(tfprune.one_shot(model, 0.5, criterion=crit, data=x))
        k = p.get_layer("d").kernel.numpy()
        assert np.mean(k == 0) == pytest.approx(0.5)
        errs[name] = float(np.sum(((x @ (kernel - k)) * factors) ** 2))
    assert errs["folded"] < 0.5 * errs["plain"], errs
