"""Attention heads in sensitivity, allocate and the measured "sensitivity" criterion."""

import numpy as np
import pytest

import tfprune
from tfprune import errors, structured
from tfprune.analysis import allocate, channel_loss_delta, sensitivity
from tfprune.analysis.result import SensitivityResult
from tfprune.compat import keras
from tfprune.graph.macs import count_macs
from tfprune.structured import plans

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _attention(second: bool = False):
    i = keras.Input((6, 8))
    x = L.MultiHeadAttention(num_heads=4, key_dim=4, name="mha")(i, i)
    if second:
        x = L.MultiHeadAttention(num_heads=2, key_dim=4, name="mhb")(x, x)
    m = keras.Model(i, L.Dense(3, name="out")(L.GlobalAveragePooling1D()(x)))
    m.compile(loss=LOSS)
    return m


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 6, 8)).astype("float32"), rng.integers(0, 3, 32)


def _loss(model, data):
    x, y = data
    return float(LOSS(y, model(x, training=False)))


def _without(model, layer, heads_kept):
    """The model with the heads of ``layer`` outside ``heads_kept`` zeroed (apply_masks)."""
    n = model.get_layer(layer).get_config()["num_heads"]
    return structured.apply_masks(model, structured.Plan({f"{layer}/heads": tuple(heads_kept)},
                                                         {f"{layer}/heads": n}))


@pytest.mark.slow
def test_head_scan_points_equal_one_shot_then_evaluate(data):
    m = _attention()
    before = [w.copy() for w in m.get_weights()]
    r = sensitivity(m, data, granularity="head", levels=(0.25, 0.5, 0.9), criterion="l1",
                    progress=False)
    assert r.granularity == "head" and r.sizes == {"mha": 4} and r.members == {"mha": ["mha"]}
    assert r.baseline == pytest.approx(_loss(m, data), rel=1e-5)
    for level, value in zip(r.levels, r.curves["mha"], strict=True):
        direct = tfprune.strip(tfprune.one_shot(m, scope={"mha": level}, criterion="l1",
                                                granularity="head"))
        kept = direct.get_layer("mha")._query_dense.kernel.numpy().any(axis=(0, 2)).sum()
        assert kept == max(1, round(4 * (1 - level)))  # 0.9: one head is always kept
        assert value == pytest.approx(_loss(direct, data), rel=1e-5, abs=1e-6)
    assert all((a == b).all() for a, b in zip(before, m.get_weights(), strict=True))


@pytest.mark.slow
def test_head_result_table_json_plot(data, tmp_path):
    r = sensitivity(_attention(second=True), data, granularity="head", levels=(0.5,),
                    progress=False)
    assert list(r.curves) == ["mha", "mhb"]
    assert "2 attention layers (heads)" in r.table() and r.table().splitlines()[1].split()[:2] \
        == ["mha", "4"]
    d = r.to_dict()
    assert d["granularity"] == "head" and SensitivityResult.from_dict(d).curves == r.curves
    path = r.plot(str(tmp_path / "heads.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sensitivity", "uniform", "erk", "lamp"])
