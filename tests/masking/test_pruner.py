"""masking/pruner.py: the model-level pruner (find wrappers, rank, assign, report)."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria
from tfprune.masking import pruner, wrap

L = keras.layers


def _mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8,)), L.Dense(16, name="a"), L.Dense(4, name="b")])


def test_the_wrapper_walk_is_the_one_in_wrap():
    assert pruner.wrapped_layers is wrap.wrapped_layers
    p = tfprune.prune(_mlp(), sparsity=0.5)
    assert pruner.is_pruned(p) and not pruner.is_pruned(_mlp())
    assert [w.layer.name for w in pruner.tfprune_wrappers(p)] == ["a", "b"]


def test_layer_scope_gives_every_layer_its_target_and_global_one_budget():
    m = _mlp()
    m.get_layer("b").kernel.assign(m.get_layer("b").kernel * 100.0)  # b's weights are large
    layer = tfprune.prune(m, sparsity=0.5)
    pruner.update_masks(layer, step=0)
    rep = pruner.sparsity_report(layer)
    assert rep["layers"] == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}
    glob = tfprune.prune(m, sparsity=0.5, scope="global")
    pruner.update_masks(glob, step=0)
    rep = pruner.sparsity_report(glob)
    assert rep["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert rep["layers"]["b"] < 0.1 < rep["layers"]["a"]  # one ranking: b keeps its weights


def test_update_masks_zeroes_the_pruned_weights():
    p = tfprune.prune(_mlp(), sparsity=0.75)
    pruner.update_masks(p, step=0)
    for w in pruner.tfprune_wrappers(p):
        weight, mask, _ = w.pruning_vars[0]
        assert np.all(weight.numpy()[mask.numpy() == 0] == 0)


def test_steps_are_set_and_read_on_every_wrapper():
    p = tfprune.prune(_mlp(), sparsity=0.5)
    assert pruner.global_step(p) == -1 and pruner.global_step(_mlp()) == -1
    pruner.set_step(p, 7)
    assert pruner.global_step(p) == 7
    assert {int(w.pruning_step.numpy()) for w in pruner.wrapped_layers(p)} == {7}


def test_observing_switches_gathering_on_and_always_off_again():
    p = tfprune.prune(_mlp(), sparsity=0.5, criterion="apoz")
    ws = pruner.tfprune_wrappers(p)
    with pytest.raises(RuntimeError), pruner.observing(ws):
        assert all(w.observe for w in ws)
        raise RuntimeError
    assert not any(w.observe for w in ws)


def test_a_data_criterion_waits_for_statistics_then_gathers_them():
    p = tfprune.prune(_mlp(), sparsity=0.5, criterion="apoz")
    ws = pruner.tfprune_wrappers(p)
    assert not pruner.stats_ready(ws)
    pruner.update_masks(p, step=0)
    assert pruner.sparsity_report(p)["sparsity"] == 0.0  # no statistics: masks untouched
    n = pruner.gather(p, np.random.default_rng(0).random((20, 8)).astype("float32"))
    assert n == 1 and pruner.stats_ready(ws)


def test_resolve_loss_takes_the_compiled_loss_and_refuses_none_for_gradients():
    m, taylor = _mlp(), criteria.get("taylor")  # callers pass the Criterion
    assert pruner.resolve_loss(m, None, criteria.get("magnitude")) is None  # no gradients
    with pytest.raises(errors.ConfigError, match="needs gradients: pass loss="):
        pruner.resolve_loss(m, None, taylor)
    with pytest.raises(errors.ConfigError, match="'taylor' needs gradients"):
        pruner.resolve_loss(m, None, "taylor")  # a criterion name too
    m.compile("sgd", "mse")
    assert pruner.resolve_loss(m, None, taylor) == "mse"
