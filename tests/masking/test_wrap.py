"""masking/wrap.py: how prune wraps a model (per strategy) and how strip unwraps it."""

import numpy as np
import pytest

from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria, schedules
from tfprune.masking import granularity, scope, wrap
from tfprune.masking.wrapper import PruningWrapper

L = keras.layers


def _mlp():
    keras.utils.set_random_seed(0)
    i = keras.Input((4,), name="x")
    h = L.Dense(6, activation="relu", name="h")(i)
    return keras.Model(i, L.Dense(3, name="out")(h), name="mlp")


def _spec(strategy, scales, ranking="layer", exclude=()):
    return wrap.WrapSpec(schedules.Constant(0.5), criteria.get("magnitude"),
                         scope.resolve(ranking), set(exclude), scales,
                         granularity.get(strategy), granularity.spec(strategy))


def test_fresh_and_inner():
    d = L.Dense(2, name="d", use_bias=False)
    new = wrap.fresh(d)
    assert new is not d and new.get_config() == d.get_config() and not new.built
    w = PruningWrapper(L.Dense(2, name="e"))
    assert wrap.inner(w) is w.layer and wrap.inner(d) is d


def test_transform_copies_weights_into_new_variables():
    m = _mlp()
    c = wrap.transform(m, wrap.fresh)
    for a, b in zip(m.layers[1:], c.layers[1:], strict=True):
        assert a is not b and a.name == b.name
        assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(),
                                                         strict=True))
    c.get_layer("h").kernel.assign(np.zeros((4, 6), "float32"))
    assert np.abs(m.get_layer("h").kernel.numpy()).sum() > 0  # the source is untouched


def test_weight_wrapping_wraps_only_the_scaled_layers_with_their_scale():
    p = wrap.wrap(_mlp(), _spec("weight", {"h": 0.5}))
    wrapped = wrap.wrapped_layers(p)
    assert [w.layer.name for w in wrapped] == ["h"]
    assert wrapped[0].sparsity_scale == 0.5 and wrapped[0].update == "layer"
    assert p.output_names == ["out"]


def test_global_ranking_makes_the_pruner_set_the_masks():
    p = wrap.wrap(_mlp(), _spec("weight", {"h": 1.0, "out": 1.0}, ranking="global"))
    assert sorted(w.layer.name for w in wrap.wrapped_layers(p)) == ["h", "out"]
    assert all(w.update == "external" and w.scope == "global" for w in wrap.wrapped_layers(p))


def test_a_wrapped_output_keeps_the_users_output_name():
    p = wrap.wrap(_mlp(), _spec("weight", {"out": 1.0}))
    assert isinstance(p.get_layer("out"), PruningWrapper)
    assert p.output_names == ["out"]  # compile(loss={"out": ...}) keeps working


def test_channel_wrapping_holds_every_member_of_the_group():
    p = wrap.wrap(_mlp(), _spec("channel", {}))
    by_name = {w.layer.name: w for w in wrap.wrapped_layers(p)}
    assert set(by_name) == {"h", "out"}  # producer of group h and its consumer
    assert {e["group"] for e in by_name["h"].channel_map} == {"h"}
    assert {e["weight"] for e in by_name["h"].channel_map} == {"kernel", "bias"}
    assert [e["role"] for e in by_name["out"].channel_map] == ["in"]  # its input slices
    assert all(w.granularity == "channel" and w.external for w in by_name.values())


def test_channel_wrapping_without_a_prunable_group_is_refused():
    m = keras.Sequential([keras.Input((4,)), L.Dense(3, name="only")], name="single")
    with pytest.raises(errors.NothingToPruneError, match="no prunable channel group"):
        wrap.wrap(m, _spec("channel", {}))


def test_unwrap_applies_the_masks_in_a_new_plain_model():
    p = wrap.wrap(_mlp(), _spec("weight", {"h": 1.0}))
    w = p.get_layer("prune_h")
    mask = (np.arange(24).reshape(4, 6) % 2).astype("float32")
    w.pruning_vars[0][1].assign(mask)
    plain = wrap.unwrap(p)
    assert wrap.wrapped_layers(plain) == []
    kernel = plain.get_layer("h").kernel.numpy()
    np.testing.assert_array_equal(kernel, w.layer.kernel.numpy() * mask)
    plain.get_layer("h").kernel.assign(np.zeros_like(kernel))
    assert np.abs(w.layer.kernel.numpy()).sum() > 0  # no variable shared with the source


def test_wrapped_layers_walks_nested_models():
    inner_model = wrap.wrap(_mlp(), _spec("weight", {"h": 1.0}))
    i = keras.Input((4,))
    outer = keras.Model(i, L.Dense(2, name="top")(inner_model(i)))
    assert [w.layer.name for w in wrap.wrapped_layers(outer)] == ["h"]
