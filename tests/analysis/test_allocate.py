import numpy as np
import pytest

from tfprune import errors, structured
from tfprune.analysis.allocate import Costs, allocate
from tfprune.analysis.sensitivity import SensitivityResult, sensitivity
from tfprune.compat import keras
from tfprune.graph.macs import count_macs

L = keras.layers


def fake(model, granularity, curves, levels=(0.25, 0.5, 0.75, 0.9)):
    return SensitivityResult(granularity, levels, "loss", False, 1.0, curves,
                             {u: 1 for u in curves}, {u: [u] for u in curves}, "magnitude", 64,
                             0.0, model=model)


@pytest.mark.slow
def test_channel_costs_are_exact_after_shrink(cnn):
    c = Costs(cnn, "channel")
    s = np.array([0.5, 0.25])[: len(c.units)]
    a = allocate(fake(cnn, "channel", {u: [1.0] * 4 for u in c.units}), target=("macs", 0.6))
    small = structured.shrink(cnn, a.plan(cnn))
    assert a.predicted["macs"] == count_macs(small) <= 0.6 * count_macs(cnn)
    assert a.predicted["params"] == small.count_params()
    assert len(s) == 2  # groups: stem+body (tied by the add) and mid


def test_sensitivity_method_spares_the_sensitive_unit(cnn):
    units = Costs(cnn, "weight").units
    curves = {u: [1.0, 1.0, 1.0, 1.0] for u in units}
    curves["body"] = [1.5, 3.0, 5.0, 9.0]
    a = allocate(fake(cnn, "weight", curves), sparsity=0.5)
    assert a["body"] == 0.0
    assert a.predicted["sparsity"] >= 0.5
    assert a.predicted["metric_delta"] == pytest.approx(0.0)
    # no unit beyond the highest measured level
    assert max(a.values()) <= 0.9 + 0.005  # whole weights


@pytest.mark.parametrize("method", ["uniform", "erk", "lamp"])
@pytest.mark.parametrize("target", [{"sparsity": 0.7}, {"params": 0.4}, {"macs": 0.5}])
def test_weight_methods_meet_the_target(cnn, method, target):
    a = allocate(cnn, method=method, **target)
    (name, value), = target.items()
    if name == "sparsity":
        assert a.predicted["sparsity"] >= value - 1e-9
    else:
        assert a.predicted[name] <= value * a.dense[name]
    assert set(a) == {"stem", "body", "dw", "mid", "head"}


def test_erk_densities_follow_sum_over_prod_of_shape(cnn):
    a = allocate(cnn, sparsity=0.8, method="erk")
    r_stem, r_mid = (3 + 3 + 3 + 16) / (3 * 3 * 3 * 16), (1 + 1 + 16 + 12) / (16 * 12)
    assert (1 - a["mid"]) / (1 - a["stem"]) == pytest.approx(r_mid / r_stem, rel=0.05)


@pytest.mark.slow
def test_weight_scope_works_with_one_shot(cnn):
    import tfprune

    a = allocate(cnn, sparsity=0.6, method="lamp")
    p = tfprune.strip(tfprune.one_shot(cnn, scope=dict(a)))
    for name, s in a.items():
        k = p.get_layer(name).weights[0].numpy()
        assert (k == 0).mean() == pytest.approx(s, abs=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["uniform", "erk", "lamp"])
def test_channel_methods_on_a_model(cnn, method):
    a = allocate(cnn, target=("macs", 0.5), method=method, granularity="channel")
    small = structured.shrink(cnn, a.plan(cnn))
    assert count_macs(small) == a.predicted["macs"] <= 0.5 * count_macs(cnn)


@pytest.mark.slow
def test_real_scan_then_allocate(cnn):
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 3), dtype=np.float32)
    r = sensitivity(cnn, (x, np.arange(64) % 3), granularity="channel", progress=False)
    a = allocate(r, target=("params", 0.5))
    assert a.predicted["params"] <= 0.5 * cnn.count_params()
    assert "Allocation (channel, sensitivity)" in str(a)
    assert a.to_dict()["target"] == ["params", 0.5]


def test_bad_targets(cnn):
    with pytest.raises(errors.ConfigError, match="exactly one target"):
        allocate(cnn, method="uniform")
    with pytest.raises(errors.ConfigError, match="exactly one target"):
        allocate(cnn, sparsity=0.5, target=("macs", 1000), method="uniform")
    with pytest.raises(errors.ConfigError, match="TFLM"):
        allocate(cnn, target=("flash", 10_000), method="uniform")
    with pytest.raises(errors.ConfigError, match="latency_ms= is modelled for channel"):
        allocate(cnn, target=("latency_ms", 2.0), method="uniform")
    with pytest.raises(errors.ConfigError, match="TFLM"):
        allocate(cnn, target=("arena", 10_000), method="uniform")
    with pytest.raises(errors.ConfigError, match="channel granularity only"):
        allocate(cnn, target=("bytes", 10_000), method="uniform")
    with pytest.raises(errors.ConfigError, match="needs a sensitivity result"):
        allocate(cnn, sparsity=0.5)
    with pytest.raises(errors.ConfigError, match="method"):
        allocate(cnn, sparsity=0.5, method="random")
    with pytest.raises(errors.ConfigError, match="positive"):
        allocate(cnn, target=("macs", -3), method="uniform")


