"""allocate(method="owl"): layers with more activation outliers keep more weights."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.analysis import owl
from tfprune.analysis.allocate import allocate
from tfprune.compat import keras

L = keras.layers


def _model():
    m = keras.Sequential([keras.Input((16,)), L.Dense(16, name="a"), L.Dense(16, name="b"),
                          L.Dense(4, name="c")])
    rng = np.random.default_rng(0)
    for layer in m.layers:
        layer.kernel.assign(rng.normal(size=layer.kernel.shape).astype("float32"))
    k = m.get_layer("b").kernel.numpy()
    k[0, :] *= 40.0  # outlier weights in b (its input 0 carries them)
    m.get_layer("b").kernel.assign(k)
    return m


def _x():
    return np.random.default_rng(1).normal(size=(128, 16)).astype("float32")


@pytest.mark.slow
def test_owl_gives_the_outlier_layer_less_sparsity_and_meets_the_target():
    m = _model()
    ratios = owl.outlier_ratios(m, _x(), ["a", "b", "c"], m=5.0)
    assert ratios["b"] > max(ratios["a"], ratios["c"])
    a = allocate(m, sparsity=0.6, method=owl.OWL(lam=0.1), data=_x())
    assert a["b"] < a["a"] and a["b"] < a["c"]
    assert a.predicted["sparsity"] == pytest.approx(0.6, abs=0.01)
    assert max(a.values()) - min(a.values()) <= 0.2 + 1 / 64  # +- lambda, whole weights
    assert a.method == "owl"
    p = tfprune.one_shot(m, scope=dict(a))
    assert tfprune.masking.pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.6, abs=0.01)


def test_owl_with_equal_ratios_is_uniform():
    f = owl.owl_family([0.02, 0.02], 0.08, 0.99)
    np.testing.assert_allclose(f(0.5), [f(0.5)[0]] * 2)


def test_owl_refuses_missing_data_other_granularity_and_bad_options():
    m = _model()
    with pytest.raises(errors.ConfigError, match="pass data="):
        allocate(m, sparsity=0.5, method="owl")
    with pytest.raises(errors.ConfigError, match="granularity='channel'"):
        allocate(m, sparsity=0.5, method="owl", data=_x(), granularity="channel")
    with pytest.raises(errors.ConfigError, match="owl_lambda"):
        allocate(m, sparsity=0.5, method=owl.OWL(lam=0.7), data=_x())
    with pytest.raises(errors.ConfigError, match="owl_m"):
        allocate(m, sparsity=0.5, method=owl.OWL(m=0), data=_x())


@pytest.mark.parametrize("keyword, method", [("owl_m", owl.OWL(m=3.0)),
                                             ("owl_lambda", owl.OWL(lam=0.1))])
def test_deprecated_owl_keywords_warn_and_give_the_same_allocation(keyword, method):
    m = _model()
    value = getattr(method, "m" if keyword == "owl_m" else "lam")
    with pytest.warns(DeprecationWarning, match=f"{keyword}= is deprecated; use method="):
        old = allocate(m, sparsity=0.5, method="owl", data=_x(), **{keyword: value})
    assert dict(old) == dict(allocate(m, sparsity=0.5, method=method, data=_x()))
