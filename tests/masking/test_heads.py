"""granularity="head": whole heads of MultiHeadAttention chosen per layer (or one global
ranking), applied to every slice of a head, driven by PruningCallback."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import masks
from tfprune.graph import heads
from tfprune.masking import channels, pruner

L = keras.layers


def attention_model(*, value_dim=None, layers=1, seed=0):
    """Input(8 token ids) -> Embedding(50, 16) -> MHA self-attention (x layers) -> mean -> Dense(3)."""
    keras.utils.set_random_seed(seed)
    i = keras.Input((8,), dtype="int32")
    x = L.Embedding(50, 16, name="emb")(i)
    for k in range(layers):
        x = L.MultiHeadAttention(num_heads=4 * (k + 1), key_dim=4, value_dim=value_dim,
                                 name="mha" if k == 0 else f"mha{k}")(x, x)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dense(12, activation="relu", name="fc")(x)
    return keras.Model(i, L.Dense(3, name="out")(x))


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


def test_one_shot_masks_whole_heads_in_every_slice():
    p = tfprune.one_shot(attention_model(value_dim=3), 0.5, granularity="head", criterion="l1")
    (w,) = pruner.wrapped_layers(p)
    assert len(w.channel_map) == 7  # q/k/v/output kernels, q/k/v biases
    assert _kept_heads(w).sum() == masks.kept_count(4, 0.5) == 2


@pytest.mark.slow
def test_global_scope_ranks_heads_across_layers_by_weights():
    m = attention_model(layers=2)  # mha: 4 heads, mha1: 8 heads
    p = tfprune.one_shot(m, 0.5, granularity="head", scope="global")
    keep = channels.keep_state(pruner.wrapped_layers(p))
    assert set(keep) == {"mha/heads", "mha1/heads"}
    assert all(k.sum() >= 1 for k in keep.values())
    assert sum(int((~k).sum()) for k in keep.values()) == 6  # half of the 12 equal-size heads


@pytest.mark.slow
def test_dict_scope_sets_each_layer():
    m = attention_model(layers=2)
    p = tfprune.one_shot(m, granularity="head", scope={"mha": 0.25, "mha1": 0.75})
    keep = channels.keep_state(pruner.wrapped_layers(p))
    assert keep["mha/heads"].sum() == 3 and keep["mha1/heads"].sum() == 2
    with pytest.raises(errors.ConfigError, match="'fc'.*no attention heads"):
        tfprune.prune(m, granularity="head", scope={"mha": 0.5, "fc": 0.5})


def test_excluding_every_attention_layer_is_refused():
    with pytest.raises(errors.NothingToPruneError, match="granularity='channel'"):
        tfprune.prune(attention_model(), sparsity=0.5, granularity="head", exclude=["mha"])


def test_model_without_attention_is_refused_naming_the_fix():
    m = keras.Sequential([keras.Input((4,)), L.Dense(8), L.Dense(2)])
    with pytest.raises(errors.NothingToPruneError, match="MultiHeadAttention.*'channel'.*'weight'"):
        tfprune.prune(m, sparsity=0.5, granularity="head")
    with pytest.raises(errors.NothingToPruneError, match="MultiHeadAttention"):
        tfprune.one_shot(m, 0.5, granularity="head")
