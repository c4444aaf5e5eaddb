"""granularity="channel" through the wrappers: prune -> fit(PruningCallback) -> strip -> shrink.

(Ported from the removed ChannelPruning callback's tests: every member of a group is zeroed,
masks are nested, the shrunk model equals the masked one and has fewer MACs.)
"""

import warnings

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import errors
from tfprune.app import data
from tfprune.compat import keras
from tfprune.core import masks
from tfprune.core.schedules import AGP
from tfprune.masking import channels, pruner
from tfprune.structured import count_macs

L = keras.layers
GROUPS = {"stem": 16, "c1": 16, "c3": 24}


def cnn():
    """Conv-BN stem, a residual block (BN, sigmoid inside) added to it, conv, GAP, head."""
    i = keras.Input((8, 8, 1))
    x = L.ReLU(name="stem_relu")(L.BatchNormalization(name="stem_bn")(
        L.Conv2D(16, 3, padding="same", name="stem")(i)))
    y = L.BatchNormalization(name="c1_bn")(L.Conv2D(16, 3, padding="same", name="c1")(x))
    y = L.Activation("sigmoid", name="c1_sig")(y)
    y = L.BatchNormalization(name="c2_bn")(L.Conv2D(16, 3, padding="same", name="c2")(y))
    x = L.ReLU(name="add_relu")(L.Add(name="add")([x, y]))
    x = L.Conv2D(24, 3, activation="relu", name="c3")(L.MaxPooling2D(name="pool")(x))
    out = L.Dense(10, name="head")(L.GlobalAveragePooling2D(name="gap")(x))
    return keras.Model(i, out, name="digits_cnn")


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))


