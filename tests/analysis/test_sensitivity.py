import json

import numpy as np
import pytest

from tfprune import errors
from tfprune.analysis.sensitivity import SensitivityOptions, SensitivityResult, sensitivity
from tfprune.compat import keras

L = keras.layers


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.random((96, 8, 8, 3), dtype=np.float32)
    return x, (x[:, :4, :4, 0].sum((1, 2)) > 4).astype("int64")


@pytest.fixture
def resnet_like():
    inp = keras.Input((8, 8, 3))
    a = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    b = L.Conv2D(8, 3, padding="same", name="body")(a)
    s = L.Add(name="add")([a, b])
    h = L.Conv2D(6, 1, activation="relu", name="mid")(s)
    x = L.GlobalAveragePooling2D()(h)
    out = L.Dense(2, activation="softmax", name="head")(x)
    m = keras.Model(inp, out)
    m.compile(loss="sparse_categorical_crossentropy")
    return m


@pytest.mark.slow
def test_weight_scan_restores_weights_and_keeps_user_model(resnet_like, data):
    before = [w.copy() for w in resnet_like.get_weights()]
    r = sensitivity(resnet_like, data, levels=(0.5, 0.9), progress=False)
    assert set(r.curves) == {"stem", "body", "mid", "head"}
    for a, b in zip(before, resnet_like.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # the baseline equals the model's own loss
    ev = resnet_like.evaluate(*data, batch_size=64, verbose=0)
    assert r.baseline == pytest.approx(ev, rel=1e-4)
    assert r.sizes["stem"] == 3 * 3 * 3 * 8


@pytest.mark.slow
def test_weight_point_matches_a_separately_pruned_model(resnet_like, data):
    r = sensitivity(resnet_like, data, levels=(0.75,), progress=False)
    m2 = keras.models.clone_model(resnet_like)
    m2.set_weights(resnet_like.get_weights())
    k = m2.get_layer("body").kernel
    w = k.numpy()
    thr = np.sort(np.abs(w).ravel())[int(round(w.size * 0.75)) - 1]
    k.assign(np.where(np.abs(w) > thr, w, 0))
    m2.compile(loss="sparse_categorical_crossentropy")
    assert r.curves["body"][0] == pytest.approx(m2.evaluate(*data, batch_size=64, verbose=0),
                                                rel=1e-4)


@pytest.mark.slow
def test_channel_scan_measures_groups_never_coupled_layers_alone(resnet_like, data):
    r = sensitivity(resnet_like, data, granularity="channel", levels=(0.5,), progress=False)
    # stem and body are tied by the residual add: one group holding both
    grp = [u for u, mem in r.members.items() if "body" in mem]
    assert len(grp) == 1 and "stem" in r.members[grp[0]]
    assert set(r.curves) == {grp[0], "mid"}
    assert r.sizes[grp[0]] == 8


@pytest.mark.slow
def test_channel_point_matches_structured_apply_masks(resnet_like, data):
    from tfprune import structured

    r = sensitivity(resnet_like, data, granularity="channel", levels=(0.5,), progress=False)
    p = structured.plan(resnet_like, sparsity=0.5, criterion="l1")
    # prune only "mid" with the same choice and compare
    p1 = structured.Plan({"mid": p.keep["mid"]}, {"mid": 6})
    masked = structured.apply_masks(resnet_like, p1)
    masked.compile(loss="sparse_categorical_crossentropy")
    assert r.curves["mid"][0] == pytest.approx(masked.evaluate(*data, batch_size=64, verbose=0),
                                               rel=1e-4)


@pytest.mark.slow
def test_accuracy_metric_and_callable_metric(resnet_like, data):
    r = sensitivity(resnet_like, data, levels=(0.9,), metric="accuracy", progress=False)
    assert r.higher_is_better and 0.0 <= r.baseline <= 1.0

    def drift(y, p):
        return -p[:, 0]

    drift.higher_is_better = False
    r2 = sensitivity(resnet_like, data, levels=(0.9,), metric=drift, progress=False)
    assert r2.metric == "drift" and not r2.higher_is_better


@pytest.mark.slow
def test_result_table_json_plot(resnet_like, data, tmp_path):
    r = sensitivity(resnet_like, data, levels=(0.25, 0.9), progress=False,
                    options=SensitivityOptions(max_batches=1))
    assert r.samples == 64
    assert "stem" in r.table() and "baseline loss" in r.table()
    r.to_json(tmp_path / "s.json")
    back = SensitivityResult.from_dict(json.loads((tmp_path / "s.json").read_text()))
    assert back.curves == r.curves and back.levels == r.levels
    png = r.plot(tmp_path / "s.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("levels,match", [((0.5, 0.25), "increasing"), ((0.0, 0.5), r"\(0, 1\)"),
                                          ((0.5, 1.0), r"\(0, 1\)"), ((), "empty")])
def test_bad_levels(resnet_like, data, levels, match):
    with pytest.raises(errors.ConfigError, match=match):
        sensitivity(resnet_like, data, levels=levels)


