"""criterion="sensitivity": the measured loss increase of removing one channel of a group."""

import numpy as np
import pytest

import tfprune
from tfprune import errors, structured
from tfprune.compat import keras
from tfprune.core import criteria
from tfprune.masking import channels, pruner
from tfprune.measure import probe

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _model():
    keras.utils.set_random_seed(0)
    i = keras.Input((6, 6, 3))
    a = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(i)
    b = L.Conv2D(8, 3, padding="same", name="body")(a)
    s = L.ReLU()(L.BatchNormalization(name="bn")(L.Add(name="add")([a, b])))
    h = L.DepthwiseConv2D(3, name="dw")(s)
    out = L.Dense(3, name="out")(L.GlobalAveragePooling2D()(h))
    return keras.Model(i, out)


def _data(n=64):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 6, 6, 3)).astype("float32")
    return x, (x[:, :, :, 0].mean((1, 2)) > 0).astype("int64") + (x[:, 0, 0, 1] > 1)


@pytest.mark.slow
def test_keeps_the_channels_whose_removal_costs_most_and_shrinks_exactly():
    m, (x, y) = _model(), _data()
    before = [w.copy() for w in m.get_weights()]
    p = tfprune.one_shot(m, 0.5, criterion="sensitivity", granularity="channel",
                         data=tfprune.Calibration((x, y), loss=LOSS))
    ref = probe.ChannelProbe(m, probe.cache((x, y)), probe.loss_metric(LOSS))
    keep = channels.keep_state(pruner.wrapped_layers(p))
    assert set(keep) == set(ref.groups)
    for g, k in keep.items():
        d = ref.deltas(g)
        assert k.sum() == len(k) // 2
        assert d[k].min() >= d[~k].max() - 1e-6, g  # kept = the largest measured deltas
    small = tfprune.shrink(tfprune.strip(p))
    np.testing.assert_allclose(small(x).numpy(), p(x).numpy(), atol=1e-5)
    for a, b in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the user's model is untouched


@pytest.mark.slow
def test_plan_and_global_scope_take_it():
    m, (x, y) = _model(), _data()
    plan = structured.plan(m, sparsity=0.5, criterion="sensitivity", data=(x, y), loss=LOSS)
    assert {n: len(k) for n, k in plan.keep.items()} == {n: c // 2 for n, c in plan.channels.items()}
    p = tfprune.one_shot(m, 0.4, criterion="sensitivity", granularity="channel", scope="global",
                         data=tfprune.Calibration((x, y), loss=LOSS, max_batches=1))
    assert 0 < pruner.sparsity_report(p)["sparsity"] < 1


@pytest.mark.slow
def test_beats_magnitude_on_loss_at_the_same_sparsity():
    m, (x, y) = _model(), _data(128)
    losses = {}
    for name in ("sensitivity", "l1"):
        p = tfprune.one_shot(m, 0.5, criterion=name, granularity="channel", data=tfprune.Calibration((x, y), loss=LOSS))
        losses[name] = float(np.mean(LOSS(y, p(x))))
    assert losses["sensitivity"] <= losses["l1"]


@pytest.mark.slow
def test_bad_input_is_refused_before_work():
    m, (x, y) = _model(), _data()
    with pytest.raises(errors.ConfigError, match="data=\\(x, y\\)"):
        tfprune.one_shot(m, 0.5, criterion="sensitivity", granularity="channel", data=tfprune.Calibration(loss=LOSS))
    with pytest.raises(errors.ConfigError, match="'sensitivity'.*supports granularity"):
        tfprune.one_shot(m, 0.5, criterion="sensitivity", granularity="weight", data=tfprune.Calibration((x, y), loss=LOSS))
    with pytest.raises(errors.ConfigError, match="prune\\(\\) has no data.*Sensitivity\\(data="):
        tfprune.prune(m, sparsity=0.5, criterion="sensitivity", granularity="channel")
    with pytest.raises(errors.ConfigError, match="data must be calibration \\(x, y\\)"):
        criteria.Sensitivity(data=x)
    with pytest.raises(errors.DataError, match="NaN"):
        tfprune.prune(m, sparsity=0.5, granularity="channel",
                      criterion=criteria.Sensitivity(data=(x * np.nan, y), loss=LOSS))
    with pytest.raises(errors.ConfigError, match="loss"):
        tfprune.one_shot(m, 0.5, criterion="sensitivity", granularity="channel", data=(x, y))
    with pytest.raises(errors.ConfigError, match="1 batch.* 4 samples"):
        tfprune.one_shot(m, 0.5, criterion="sensitivity", granularity="channel",
                         data=tfprune.Calibration([(x[:4], y[:4])], loss=LOSS))
    with pytest.raises(errors.ConfigError, match="max_samples"):
        criteria.Sensitivity(max_samples=2)


def test_config_round_trip_and_unmeasured_fallback():
    c = criteria.Sensitivity(max_samples=64)
    assert type(c).from_config(c.get_config()) == c
    assert criteria.get("sensitivity").granularities == ("channel", "head")
    s = c.score(np.array([[1.0, -2.0], [0.0, 3.0]], "float32"), {"axis": -1})
    np.testing.assert_allclose(s.numpy(), [1.0, 5.0])  # L1 per output position


@pytest.mark.slow
def test_prune_with_calibration_data_measures_at_every_mask_update(monkeypatch):
    """prune(criterion=Sensitivity(data=...)): the step-0 masks are one_shot's choice, and
    the loss deltas are measured again, on the current weights, at every update of fit."""
    m, (x, y) = _model(), _data()
    crit = criteria.Sensitivity(data=(x, y), loss=LOSS)
    p = tfprune.prune(m, sparsity=0.5, criterion=crit, granularity="channel")
    tfprune.before_step(p)  # step 0: measured on the dense weights
    ref = tfprune.one_shot(m, 0.5, criterion="sensitivity", granularity="channel",
                           data=tfprune.Calibration((x, y), loss=LOSS))
    got, want = (channels.keep_state(pruner.wrapped_layers(q)) for q in (p, ref))
    assert set(got) == set(want)
    for g in got:
        np.testing.assert_array_equal(got[g], want[g])

    calls = []
    real = probe.measure_loss_deltas
    monkeypatch.setattr(probe, "measure_loss_deltas",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    agp = tfprune.schedules.AGP(0.5, end_step=6, frequency=2)
    g = tfprune.prune(m, schedule=agp, criterion=crit, granularity="channel")
    g.compile("sgd", LOSS)
    g.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[tfprune.PruningCallback()])
    assert len(calls) == 4  # steps 0, 2, 4, 6
    small = tfprune.shrink(tfprune.strip(g))
    assert small.get_layer("dw").count_params() < m.get_layer("dw").count_params()
    np.testing.assert_allclose(small(x).numpy(), g(x).numpy(), atol=1e-5)
