"""granularity="head": whole heads of MultiHeadAttention chosen per layer (or one global
ranking), applied to every slice of a head, driven by PruningCallback."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import masks
from tfprune.masking import channels, heads, pruner

L = keras.layers


def attention_model(*, num_heads=4, value_dim=None, use_bias=True, output_shape=None,
                    layers=1, seed=0):
    """Input(8 token ids) -> Embedding(50, 16) -> MHA self-attention (x layers) -> mean -> Dense(3)."""
    keras.utils.set_random_seed(seed)
    i = keras.Input((8,), dtype="int32")
    x = L.Embedding(50, 16, name="emb")(i)
    for k in range(layers):
        x = L.MultiHeadAttention(num_heads=num_heads * (k + 1), key_dim=4, value_dim=value_dim,
                                 use_bias=use_bias, output_shape=output_shape,
                                 name="mha" if k == 0 else f"mha{k}")(x, x)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dense(12, activation="relu", name="fc")(x)
    return keras.Model(i, L.Dense(3, name="out")(x))


def tokens(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 50, (n, 8)).astype("int32"), rng.integers(0, 3, n)


def _kept_heads(wrapper):
    """Kept heads read from every masked slice of the wrapper (all must agree)."""
    seen = []
    for entry, (_, mask, _) in zip(wrapper.channel_map, wrapper.pruning_vars, strict=True):
        m = np.moveaxis(mask.numpy(), entry["axis"], 0).reshape(entry["channels"], -1)
        assert set(np.unique(m.min(1) == m.max(1))) == {True}, entry["weight"]  # whole heads
        seen.append(m.max(1) > 0)
    assert all((s == seen[0]).all() for s in seen)
    return seen[0]


def test_prune_wraps_only_attention_with_its_head_map():
    p = tfprune.prune(attention_model(), sparsity=0.5, granularity="head")
    wrapped = pruner.wrapped_layers(p)
    assert [w.layer.name for w in wrapped] == ["mha"]
    w = wrapped[0]
    assert w.granularity == "head" and w.update == "external"
    assert [e["weight"] for e in w.channel_map] == heads.weight_names(w.layer)
    assert {e["group"] for e in w.channel_map} == {"mha/heads"}


@pytest.mark.parametrize("kwargs", [{}, {"value_dim": 3}, {"use_bias": False},
                                    {"output_shape": 10}],
                         ids=["default", "value_dim", "no_bias", "output_shape"])
def test_one_shot_masks_whole_heads(kwargs):
    p = tfprune.one_shot(attention_model(**kwargs), 0.5, granularity="head", criterion="l1")
    (w,) = pruner.wrapped_layers(p)
    assert _kept_heads(w).sum() == masks.kept_count(4, 0.5) == 2
    assert len(w.channel_map) == (4 if kwargs.get("use_bias") is False else 7)


def test_global_scope_ranks_heads_across_layers_by_weights():
    m = attention_model(layers=2)  # mha: 4 heads, mha1: 8 heads
    p = tfprune.one_shot(m, 0.5, granularity="head", scope="global")
    keep = channels.keep_state(pruner.wrapped_layers(p))
    assert set(keep) == {"mha/heads", "mha1/heads"}
    assert all(k.sum() >= 1 for k in keep.values())
    assert sum(int((~k).sum()) for k in keep.values()) == 6  # half of the 12 equal-size heads


def test_dict_scope_sets_each_layer():
    m = attention_model(layers=2)
    p = tfprune.one_shot(m, granularity="head", scope={"mha": 0.25, "mha1": 0.75})
    keep = channels.keep_state(pruner.wrapped_layers(p))
    assert keep["mha/heads"].sum() == 3 and keep["mha1/heads"].sum() == 2
    with pytest.raises(errors.ConfigError, match="'fc'.*no attention heads"):
        tfprune.prune(m, granularity="head", scope={"mha": 0.5, "fc": 0.5})


def test_exclude_and_nested_models():
    inner = attention_model()
    i = keras.Input((8,), dtype="int32")
    outer = keras.Model(i, L.Dense(2, name="top")(inner(i)))
    p = tfprune.one_shot(outer, 0.5, granularity="head")
    assert [w.layer.name for w in pruner.wrapped_layers(p)] == ["mha"]
    with pytest.raises(errors.NothingToPruneError, match="granularity='channel'"):
        tfprune.prune(attention_model(), sparsity=0.5, granularity="head", exclude=["mha"])


@pytest.mark.parametrize("name", ["apoz", "mean_activation", "hrank", "fpgm", "obs"])
def test_criteria_that_cannot_see_heads_are_refused(name):
    with pytest.raises(errors.ConfigError, match=rf"{name!r}.*supports granularity"):
        tfprune.prune(attention_model(), sparsity=0.5, granularity="head", criterion=name)


def test_model_without_attention_is_refused_naming_the_fix():
    m = keras.Sequential([keras.Input((4,)), L.Dense(8), L.Dense(2)])
    with pytest.raises(errors.NothingToPruneError, match="MultiHeadAttention.*'channel'.*'weight'"):
        tfprune.prune(m, sparsity=0.5, granularity="head")
    with pytest.raises(errors.NothingToPruneError, match="MultiHeadAttention"):
        tfprune.one_shot(m, 0.5, granularity="head")


def test_gradient_criterion_one_shot_with_data():
    x, y = tokens()
    p = tfprune.one_shot(attention_model(), 0.5, granularity="head", criterion="snip",
                         data=(x, y), loss="sparse_categorical_crossentropy")
    (w,) = pruner.wrapped_layers(p)
    assert _kept_heads(w).sum() == 2