def test_bad_data_metric_and_granularity(resnet_like, data):
    x, y = data
    with pytest.raises(errors.ConfigError, match="0 batch"):
        sensitivity(resnet_like, [])
    with pytest.raises(errors.ConfigError, match=r"data=\(x, y\).*got None"):
        sensitivity(resnet_like, None)
    with pytest.raises(errors.ConfigError, match="1 batch.* 4 samples"):
        sensitivity(resnet_like, (x[:4], y[:4]))
    with pytest.raises(errors.ConfigError, match="labels"):
        sensitivity(resnet_like, x)
    with pytest.raises(errors.ConfigError, match="metric"):
        sensitivity(resnet_like, data, metric="auc")
    with pytest.raises(errors.ConfigError, match="granularity"):
        sensitivity(resnet_like, data, granularity="block")
    with pytest.raises(errors.NothingToPruneError, match="MultiHeadAttention"):
        sensitivity(resnet_like, data, granularity="head")  # no attention layer
    plain = keras.models.clone_model(resnet_like)
    with pytest.raises(errors.ConfigError, match="compile"):
        sensitivity(plain, data)


def test_nothing_prunable(data):
    m = keras.Sequential([keras.Input((8, 8, 3)), L.GlobalAveragePooling2D()])
    m.compile(loss="mse")
    with pytest.raises(errors.NothingToPruneError):
        sensitivity(m, (data[0], np.zeros((96, 3), "float32")))
    d = keras.Sequential([keras.Input((4,)), L.Dense(2, name="out")])
    d.compile(loss="mse")
    with pytest.raises(errors.NothingToPruneError, match="channel"):
        sensitivity(d, (np.ones((16, 4), "float32"), np.ones((16, 2), "float32")),
                    granularity="channel")


def test_channel_loss_delta_ranks_a_dead_channel_last():
    from tfprune.analysis.allocate import allocate
    from tfprune.analysis.sensitivity import channel_loss_delta

    m = keras.Sequential([keras.Input((4,)), L.Dense(4, activation="relu", name="h"),
                          L.Dense(3, activation="softmax", name="out")])
    m.compile(loss="sparse_categorical_crossentropy")
    k = m.get_layer("out").kernel
    k.assign(np.concatenate([np.zeros((1, 3)), np.ones((3, 3)) * [1, -1, 0.5]]).astype("f"))
    x = np.random.default_rng(0).random((64, 4), dtype=np.float32) + 0.5
    d = channel_loss_delta(m, (x, np.arange(64) % 3), progress=False)
    assert d["h"][0] == 0.0 and np.abs(d["h"][1:]).max() > 0
    a = allocate(m, sparsity=0.25, method="uniform", granularity="channel")
    assert 0 not in a.plan(m, scores={"h": np.abs(d["h"])}).keep["h"]


def _bn_net():
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    a = L.ReLU()(L.BatchNormalization(name="bn1")(L.Conv2D(8, 3, padding="same", name="c1")(inp)))
    b = L.ReLU()(L.BatchNormalization(name="bn2")(L.Conv2D(6, 3, padding="same", name="c2")(a)))
    m = keras.Model(inp, L.Dense(2, activation="softmax", name="head")(
        L.GlobalAveragePooling2D()(b)))
    m.compile(loss="sparse_categorical_crossentropy")
    for bn in ("bn1", "bn2"):  # moving statistics far from the batch statistics
        layer = m.get_layer(bn)
        layer.moving_mean.assign(layer.moving_mean + 0.3)
        layer.moving_variance.assign(layer.moving_variance * 2.0)
    return m


@pytest.mark.slow
def test_recalibrated_bn_point_is_a_mask_then_recalibrate_bn(data):
    data = (data[0][:64], data[1][:64])  # one chunk of 64: statistics over all of it
    from tfprune import structured
    from tfprune.masking import refit

    m = _bn_net()
    before = [w.copy() for w in m.get_weights()]
    r = sensitivity(m, data, granularity="channel", levels=(0.5,), progress=False)
    assert r.recalibrate_bn  # "auto": the model has BatchNormalization
    stale = sensitivity(m, data, granularity="channel", levels=(0.5,), progress=False,
                        options=SensitivityOptions(recalibrate_bn=False))
    assert not stale.recalibrate_bn
    full = structured.apply_masks(m, structured.Plan({}, {}))
    refit.recalibrate_bn(full, data[0])
    full.compile(loss="sparse_categorical_crossentropy")
    assert r.baseline == pytest.approx(full.evaluate(*data, batch_size=64, verbose=0), rel=1e-4)
    keep = structured.plan(m, sparsity=0.5, criterion="l1").keep["c1"]
    masked = structured.apply_masks(m, structured.Plan({"c1": keep}, {"c1": 8}))
    refit.recalibrate_bn(masked, data[0])  # re-estimated on the data, then evaluated
    masked.compile(loss="sparse_categorical_crossentropy")
    want = masked.evaluate(*data, batch_size=64, verbose=0)
    assert r.curves["c1"][0] == pytest.approx(want, rel=1e-4)
    assert stale.curves["c1"][0] != pytest.approx(want, rel=1e-2)  # stale statistics differ
    assert all((a == b).all() for a, b in zip(before, m.get_weights(), strict=True))


