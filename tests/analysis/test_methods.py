"""tfprune/analysis/methods.py: how allocate spreads a target: monotone one-parameter
families (uniform, erk, lamp) found by bisection, and the greedy knapsack over curves."""

from types import SimpleNamespace

import numpy as np
import pytest

from tfprune.analysis import methods
from tfprune.analysis.costs import Costs
from tfprune.compat import keras


def _model():
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
                             keras.layers.Dense(4, name="out")])


def test_curves_start_dense_and_are_made_monotone():
    r = SimpleNamespace(levels=(0.5, 0.9), degradation=lambda u: np.array([0.3, 0.1]))
    levels, deg = methods.curves(r, SimpleNamespace(units=["h"]))[0]
    assert levels.tolist() == [0.0, 0.5, 0.9] and deg.tolist() == [0.0, 0.3, 0.3]


@pytest.mark.parametrize("method", ["uniform", "erk", "lamp"])
def test_families_are_monotone_capped_and_dense_at_zero(method):
    m = _model()
    c = Costs(m, "weight")
    fam = methods.family(method, m, c, 0.9)
    assert np.all(fam(0.0) == 0.0)
    previous = fam(0.0)
    for t in np.linspace(0.1, 1.0, 10):
        s = fam(t)
        assert np.all(s >= previous - 1e-12) and np.all(s <= 0.9 + 1e-12)
        previous = s


def test_erk_prunes_the_larger_layer_more():
    m = _model()
    c = Costs(m, "weight")
    s = methods.family("erk", m, c, 0.99)(0.5)
    assert s[0] > s[1]  # h (8x16) has a smaller sum/prod ratio than out (16x4)


def test_bisect_finds_the_least_pruned_member_within_the_budget():
    m = _model()
    c = Costs(m, "weight")
    fam = methods.family("uniform", m, c, 0.99)
    s = methods.bisect(fam, c, 150, 0)
    assert c.totals(c.kept(s))[0] <= 150
    assert c.totals(c.kept(s - 0.02))[0] > 150  # a little less pruning breaks the budget


def test_greedy_prunes_where_it_hurts_least():
    m = _model()
    c = Costs(m, "weight")
    cheap = (np.array([0.0, 0.5, 0.9]), np.array([0.0, 0.0, 0.01]))
    costly = (np.array([0.0, 0.5, 0.9]), np.array([0.0, 5.0, 9.0]))
    s = methods.greedy(c, [costly, cheap], 150, 0, 0.9, [0.5, 0.9])
    assert c.totals(c.kept(s))[0] <= 150
    assert s[1] > s[0]
