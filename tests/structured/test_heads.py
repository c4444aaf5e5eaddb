"""shrink after granularity="head": num_heads lowered, weights sliced, outputs equal to the
masked model; inconsistent head masks refused; channels and heads together."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune import structured as S
from tfprune.compat import keras
from tfprune.masking import pruner

L = keras.layers


def attention_model(*, value_dim=None, use_bias=True, output_shape=None, seed=0):
    """Input(8 token ids) -> Embedding(50, 16) -> MHA(4 heads) self-attention -> mean ->
    Dense(12) -> Dense(3)."""
    keras.utils.set_random_seed(seed)
    i = keras.Input((8,), dtype="int32")
    x = L.Embedding(50, 16, name="emb")(i)
    x = L.MultiHeadAttention(num_heads=4, key_dim=4, value_dim=value_dim, use_bias=use_bias,
                             output_shape=output_shape, name="mha")(x, x)
    x = L.Dense(12, activation="relu", name="fc")(L.GlobalAveragePooling1D()(x))
    return keras.Model(i, L.Dense(3, name="out")(x))


def tokens(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 50, (n, 8)).astype("int32"), rng.integers(0, 3, n)


def _randomize_biases(model):
    for layer in model.layers:
        for w in layer.weights:
            if "bias" in w.name:
                w.assign(np.random.default_rng(1).normal(size=w.shape).astype("float32") * 0.1)
    return model


def _close(a, b, atol=1e-5):
    err = float(np.abs(a - b).max())
    assert err <= atol * max(float(np.abs(a).max()), 1.0), err
    return err


@pytest.mark.slow
def test_prune_fit_strip_shrink_lowers_num_heads_with_equal_outputs():
    m = _randomize_biases(attention_model())
    sched = tfprune.schedules.AGP(0.75, begin_step=0, end_step=2, frequency=1)
    p = tfprune.prune(m, schedule=sched, granularity="head", criterion="taylor")
    p.compile("adam", "sparse_categorical_crossentropy")
    x, y = tokens()
    p.fit(x, y, batch_size=8, epochs=1, verbose=0,
          callbacks=[tfprune.callbacks.PruningCallback()])
    small = tfprune.shrink(tfprune.strip(p))
    assert small.get_layer("mha").get_config()["num_heads"] == 1
    _close(p.predict(x, verbose=0), small.predict(x, verbose=0))
    rep = small.shrink_report
    assert rep.removed == {"mha/heads": 3}
    assert rep.params[1] < rep.params[0] and rep.macs[1] < rep.macs[0]
    assert str(rep).startswith("shrink: 3 heads removed in 1 attention layers; MACs")


@pytest.mark.slow
@pytest.mark.parametrize("kwargs", [{"value_dim": 3}, {"use_bias": False},
                                    {"output_shape": 10}],
                         ids=["value_dim", "no_bias", "output_shape"])
def test_one_shot_strip_shrink_variants(kwargs):
    m = _randomize_biases(attention_model(**kwargs))
    p = tfprune.one_shot(m, 0.5, granularity="head", criterion="l2")
    plain = tfprune.strip(p)
    small = tfprune.shrink(plain)
    cfg = small.get_layer("mha").get_config()
    assert cfg["num_heads"] == 2 and cfg["value_dim"] == (kwargs.get("value_dim") or 4)
    x, _ = tokens()
    _close(plain(x).numpy(), small(x).numpy())
    assert small.count_params() < m.count_params()


@pytest.mark.slow
def test_nested_attention_shrinks():
    inner = attention_model()
    i = keras.Input((8,), dtype="int32")
    outer = keras.Model(i, L.Dense(2, name="top")(inner(i)))
    plain = tfprune.strip(tfprune.one_shot(outer, 0.5, granularity="head"))
    small = tfprune.shrink(plain)
    assert small.shrink_report.removed == {f"{inner.name}/mha/heads": 2}
    x, _ = tokens()
    _close(plain(x).numpy(), small(x).numpy())


def transformer_block():
    """Embedding -> x + MHA(x, x) -> LayerNorm -> x + FFN(x) (32 hidden) -> LayerNorm -> mean."""
    keras.utils.set_random_seed(0)
    i = keras.Input((8,), dtype="int32")
    x = L.Embedding(50, 16)(i)
    x = L.LayerNormalization()(L.Add()([x, L.MultiHeadAttention(4, 4, name="mha")(x, x)]))
    f = L.Dense(16, name="ffn2")(L.Dense(32, activation="relu", name="ffn1")(x))
    x = L.LayerNormalization()(L.Add()([x, f]))
    return keras.Model(i, L.Dense(3, name="out")(L.GlobalAveragePooling1D()(x)))


@pytest.mark.slow
def test_channels_then_heads_shrink_together():
    once = tfprune.strip(tfprune.one_shot(transformer_block(), 0.5, granularity="channel"))
    both = tfprune.strip(tfprune.one_shot(once, 0.5, granularity="head"))
    small = tfprune.shrink(both)
    assert small.shrink_report.removed == {"ffn1": 16, "mha/heads": 2}
    assert "16 channels removed in 1 groups, 2 heads removed" in str(small.shrink_report)
    assert small.get_layer("ffn1").units == 16
    assert small.get_layer("mha").get_config()["num_heads"] == 2
    x, _ = tokens()
    _close(both(x).numpy(), small(x).numpy())


@pytest.mark.slow
def test_per_weight_zeros_are_refused_not_ignored():
    m = attention_model()
    plain = tfprune.strip(tfprune.one_shot(m, 0.6, granularity="weight",
                                           exclude=["emb", "fc", "out"]))
    with pytest.raises(errors.ConfigError, match="no whole channel or head.*'head'"):
        tfprune.shrink(plain)
    k = plain.get_layer("mha")._query_dense.kernel  # one head's query slice zero, the rest not
    dense = m.get_layer("mha")
    for src, dst in zip(dense.weights, plain.get_layer("mha").weights, strict=True):
        dst.assign(src)
    k.assign(k.numpy() * np.array([0, 1, 1, 1], "float32")[None, :, None])
    with pytest.raises(errors.ConfigError, match=r"not masked whole.*heads \[0\].*'head'"):
        tfprune.shrink(plain)


@pytest.mark.slow
def test_explicit_plan_masks_and_slices_the_same_heads():
    m = _randomize_biases(attention_model())
    plan = S.Plan({"mha/heads": (0, 2)}, {"mha/heads": 4})
    masked = S.apply_masks(m, plan)
    assert not masked.get_layer("mha")._value_dense.kernel.numpy()[:, [1, 3]].any()
    small = S.shrink(m, plan)
    assert small.get_layer("mha").get_config()["num_heads"] == 2
    x, _ = tokens()
    _close(masked(x).numpy(), small(x).numpy())
    with pytest.raises(errors.ConfigError, match="made for 8 heads"):
        S.shrink(m, S.Plan({"mha/heads": (0,)}, {"mha/heads": 8}))
    with pytest.raises(errors.ConfigError, match="keeps no head"):
        S.shrink(m, S.Plan({"mha/heads": ()}, {"mha/heads": 4}))


@pytest.mark.slow
def test_plan_granularity_head_is_the_head_path():
    """structured.plan(granularity="head") plans heads with the criterion it is given."""
    m = _randomize_biases(attention_model())
    x, y = tokens()
    plan = S.plan(m, sparsity=0.5, granularity="head", criterion="l1")
    assert plan.channels == {"mha/heads": 4} and len(plan.keep["mha/heads"]) == 2
    small = S.shrink(m, plan)
    assert small.get_layer("mha").get_config()["num_heads"] == 2
    _close(S.apply_masks(m, plan)(x).numpy(), small(x).numpy())
    measured = S.plan(m, sparsity=0.5, granularity="head", criterion="sensitivity",
                      data=(x, y), loss="sparse_categorical_crossentropy")
    assert len(measured.keep["mha/heads"]) == 2
    with pytest.raises(errors.ConfigError, match="round_to"):
        S.plan(m, sparsity=0.5, granularity="head", round_to=2)
    with pytest.raises(errors.ConfigError, match="granularity='head'.*data="):
        tfprune.prune(m, sparsity=0.5, criterion="sensitivity", granularity="head")


@pytest.mark.slow
def test_shrunk_attention_exports_to_tflite(tmp_path):
    small = tfprune.shrink(tfprune.strip(tfprune.one_shot(attention_model(), 0.5,
                                                          granularity="head")))
    rec = tfprune.export.tflite(small, str(tmp_path / "heads.tflite"))
    assert rec.bytes > 0 and rec.verification["max_abs_error"] < 1e-4
    assert pruner.wrapped_layers(small) == []
