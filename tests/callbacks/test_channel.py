"""Gradual structured pruning during fit (ChannelPruning) and one-shot channel pruning."""

import numpy as np
import pytest

import tfprune
from tfprune import errors, graph
from tfprune.app import data
from tfprune import structured as S
from tfprune.compat import keras
from tfprune.core.schedules import AGP
from tfprune.callbacks.channel import ChannelPruning
from tfprune.structured import plans as plan_lib

L = keras.layers
SCHEDULE = dict(final_sparsity=0.5, begin_step=0, end_step=40, frequency=10)
GROUPS = {"stem": 16, "c1": 16, "c3": 24}


def cnn():
    """Conv-BN stem, a residual block (BN, sigmoid inside) added to it, conv, GAP, head."""
    i = keras.Input((8, 8, 1))
    x = L.ReLU(name="stem_relu")(
        L.BatchNormalization(momentum=0.9, name="stem_bn")(
            L.Conv2D(16, 3, padding="same", name="stem")(i)
        )
    )
    y = L.BatchNormalization(momentum=0.9, name="c1_bn")(
        L.Conv2D(16, 3, padding="same", name="c1")(x)
    )
    y = L.Activation("sigmoid", name="c1_sig")(y)
    y = L.BatchNormalization(momentum=0.9, name="c2_bn")(
        L.Conv2D(16, 3, padding="same", name="c2")(y)
    )
    x = L.ReLU(name="add_relu")(L.Add(name="add")([x, y]))
    x = L.Conv2D(24, 3, activation="relu", name="c3")(L.MaxPooling2D(name="pool")(x))
    out = L.Dense(10, activation="softmax", name="head")(L.GlobalAveragePooling2D(name="gap")(x))
    return keras.Model(i, out, name="digits_cnn")


def _compiled(seed=0):
    keras.utils.set_random_seed(seed)
    m = cnn()
    m.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", ["accuracy"])
    return m


class _Recorder(keras.callbacks.Callback):
    """Per step: optimizer step, channel sparsity and plan of a ChannelPruning (placed after it)."""

    def __init__(self, cb):
        super().__init__()
        self.cb, self.rows = cb, []

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append(
            (int(self.model.optimizer.iterations.numpy()), self.cb.channel_sparsity, self.cb.plan)
        )


def _expected_sparsity(step):
    s = AGP(**SCHEDULE)
    due = [t for t in range(1, step + 1) if bool(s(t)[0])]
    if not due:
        return 0.0
    sp = float(s(due[-1])[1])
    return sum(round(n * sp) for n in GROUPS.values()) / sum(GROUPS.values())


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))


@pytest.fixture(scope="module")
def trained():
    (xtr, ytr), (xte, yte) = data.digits(0)
    m = _compiled()
    cb = ChannelPruning(AGP(**SCHEDULE))
    rec = _Recorder(cb)
    hist = m.fit(xtr, ytr, batch_size=64, epochs=3, verbose=0, callbacks=[cb, rec])
    return m, cb, rec, hist, (xte, yte)


def test_channel_sparsity_follows_the_schedule(trained):
    _, cb, rec, hist, _ = trained
    steps = [r[0] for r in rec.rows]
    assert steps == list(range(1, len(steps) + 1))  # 23 steps per epoch, 69 in all
    for step, sparsity, _ in rec.rows:
        assert sparsity == pytest.approx(_expected_sparsity(step)), step
    rises = [rec.rows[t - 1][1] for t in (9, 10, 20, 40, 69)]  # prune steps 10, 20, 30, 40
    assert rises[0] == 0 and 0 < rises[1] < rises[2] < rises[3] == rises[4] == 0.5
    assert hist.history["channel_sparsity"] == pytest.approx([_expected_sparsity(23), 0.5, 0.5])
    assert {g: len(k) for g, k in cb.plan.keep.items()} == {"stem": 8, "c1": 8, "c3": 12}


def test_masks_are_nested(trained):
    _, _, rec, _, _ = trained
    previous = {g: set(range(n)) for g, n in GROUPS.items()}
    for _, _, p in rec.rows:
        for g, n in GROUPS.items():
            kept = set(p.keep.get(g, range(n)))
            assert kept <= previous[g]
            previous[g] = kept


def test_pruned_channels_are_exactly_zero_after_fit(trained):
    m, cb, _, _, _ = trained
    gone = {g: np.setdiff1d(np.arange(GROUPS[g]), k) for g, k in cb.plan.keep.items()}
    for layer in ("stem", "c2"):  # producers of the residual group, bias included
        assert not m.get_layer(layer).kernel.numpy()[..., gone["stem"]].any()
        assert not m.get_layer(layer).bias.numpy()[gone["stem"]].any()
    for bn in ("stem_bn", "c2_bn"):
        assert not m.get_layer(bn).gamma.numpy()[gone["stem"]].any()
        assert not m.get_layer(bn).beta.numpy()[gone["stem"]].any()
    assert not m.get_layer("c1_bn").gamma.numpy()[gone["c1"]].any()
    # consumer input slices: after the sigmoid a removed channel is 0.5, not 0
    assert not m.get_layer("c2").kernel.numpy()[:, :, gone["c1"], :].any()
    assert not m.get_layer("c3").kernel.numpy()[:, :, gone["stem"], :].any()
    assert not m.get_layer("head").kernel.numpy()[gone["c3"], :].any()
    # the plan read back from the zeros is the callback's plan
    assert plan_lib.derive(graph.build(m))[0] == cb.plan