def test_bad_target_pairs_and_unknown_keywords(cnn):
    with pytest.raises(errors.ConfigError, match="pair"):
        allocate(cnn, target=0.5, method="uniform")
    with pytest.raises(errors.ConfigError, match="Unknown target 'mac'. Did you mean 'macs'"):
        allocate(cnn, target=("mac", 0.5), method="uniform")
    with pytest.raises(errors.ConfigError, match="given twice"):
        allocate(cnn, target=("macs", 0.5), macs=0.5, method="uniform")
    with pytest.raises(errors.ConfigError, match="keyword argument .* 'metod'.*'method'"):
        allocate(cnn, sparsity=0.5, metod="uniform")


@pytest.mark.parametrize("keyword, value", [("params", 0.5), ("macs", 0.5), ("bytes", 0.5),
                                            ("flash", 0.5)])
def test_deprecated_target_keywords_warn_and_give_the_same_allocation(cnn, keyword, value):
    kw = {"method": "uniform", "granularity": "channel"}
    with pytest.warns(DeprecationWarning, match=rf"{keyword}= is deprecated; use target=\(") as w:
        old = allocate(cnn, **{keyword: value}, **kw)
    assert w[0].filename == __file__  # the warning points at the caller
    new = allocate(cnn, target=(keyword, value), **kw)
    assert dict(old) == dict(new) and old.target == new.target == (keyword, value)


@pytest.mark.parametrize("keyword", ["latency_ms", "arena"])
def test_deprecated_measured_target_keywords_warn_and_are_the_target(cnn, keyword):
    # the same refusal as target=(keyword, ...) at weight granularity (a channel allocation
    # would time LiteRT or export to TFLM first)
    with pytest.warns(DeprecationWarning, match=f"{keyword}= is deprecated"), \
            pytest.raises(errors.ConfigError, match="channel") as old:
        allocate(cnn, **{keyword: 2.0}, method="uniform")
    with pytest.raises(errors.ConfigError, match="channel") as new:
        allocate(cnn, target=(keyword, 2.0), method="uniform")
    assert str(old.value) == str(new.value)


def test_unreachable_target_names_closest_value(cnn):
    c = Costs(cnn, "weight")
    r = fake(cnn, "weight", {u: [1.0] * 4 for u in c.units})
    with pytest.raises(errors.ConfigError, match=r"closest reachable value is sparsity=0\.9"):
        allocate(r, sparsity=0.95)
    with pytest.raises(errors.ConfigError, match=r"closest reachable value is macs=\d+"):
        allocate(r, target=("macs", 10))


@pytest.mark.slow
def test_latency_target_met_and_unreachable_refused(cnn):
    from tfprune.analysis import profiles

    # a known profile (real latencies of a toy model are noise): 0.05 ms + 1 ms per M MACs
    profiles._CACHE[cnn] = {"latency": profiles.LatencyProfile(0.05, 1e-6, [])}
    dense_ms = 0.05 + 1e-6 * count_macs(cnn)
    r = fake(cnn, "channel", {u: [1.0] * 4 for u in Costs(cnn, "channel").units})
    for res, kw in ((r, {}), (cnn, {"method": "uniform", "granularity": "channel"})):
        a = allocate(res, target=("latency_ms", 0.05 + 0.5e-6 * count_macs(cnn)), **kw)
        assert a.predicted["latency_ms"] <= 0.05 + 0.5e-6 * count_macs(cnn) < dense_ms
        assert a.dense["latency_ms"] == pytest.approx(dense_ms)
        small = structured.shrink(cnn, a.plan(cnn))
        assert a.predicted["latency_ms"] == pytest.approx(0.05 + 1e-6 * count_macs(small))
    with pytest.raises(errors.ConfigError,
                       match=r"latency_ms=0.051 is unreachable.*closest reachable value is "
                             r"latency_ms=0\.05\d+ \(dense: 0\.2\d+\)"):
        allocate(r, target=("latency_ms", 0.051))


@pytest.mark.slow
def test_arena_target_met_and_close_to_a_real_export(cnn):
    from tfprune.analysis import profiles

    r = fake(cnn, "channel", {u: [1.0] * 4 for u in Costs(cnn, "channel").units})
    a = allocate(r, target=("arena", 0.75))
    dense = profiles.arena_profile(cnn, Costs(cnn, "channel").index).dense_measured
    assert a.dense["arena"] == dense  # calibrated on one real micro() export
    assert a.predicted["arena"] <= 0.75 * dense
    small = structured.shrink(cnn, a.plan(cnn))
    real = profiles.micro_arena(small)
    assert real == pytest.approx(a.predicted["arena"], rel=0.15)
    u = allocate(cnn, target=("arena", 0.75), method="uniform", granularity="channel")
    assert u.predicted["arena"] <= 0.75 * dense
    with pytest.raises(errors.ConfigError, match=r"closest reachable value is arena=\d+"):
        allocate(r, target=("arena", 100))
