"""measure.probe: measuring with channels removed; the cut-point shortcut changes nothing."""

import numpy as np
import pytest

from tfprune.compat import keras
from tfprune.measure import cutpoints, probe

L = keras.layers


def _deep():
    keras.utils.set_random_seed(0)
    i = keras.Input((6,))
    x = L.Dense(6, activation="relu", name="d0")(i)
    for k in range(1, 24):
        y = L.Dense(6, activation="tanh", name=f"d{k}")(x)
        x = L.Add(name=f"a{k}")([x, y]) if k % 4 == 0 else y
    return keras.Model(i, L.Dense(3, name="out")(x))


@pytest.mark.slow
def test_cuts_give_the_same_measurements_as_the_whole_model():
    m = _deep()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype("float32"), rng.integers(0, 3, 40)
    fn = probe.loss_metric(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cut = probe.ChannelProbe(m, probe.cache((x, y)), fn, cuts=2)
    whole = probe.ChannelProbe(m, probe.cache((x, y)), fn, cuts=0)
    assert len(set(cut.cut_of.values())) == 2 and not whole.cut_of
    assert cut.base == whole.base
    for g in list(cut.cut_of)[-2:]:  # groups measured from a cut
        np.testing.assert_allclose(cut.deltas(g), whole.deltas(g), rtol=1e-5, atol=1e-6)
    before = [w.copy() for w in m.get_weights()]
    assert all((a == b).all() for a, b in zip(before, m.get_weights(), strict=True))


def test_cut_candidates_are_single_tensor_cuts():
    m = _deep()
    names = [m.layers[i].name for i in cutpoints.candidates(m)]
    assert "d3" in names and "d4" not in names  # a4 = d3 + d4 reads d3 after d4


def test_cut_choice_trades_trace_cost_against_evaluations():
    frac, pts = [1.0, 0.5, 0.1], [4.0, 4.0, 40.0]  # the whole model, then two cuts
    assert cutpoints._dp(frac, pts, [0, 0.0, 0.0], 1.0) == [0, 1, 2]  # free cuts: all
    assert cutpoints._dp(frac, pts, [0, 100.0, 100.0], 1.0) == [0]  # too dear: none
    assert cutpoints._dp(frac, pts, [0, 3.0, 3.0], 1.0) == [0, 2]  # only the one that pays
    assert cutpoints._dp(frac, pts, [0, 0.0, 0.0], 1.0, cap=1) == [0, 2]


def test_compile_metric_matches_a_plain_mean_for_any_sample_count():
    m = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    for n in (10, 53, 64):  # 53: no chunk size divides it, a tail chunk
        x = np.random.default_rng(n).normal(size=(n, 3)).astype("float32")
        run = probe.compile_metric(m, [(x, np.zeros(n))], lambda y, p: keras.backend.mean(p))
        np.testing.assert_allclose(float(run()), m(x).numpy().mean(), rtol=1e-5)