def test_shrink_after_fit_has_fewer_macs_and_equal_outputs(trained):
    m, _, _, _, (xte, yte) = trained
    small = tfprune.shrink(m)
    assert small.get_layer("stem").filters == 8 and small.get_layer("c3").filters == 12
    macs = tfprune.summary(m, print_fn=None)["macs"]
    assert tfprune.summary(small, print_fn=None)["macs"] < 0.5 * macs
    assert _rel(m.predict(xte, verbose=0), small.predict(xte, verbose=0)) <= 1e-5
    small.compile(metrics=["accuracy"], loss="sparse_categorical_crossentropy")
    assert small.evaluate(xte, yte, verbose=0)[1] > 0.5  # it learned something


def test_a_second_fit_keeps_pruned_channels_and_the_step():
    (xtr, ytr), _ = data.digits(0)
    m = _compiled(1)
    m.fit(xtr, ytr, batch_size=64, epochs=1, verbose=0, callbacks=[ChannelPruning(AGP(**SCHEDULE))])
    first = plan_lib.derive(graph.build(m))[0]
    assert 0 < first.removed < 28
    cb = ChannelPruning(AGP(**SCHEDULE))  # a fresh instance: state comes from the model
    h = m.fit(xtr, ytr, batch_size=64, epochs=1, verbose=0, callbacks=[cb])
    assert h.history["channel_sparsity"] == [0.5]
    for g, kept in cb.plan.keep.items():
        assert set(kept) <= set(first.keep[g])


def test_global_scope_and_channel_granularity_run():
    (xtr, ytr), _ = data.digits(0)
    m = _compiled(2)
    cb = ChannelPruning(
        AGP(0.5, end_step=6, frequency=3),
        scope="global",
        granularity="channel",
        criterion="l1",
        round_to=4,
    )
    m.fit(xtr[:256], ytr[:256], batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    assert cb.channel_sparsity == pytest.approx(0.5, abs=0.15)
    assert all(len(k) % 4 == 0 for k in cb.plan.keep.values())
    x = xtr[:16]
    assert _rel(m(x).numpy(), tfprune.shrink(m)(x).numpy()) <= 1e-5


def test_one_shot_channels_is_plan_plus_apply_masks():
    m = cnn()
    masked, p = S.one_shot_channels(m, 0.5, criterion="l1")
    assert p == S.plan(m, sparsity=0.5, criterion="l1")
    x = np.random.RandomState(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    assert _rel(masked(x).numpy(), S.shrink(masked)(x).numpy()) <= 1e-5
    with pytest.raises(errors.ConfigError, match="option of one_shot_channels 'criteria'"):
        S.one_shot_channels(m, 0.5, criteria="l1")


def test_bad_arguments_are_refused():
    with pytest.raises(errors.ConfigError, match="`schedule` must be a PruningSchedule.*0.5"):
        ChannelPruning(0.5)
    with pytest.raises(errors.ConfigError, match="Unknown criterion 'l3'.*'l2'"):
        ChannelPruning(AGP(0.5, end_step=10), criterion="l3")
    with pytest.raises(errors.ConfigError, match="Unknown scope"):
        ChannelPruning(AGP(0.5, end_step=10), scope="model")
    with pytest.raises(errors.ConfigError, match="round_to must be an integer"):
        ChannelPruning(AGP(0.5, end_step=10), round_to=0)
    with pytest.raises(errors.ConfigError, match="`exclude` must be a list"):
        ChannelPruning(AGP(0.5, end_step=10), exclude="c1")
    x, y = np.zeros((8, 8, 8, 1), "float32"), np.zeros(8)
    wrapped = tfprune.prune(cnn(), sparsity=0.5)
    wrapped.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(errors.ModelTypeError, match="`model` .*wrapper.*tfprune.strip"):
        wrapped.fit(x, y, verbose=0, callbacks=[ChannelPruning(AGP(0.5, end_step=10))])
    m = _compiled()
    with pytest.raises(errors.ConfigError, match=r"round_to=32 .*exclude"):
        m.fit(x, y, verbose=0, callbacks=[ChannelPruning(AGP(0.5, end_step=10), round_to=32)])
    with pytest.raises(errors.ConfigError, match="Unknown layer in exclude 'nope'"):
        m.fit(x, y, verbose=0, callbacks=[ChannelPruning(AGP(0.5, end_step=10), exclude=["nope"])])