def test_head_allocation_meets_params_and_shrinks_exactly(data, method):
    m = _attention(second=True)
    r = sensitivity(m, data, granularity="head", levels=(0.25, 0.5, 0.75), progress=False)
    alloc = allocate(r, target=("params", 0.75), method=method)
    assert set(alloc) == {"mha", "mhb"} and alloc.granularity == "head"
    assert alloc.predicted["params"] <= 0.75 * m.count_params()
    masked = tfprune.strip(tfprune.one_shot(m, scope=dict(alloc), granularity="head"))
    small = tfprune.shrink(masked)
    for name, s in alloc.items():
        heads = m.get_layer(name).get_config()["num_heads"]
        assert small.get_layer(name).get_config()["num_heads"] == max(1, round(heads * (1 - s)))
    assert small.count_params() == alloc.predicted["params"]
    assert count_macs(small) == alloc.predicted["macs"]
    x = data[0]
    np.testing.assert_allclose(small(x).numpy(), masked(x).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_head_allocation_macs_target_and_plan(data):
    m = _attention(second=True)
    alloc = allocate(m, target=("macs", 0.6), method="uniform", granularity="head")
    assert alloc.predicted["macs"] <= 0.6 * count_macs(m)
    plan = alloc.plan(m, criterion="l1")
    assert set(plan.keep) <= {"mha/heads", "mhb/heads"} and "heads removed" in str(plan)
    small = tfprune.shrink(structured.apply_masks(m, plan))
    assert count_macs(small) == alloc.predicted["macs"]


@pytest.mark.slow
def test_measured_head_deltas_equal_direct_removal(data):
    m = _attention()
    deltas = channel_loss_delta(m, data, granularity="head", progress=False)["mha/heads"]
    base = _loss(m, data)
    direct = np.array([_loss(_without(m, "mha", [k for k in range(4) if k != h]), data) - base
                       for h in range(4)])
    np.testing.assert_allclose(deltas, direct, rtol=1e-4, atol=1e-6)
    plan = allocate(m, sparsity=0.5, method="uniform", granularity="head").plan(
        m, scores={"mha/heads": deltas})  # keep the heads whose removal hurts most
    assert plan.keep["mha/heads"] == tuple(sorted(np.argsort(-direct)[:2].tolist()))


@pytest.mark.slow
def test_sensitivity_criterion_removes_the_head_whose_removal_hurts_least(data):
    m = _attention()
    base = _loss(m, data)
    direct = [_loss(_without(m, "mha", [k for k in range(4) if k != h]), data) - base
              for h in range(4)]
    pruned = tfprune.one_shot(m, scope={"mha": 0.25}, criterion="sensitivity",
                              granularity="head", data=data)
    q = tfprune.strip(pruned).get_layer("mha")._query_dense.kernel.numpy()
    removed = np.flatnonzero(~q.any(axis=(0, 2)))
    assert removed.tolist() == [int(np.argmin(direct))]
    plan = plans.head_plan(m, 0.25, criterion="sensitivity", data=data)
    assert plan.keep["mha/heads"] == tuple(h for h in range(4) if h != int(np.argmin(direct)))


@pytest.mark.parametrize("levels", [(0.0, 0.5), (0.5, 1.0), (-0.1,)])
def test_head_scan_refuses_levels_outside_0_1(data, levels):
    with pytest.raises(errors.ConfigError, match=r"in \(0, 1\)"):
        sensitivity(_attention(), data, granularity="head", levels=levels, progress=False)


def test_heads_refused_without_attention_or_with_a_data_criterion(data):
    dense = keras.Sequential([keras.Input((6, 8)), L.Flatten(), L.Dense(3, name="d")])
    dense.compile(loss=LOSS)
    with pytest.raises(errors.NothingToPruneError, match="granularity='channel'"):
        sensitivity(dense, data, granularity="head", progress=False)
    with pytest.raises(errors.NothingToPruneError):
        allocate(dense, sparsity=0.5, method="uniform", granularity="head")
    with pytest.raises(errors.NothingToPruneError, match="MultiHeadAttention"):
        channel_loss_delta(dense, data, granularity="head", progress=False)
    with pytest.raises(errors.ConfigError, match="weight-only"):
        sensitivity(_attention(), data, granularity="head", criterion="taylor", progress=False)


@pytest.mark.parametrize("target", ["bytes", "flash", "arena", "latency_ms"])
def test_head_allocation_refuses_targets_it_does_not_model(target):
    with pytest.raises(errors.ConfigError, match=rf"{target}= is not modelled for "
                       r"granularity='head'.*sparsity= or target=\('params' or 'macs'"):
        allocate(_attention(), method="uniform", granularity="head", target=(target, 0.5))


@pytest.mark.slow
def test_head_probe_from_a_cut_equals_the_whole_model(data):
    from tfprune.measure import cutpoints, probe

    i = keras.Input((6, 8))
    h = L.Dense(8, name="pre")(i)
    x = L.MultiHeadAttention(num_heads=4, key_dim=4, name="mha")(h, h)
    m = keras.Model(i, L.Dense(3, name="out")(L.GlobalAveragePooling1D()(x)))
    fn = probe.loss_metric(LOSS)
    cut = probe.ChannelProbe(m, probe.cache(data), fn, cuts=cutpoints.Cuts(1),
                             granularity="head")
    whole = probe.ChannelProbe(m, probe.cache(data), fn, cuts=cutpoints.Cuts(0),
                               granularity="head")
    assert cut.cut_of == {"mha/heads": 1} and not whole.cut_of
    np.testing.assert_allclose(cut.deltas("mha/heads"), whole.deltas("mha/heads"),
                               rtol=1e-5, atol=1e-7)


def test_to_budget_says_it_removes_channels_only():
    from tfprune.analysis import to_budget

    i = keras.Input((6, 8))
    x = L.MultiHeadAttention(num_heads=4, key_dim=4, name="mha")(i, i)
    m = keras.Model(i, L.GlobalAveragePooling1D()(x))  # no prunable channel group
    m.compile("adam", "mse")
    xs = np.random.default_rng(0).normal(size=(16, 6, 8)).astype("float32")
    with pytest.raises(errors.NothingToPruneError, match="channels only.*granularity='head'"):
        to_budget(m, (xs, np.zeros((16, 8), "float32")), target=("macs", 0.5), fine_tune=0,
                  progress=False)