class _Keeps(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append(channels.keep_state(pruner.wrapped_layers(self.model)))


def _fit(criterion, scope="layer", epochs=1, n=256):
    (xtr, ytr), (xte, _) = data.digits(0)
    keras.utils.set_random_seed(0)
    m = cnn()
    p = tfprune.prune(m, schedule=AGP(0.5, begin_step=0, end_step=6, frequency=2),
                      criterion=criterion, granularity="channel", scope=scope)
    p.compile(keras.optimizers.Adam(3e-3),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    p.optimizer.build(p.trainable_variables)  # fit traces its step once, not twice
    keeps = _Keeps()
    p.fit(xtr[:n], ytr[:n], batch_size=32, epochs=epochs, verbose=0,
          callbacks=[tfprune.PruningCallback(), keeps])
    return m, p, keeps, xte[:32]


@pytest.fixture(scope="module")
def l1_run():
    return _fit("l1")


@pytest.mark.slow
@pytest.mark.parametrize("criterion", ["l1", "taylor", "apoz", "random"])
def test_prune_fit_strip_shrink_gives_equal_outputs_and_fewer_macs(criterion, l1_run):
    m, p, _, x = l1_run if criterion == "l1" else _fit(criterion)
    plain = tfprune.strip(p)
    small = tfprune.shrink(plain)
    assert {g: small.get_layer(g).filters for g in GROUPS} == {g: n // 2 for g, n in
                                                               GROUPS.items()}
    assert count_macs(small) < 0.4 * count_macs(m)
    assert _rel(p(x).numpy(), small(x).numpy()) <= 1e-5
    assert small.shrink_report.removed == {g: n // 2 for g, n in GROUPS.items()}


def test_every_member_of_a_removed_channel_is_zero(l1_run):
    _, p, keeps, _ = l1_run
    plain = tfprune.strip(p)
    gone = {g: np.flatnonzero(~k) for g, k in keeps.rows[-1].items()}
    for layer in ("stem", "c2"):  # producers of the residual group, bias included
        assert not plain.get_layer(layer).kernel.numpy()[..., gone["stem"]].any()
        assert not plain.get_layer(layer).bias.numpy()[gone["stem"]].any()
    for bn in ("stem_bn", "c2_bn"):
        assert not plain.get_layer(bn).gamma.numpy()[gone["stem"]].any()
        assert not plain.get_layer(bn).beta.numpy()[gone["stem"]].any()
    assert not plain.get_layer("c1_bn").beta.numpy()[gone["c1"]].any()
    # consumer input slices: after the sigmoid a removed channel is 0.5, not 0
    assert not plain.get_layer("c2").kernel.numpy()[:, :, gone["c1"], :].any()
    assert not plain.get_layer("c3").kernel.numpy()[:, :, gone["stem"], :].any()
    assert not plain.get_layer("head").kernel.numpy()[gone["c3"], :].any()


def test_channel_masks_follow_the_schedule_and_are_nested(l1_run):
    _, _, keeps, _ = l1_run
    previous = {g: np.ones(n, bool) for g, n in GROUPS.items()}
    for row in keeps.rows:
        for g in GROUPS:
            assert not (row[g] & ~previous[g]).any()  # a removed channel never returns
            previous[g] = row[g]
    sched = AGP(0.5, begin_step=0, end_step=6, frequency=2)
    for step, row in enumerate(keeps.rows, start=1):
        due = [t for t in range(0, step + 1) if bool(sched(t)[0])]
        s = float(sched(due[-1])[1]) if due else 0.0
        assert row["c3"].sum() == int(masks.kept_count(24, s)), step


@pytest.mark.slow
def test_global_channel_scope_meets_the_weight_budget():
    m = cnn()
    p = tfprune.one_shot(m, 0.5, criterion="l1", granularity="channel", scope="global")
    ws = pruner.wrapped_layers(p)
    keep = channels.keep_state(ws)
    assert all(k.sum() >= 1 for k in keep.values())
    assert sum(int((~k).sum()) for k in keep.values()) > 0
    small = tfprune.shrink(tfprune.strip(p))
    x = np.random.RandomState(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    assert _rel(p(x).numpy(), small(x).numpy()) <= 1e-5


@pytest.mark.slow
def test_channel_pruned_model_saves_and_resumes(tmp_path, l1_run):
    _, p, _, x = l1_run
    path = str(tmp_path / "m.keras")
    p.save(path)
    again = keras.models.load_model(path)
    w = pruner.wrapped_layers(again)[0]
    assert w.granularity == "channel" and w.channel_map
    assert _rel(p(x).numpy(), again(x).numpy()) <= 1e-6
    before = channels.keep_state(pruner.wrapped_layers(p))
    pruner.update_masks(again)
    after = channels.keep_state(pruner.wrapped_layers(again))
    assert all((after[g] == before[g]).all() for g in GROUPS)


def test_channel_map_is_a_plain_untracked_list(l1_run):
    # Keras attribute tracking wrapped every position of every entry (minutes on DenseNet)
    _, p, _, _ = l1_run
    w = pruner.wrapped_layers(p)[0]
    assert type(w.channel_map) is list and type(w.channel_map[0]["positions"]) is list
    assert "channel_map" not in {c for c in w._trackable_children()}


@pytest.mark.slow
def test_channel_map_is_never_walked_by_keras_variable_tracking(monkeypatch):
    # Layer.__setattr__ flattened every position of every entry (NoDependency included):
    # quadratic in the layers of a DenseNet
    seen, track = [], keras.layers.Layer._track_variables

    def spy(self, value, position=None):
        if isinstance(value, list) and value and isinstance(value[0], dict) \
                and "positions" in value[0]:
            seen.append(self.name)
        return track(self, value, position=position)

    monkeypatch.setattr(keras.layers.Layer, "_track_variables", spy)
    p = tfprune.one_shot(cnn(), 0.5, criterion="l1", granularity="channel")
    assert pruner.wrapped_layers(p)[0].channel_map and seen == []


@pytest.mark.slow
def test_training_without_the_callback_raises_missing_callback_error():
    # every wrapper's training step checks its step: a small conv model traces faster
    m = keras.Sequential([keras.Input((4, 4, 1)), L.Conv2D(2, 3, name="c"), L.Flatten(),
                          L.Dense(3, name="head")])
    p = tfprune.prune(m, sparsity=0.5, criterion="l1")
    p.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(errors.MissingCallbackError, match=r"PruningCallback.*before_step"):
        p.fit(np.zeros((4, 4, 4, 1), "float32"), np.zeros(4), verbose=0)


@pytest.mark.slow
def test_shared_layer_advances_its_step_once_per_training_step():
    i = keras.Input((4,))
    shared = L.Dense(4, name="shared")
    m = keras.Model(i, L.Dense(2, name="out")(shared(shared(i))))
    p = tfprune.prune(m, sparsity=0.5, granularity="weight")
    p.compile("sgd", "mse")
    p.optimizer.build(p.trainable_variables)
    p.fit(np.ones((32, 4)), np.ones((32, 2)), batch_size=8, verbose=0,
          callbacks=[tfprune.PruningCallback()])
    steps = {w.layer.name: int(w.pruning_step.numpy()) for w in pruner.wrapped_layers(p)}
    assert steps == {"shared": 4, "out": 4}


def test_unregistered_custom_layer_with_a_kernel_is_named_with_the_fix():
    class MyDense(L.Layer):
        def build(self, shape):
            self.w = self.add_weight("w", shape=(shape[-1], 3))

        def call(self, x):
            return x @ self.w

    i = keras.Input((4,))
    m = keras.Model(i, L.Dense(2)(MyDense(name="mine")(L.Dense(4)(i))))
    with pytest.warns(UserWarning, match=r"'mine' \(MyDense\).*tfprune.register"):
        tfprune.prune(m, sparsity=0.5, granularity="weight")


@pytest.mark.slow
def test_nan_calibration_data_is_refused_before_work():
    x = np.random.RandomState(0).uniform(size=(8, 8, 8, 1)).astype("float32")
    x[3, 2, 2, 0] = np.nan
    with pytest.raises(errors.DataError, match=r"NaN/inf.*\(3, 2, 2, 0\)"):
        tfprune.one_shot(cnn(), 0.5, criterion="apoz", data=x)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4)
    with pytest.raises(errors.DataError, match="NaN/inf"):
        tfprune.one_shot(cnn(), 0.5, criterion="apoz", data=ds)


def test_unstructured_alias_warns_and_head_needs_attention():
    m = keras.Sequential([keras.Input((4,)), L.Dense(4), L.Dense(2)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = tfprune.prune(m, sparsity=0.5, granularity="unstructured")
    assert pruner.wrapped_layers(p)[0].granularity == "weight"
    assert any("granularity='weight'" in str(w.message) for w in caught)
    with pytest.raises(errors.NothingToPruneError, match="MultiHeadAttention.*'channel'"):
        tfprune.prune(m, sparsity=0.5, granularity="head")  # tests/masking/test_heads.py
