"""measure/cutpoints.py: single-tensor cut points, per-layer costs, the choice of cuts."""

import numpy as np
import pytest

from tfprune import graph as graph_lib
from tfprune.compat import keras
from tfprune.measure import cutpoints

L = keras.layers


def _chain(n=4):
    i = keras.Input((4,))
    x = i
    for k in range(n):
        x = L.Dense(4, name=f"d{k}")(x)
    return keras.Model(i, L.Dense(2, name="out")(x))


def _residual():
    i = keras.Input((4,))
    a = L.Dense(4, name="a")(i)
    b = L.Dense(4, name="b")(a)
    s = L.Add(name="add")([a, b])  # a is read after b: b is not a cut
    return keras.Model(i, L.Dense(2, name="out")(s))


def test_every_layer_of_a_chain_is_a_cut_but_not_inside_a_residual():
    m = _chain()
    assert [m.layers[c].name for c in cutpoints.candidates(m)] == ["d0", "d1", "d2", "d3", "out"]
    r = _residual()
    assert [r.layers[c].name for c in cutpoints.candidates(r)] == ["a", "add", "out"]


def test_layer_costs_are_macs_plus_sixteen_per_output_element():
    i = keras.Input((6, 6, 2))
    m = keras.Model(i, L.Conv2D(3, 3, padding="same", name="c")(i))
    # 6*6 positions * 3*3*2 per output channel * 3 channels; 6*6*3 outputs
    assert cutpoints.layer_costs(m).tolist() == [0.0, 6 * 6 * 3 * 3 * 2 * 3 + 16 * 6 * 6 * 3]


def test_choose_sends_late_groups_to_a_cut_and_respects_the_limits():
    m = _chain(6)
    g = graph_lib.build(m)
    groups = {grp.name: grp for grp in g.prunable()}
    chosen = cutpoints.choose(m, g, groups, 64, cuts=cutpoints.Cuts(1))
    assert len(set(chosen.values())) == 1
    first = cutpoints.first_positions(m, g, groups)
    assert all(c < first[name] for name, c in chosen.items())  # a cut lies before its group
    assert cutpoints.choose(m, g, groups, 64, cuts=cutpoints.Cuts(0)) == {}
    assert cutpoints.choose(m, g, groups, 64, cuts=cutpoints.Cuts(2, max_bytes=0)) == {}  # no cut fits
    with pytest.raises(ValueError, match="cuts must be 'auto' or an int"):
        cutpoints.choose(m, g, groups, 64, cuts=cutpoints.Cuts(-1))


def test_auto_takes_no_cut_when_tracing_costs_more_than_it_saves():
    m = _chain(6)
    g = graph_lib.build(m)
    groups = {grp.name: grp for grp in g.prunable()}
    assert cutpoints.choose(m, g, groups, 64, cuts=cutpoints.Cuts("auto", points=1),
                            setup=1e6, per_eval=1.0) == {}
    cheap = cutpoints.choose(m, g, groups, 64, cuts=cutpoints.Cuts("auto", points=1000),
                             setup=0.0, per_eval=1.0)
    assert cheap and np.all(np.array(list(cheap.values())) >= 1)


def test_cut_candidates_are_single_tensor_cuts(deep):
    m = deep()
    names = [m.layers[i].name for i in cutpoints.candidates(m)]
    assert "d3" in names and "d4" not in names  # a4 = d3 + d4 reads d3 after d4


def test_cut_choice_trades_trace_cost_against_evaluations():
    frac, pts = [1.0, 0.5, 0.1], [4.0, 4.0, 40.0]  # the whole model, then two cuts
    assert cutpoints._dp(frac, pts, [0, 0.0, 0.0], 1.0) == [0, 1, 2]  # free cuts: all
    assert cutpoints._dp(frac, pts, [0, 100.0, 100.0], 1.0) == [0]  # too dear: none
    assert cutpoints._dp(frac, pts, [0, 3.0, 3.0], 1.0) == [0, 2]  # only the one that pays
    assert cutpoints._dp(frac, pts, [0, 0.0, 0.0], 1.0, cap=1) == [0, 2]
