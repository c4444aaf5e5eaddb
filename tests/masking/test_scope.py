"""Scope is one value resolved once (masking/scope.py); an Allocation is a scope."""

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import errors
from tfprune.analysis.allocate import allocate
from tfprune.compat import keras
from tfprune.core import criteria
from tfprune.masking import channels, pruner
from tfprune.masking import scope as scope_lib

L = keras.layers


def attention_mlp():
    i = keras.Input((6, 8))
    a = L.MultiHeadAttention(4, 4, name="att")(i, i)
    h = L.Dense(16, name="h")(L.GlobalAveragePooling1D()(a))
    return keras.Model(i, L.Dense(3, name="out")(h))


def _layer_sparsity(p):
    return pruner.sparsity_report(p)["layers"]


def test_resolve_accepts_names_and_any_mapping():
    assert scope_lib.resolve("layer") == scope_lib.Scope("layer")
    assert scope_lib.resolve("global").ranking == "global"
    s = scope_lib.resolve(dict(a=0.5, b=0.25))
    assert (s.ranking, s.targets, s.final, s.is_mapping) == ("layer", {"a": 0.5, "b": 0.25},
                                                              0.5, True)
    assert scope_lib.resolve(s) is s
    with pytest.raises(errors.ConfigError, match=r"mapping \{layer_name: sparsity\}.*list"):
        scope_lib.resolve(["a"])
    with pytest.raises(errors.ConfigError, match="empty"):
        scope_lib.resolve({})
    with pytest.raises(errors.ConfigError, match=r"scope\['a'\]"):
        scope_lib.resolve({"a": 1.5})


@pytest.mark.parametrize("entry", ["prune", "one_shot"])
def test_weight_allocation_is_a_scope(entry):
    m = attention_mlp()
    alloc = allocate(m, sparsity=0.5, method="erk")
    kw = {"sparsity": None} if entry == "prune" else {}
    p = getattr(tfprune, entry)(m, scope=alloc, **kw)
    ws = {w.layer.name: w for w in pruner.wrapped_layers(p)}
    assert set(ws) == set(alloc)
    final = max(alloc.values())
    for name, s in alloc.items():
        assert ws[name].sparsity_scale == pytest.approx(s / final)
    if entry == "one_shot":
        got = _layer_sparsity(p)
        for name, s in alloc.items():
            assert got[name] == pytest.approx(s, abs=0.02), name


@pytest.mark.slow
def test_channel_allocation_is_a_scope_and_gives_its_granularity():
    m = attention_mlp()
    alloc = allocate(m, sparsity=0.5, method="uniform", granularity="channel")
    p = tfprune.one_shot(m, scope=alloc)  # granularity comes from the allocation
    ws = pruner.wrapped_layers(p)
    assert {w.granularity for w in ws} == {"channel"}
    keep = channels.keep_state(ws)
    assert set(keep) == set(alloc)
    for g, flags in keep.items():
        assert flags.sum() == round(len(flags) * (1 - alloc[g]))
    wrapped = tfprune.prune(m, scope=alloc)
    assert {w.granularity for w in pruner.wrapped_layers(wrapped)} == {"channel"}


@pytest.mark.slow
def test_head_allocation_is_a_scope():
    m = attention_mlp()
    alloc = allocate(m, sparsity=0.5, method="uniform", granularity="head")
    p = tfprune.one_shot(m, scope=alloc, granularity="head")
    keep = channels.keep_state(pruner.wrapped_layers(p))
    assert int(keep["att/heads"].sum()) == 2
    w = tfprune.prune(m, scope=alloc)
    assert [x.granularity for x in pruner.wrapped_layers(w)] == ["head"]


def test_allocation_for_another_unit_is_refused_naming_both():
    m = attention_mlp()
    alloc = allocate(m, sparsity=0.5, method="uniform", granularity="channel")
    with pytest.raises(errors.ConfigError, match=r"granularity='channel'.*granularity='weight'"):
        tfprune.one_shot(m, scope=alloc, granularity="weight")


def test_nm_refuses_a_conflicting_explicit_sparsity():
    m = keras.Sequential([keras.Input((8,)), L.Dense(4, name="d")])
    with pytest.raises(errors.ConfigError, match=r"n_m=\(2, 4\).*0\.5.*sparsity=0\.9"):
        tfprune.one_shot(m, 0.9, granularity="2:4")
    with pytest.raises(errors.ConfigError, match=r"scope\['d'\]=0\.9"):
        tfprune.one_shot(m, scope={"d": 0.9}, granularity="2:4")
    p = tfprune.one_shot(m, 0.5, granularity="2:4")  # the same value: fine
    assert _layer_sparsity(p)["d"] == pytest.approx(0.5)


def test_register_criterion_refuses_a_taken_name_without_override():
    builtin = criteria.get("magnitude")
    with pytest.raises(errors.ConfigError, match=r"'magnitude' is already registered.*override=True"):
        @criteria.register_criterion("magnitude")
        class Mine(criteria.Criterion):
            def score(self, weight, stats):
                return -tf.abs(weight)
    assert type(criteria.get("magnitude")) is type(builtin)
    try:
        @criteria.register_criterion("magnitude", override=True)
        class Mine2(criteria.Criterion):
            def score(self, weight, stats):
                return -tf.abs(weight)
        assert isinstance(criteria.get("magnitude"), Mine2)
    finally:
        criteria.register_criterion("magnitude", override=True)(type(builtin))
    assert type(criteria.get("magnitude")) is type(builtin)


def test_non_finite_scores_are_refused_naming_the_criterion():
    class NanScores(criteria.Criterion):
        name = "nan_scores"

        def score(self, weight, stats):
            return tf.where(tf.abs(weight) > 0.1, np.nan, tf.abs(weight))

    m = keras.Sequential([keras.Input((8,)), L.Dense(4, name="d")])
    with pytest.raises(errors.ConfigError, match=r"'nan_scores'.*NaN/inf.*layer 'd'"):
        tfprune.one_shot(m, 0.5, criterion=NanScores())