# -- any task (issue 27): the metric fits the output --------------------------------------
@pytest.fixture
def regression():
    rng = np.random.default_rng(1)
    x = rng.random((64, 4), dtype=np.float32)
    y = (6 + 12 * x[:, 0]).astype("float32")  # targets 6..18
    m = keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu", name="h"),
                          L.Dense(1, name="price")])
    m.compile(loss="mse", metrics=["mae"])
    return m, (x, y)


def test_accuracy_on_a_regression_output_is_refused_naming_it(regression):
    m, data = regression
    with pytest.raises(errors.ConfigError, match=r"'accuracy' cannot apply to output 'price'"
                                                 r".*regression.*metric='mae'"):
        sensitivity(m, data, levels=(0.5,), metric="accuracy", progress=False)
    m2 = keras.models.clone_model(m)  # uncompiled: the float targets say regression
    with pytest.raises(errors.ConfigError, match="output 'price'.*labels"):
        sensitivity(m2, data, levels=(0.5,), metric="accuracy", progress=False)


@pytest.mark.slow
def test_mae_and_compiled_loss_on_a_regression_output(regression):
    m, (x, y) = regression
    r = sensitivity(m, (x, y), levels=(0.5, 0.9), metric="mae", progress=False)
    assert r.metric == "mae" and not r.higher_is_better
    mae = float(np.mean(np.abs(m.predict(x, verbose=0)[:, 0] - y)))
    assert r.baseline == pytest.approx(mae, rel=1e-4)
    assert len({round(v, 6) for v in r.curves["h"] + r.curves["price"]}) > 1  # levels differ
    r2 = sensitivity(m, (x, y), levels=(0.5,), progress=False)  # the compiled loss (mse)
    assert r2.baseline == pytest.approx(float(np.mean((m.predict(x, verbose=0)[:, 0] - y) ** 2)),
                                        rel=1e-4)


@pytest.mark.slow
def test_binary_and_one_hot_outputs_still_get_accuracy():
    rng = np.random.default_rng(2)
    x = rng.random((64, 4), dtype=np.float32)
    yb = (x[:, 0] > 0.5).astype("float32")
    b = keras.Sequential([keras.Input((4,)), L.Dense(1, activation="sigmoid", name="p")])
    b.compile(loss="binary_crossentropy")
    r = sensitivity(b, (x, yb), levels=(0.5,), metric="accuracy", progress=False)
    assert r.baseline == pytest.approx(float(np.mean((b.predict(x, verbose=0)[:, 0] > 0.5) == yb)))
    yo = np.eye(3, dtype="float32")[np.arange(64) % 3]
    c = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="softmax", name="c")])
    c.compile(loss="categorical_crossentropy")
    r = sensitivity(c, (x, yo), levels=(0.5,), metric="accuracy", progress=False)
    want = float(np.mean(c.predict(x, verbose=0).argmax(1) == np.arange(64) % 3))
    assert r.higher_is_better and r.baseline == pytest.approx(want)


@pytest.mark.slow
def test_lstm_channel_refusal_names_the_layer_the_reason_and_the_fix():
    import tfprune

    i = keras.Input((6, 4))
    m = keras.Model(i, L.Dense(3, name="out")(L.LSTM(8, name="lstm")(i)))
    m.compile(loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).random((16, 6, 4), dtype=np.float32), np.arange(16) % 3
    want = r"'lstm' \(LSTM\) mixes channels: tfprune does not remove the units.*'lstm' at " \
           r"granularity='weight'"
    with pytest.raises(errors.NothingToPruneError, match=want):
        sensitivity(m, (x, y), granularity="channel", progress=False)
    with pytest.raises(errors.NothingToPruneError, match=want):
        tfprune.prune(m, sparsity=0.5, granularity="channel")
    r = sensitivity(m, (x, y), levels=(0.5,), progress=False)  # the fix works
    assert set(r.curves) == {"lstm", "out"}


@pytest.mark.parametrize("keyword, value", [("max_batches", 1), ("recalibrate_bn", False)])
def test_deprecated_keywords_warn_and_give_the_same_result(keyword, value):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    x, y = np.random.default_rng(0).random((128, 4)).astype("float32"), np.arange(128) % 3
    kw = {"levels": (0.5,), "metric": "accuracy", "progress": False}
    with pytest.warns(DeprecationWarning, match=f"{keyword}= is deprecated; use options=") as w:
        old = sensitivity(m, (x, y), **kw, **{keyword: value})
    assert w[0].filename == __file__  # the warning points at the caller
    new = sensitivity(m, (x, y), **kw, options=SensitivityOptions(**{keyword: value}))
    assert old.curves == new.curves and old.samples == new.samples
    with pytest.raises(errors.ConfigError, match="keyword argument .* 'max_batch'"):
        sensitivity(m, (x, y), **kw, max_batch=1)
    with pytest.raises(errors.ConfigError, match="SensitivityOptions"):
        sensitivity(m, (x, y), **kw, options={"max_batches": 1})
