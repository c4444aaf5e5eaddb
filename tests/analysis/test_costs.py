"""tfprune/analysis/costs.py: parameters, MACs, bytes and density as exact functions of each
unit's kept fraction (multilinear for channels: a layer between two pruned groups keeps
``k_in * k_out``; linear for weights and heads)."""

import numpy as np
import pytest

from tfprune.analysis.costs import RESOURCES, Costs
from tfprune.compat import keras


def _mlp():
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
                             keras.layers.Dense(8, name="h2"), keras.layers.Dense(4, name="out")])


def test_weight_costs_are_linear_in_each_kernels_kept_fraction():
    c = Costs(_mlp(), "weight")
    assert c.units == ["h", "h2", "out"] and c.size == [128, 128, 32]
    dense = c.totals(np.ones(3))
    assert dense[0] == 128 + 16 + 128 + 8 + 32 + 4 and dense[1] == 128 + 128 + 32
    half = c.report(np.full(3, 0.5))
    assert half == {"params": 64 + 16 + 64 + 8 + 16 + 4, "macs": 144, "sparsity": 0.5}


def test_channel_costs_are_multilinear_between_pruned_groups():
    c = Costs(_mlp(), "channel")
    assert c.units == ["h", "h2"] and c.size == [16, 8]  # the output layer is not pruned
    k = np.array([0.5, 0.25])
    # h: 8x8 kernel + 8 biases; h2: (16*.5)x(8*.25) + 2 biases; out: 2x4 + 4 biases
    assert c.report(k)["params"] == 64 + 8 + 16 + 2 + 8 + 4
    assert c.report(k)["macs"] == 64 + 16 + 8
    assert "bytes" in c.report(k) and "bytes" not in Costs(_mlp(), "weight").report(np.ones(3))


def test_delta_is_the_change_of_totals_and_leaves_k_alone():
    c = Costs(_mlp(), "channel")
    k = np.array([1.0, 1.0])
    d = c.delta(k, 0, 0.5)
    assert k.tolist() == [1.0, 1.0]
    np.testing.assert_allclose(d, c.totals(np.array([0.5, 1.0])) - c.totals(k))


def test_kept_rounds_to_whole_units():
    c = Costs(_mlp(), "channel")
    kept = c.kept(np.array([0.3, 0.3]))
    assert np.all(np.round(kept * np.array(c.size)) == kept * np.array(c.size))
    assert c.kept_one(1, 0.3) == pytest.approx(kept[1])


def test_macs_by_owner_sum_to_the_total_macs():
    c = Costs(_mlp(), "channel")
    k = np.array([0.5, 0.75])
    by_owner = c.macs_by_owner(k)
    assert len(by_owner) == 3 and by_owner.sum() == pytest.approx(c.totals(k)[1])


def test_latency_is_an_intercept_plus_each_units_ms_per_mac():
    c = Costs(_mlp(), "channel")
    c.set_latency(1.0, [0.01, 0.02], 0.5)
    k = np.array([0.5, 0.5])
    owned = c.macs_by_owner(k)
    expected = 1.0 + owned[0] * 0.01 + owned[1] * 0.02 + owned[2] * 0.5
    assert c.totals(k)[RESOURCES.index("latency_ms")] == pytest.approx(expected)


def test_head_costs_scale_every_attention_mac_and_projection():
    i = keras.Input((6, 8))
    a = keras.layers.MultiHeadAttention(4, 4, name="att")(i, i)
    m = keras.Model(i, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(a)))
    c = Costs(m, "head")
    assert c.units == ["att"] and c.size == [4]
    dense, none = c.report(np.array([1.0])), c.report(np.array([0.0]))
    half = c.report(np.array([0.5]))
    assert half["params"] * 2 == dense["params"] + none["params"]
    assert half["macs"] * 2 == dense["macs"] + none["macs"]
    assert half["sparsity"] == 0.5
