"""Keras 3 without seams: compile state, Keras 3 optimizers/losses/metrics/callbacks in the
pruned model's compile/fit, output names, BatchNormalization at channel granularity, files.
"""

import keras as keras3
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras

import tfprune
from tfprune import compat
from tfprune.compat import _training

from ._models import rel_err

L = keras3.layers


def _two_outputs(compiled=True):
    inp = keras3.Input((6,), name="x")
    h = L.Dense(8, name="h")(inp)
    h = L.BatchNormalization(name="bn")(h)
    h = L.Dense(8, activation="relu", name="h2")(h)
    m = keras3.Model(inp, [L.Dense(3, name="cls")(h), L.Dense(1, name="reg")(h)], name="two")
    if compiled:
        m.compile(keras3.optimizers.Adam(1e-3),
                  loss={"cls": keras3.losses.SparseCategoricalCrossentropy(from_logits=True),
                        "reg": "mse"},
                  metrics={"reg": [keras3.metrics.MeanAbsoluteError()]},
                  loss_weights={"cls": 1.0, "reg": 0.5})
    return m


def _bn_cnn():
    inp = keras3.Input((6, 6, 2))
    x = L.Conv2D(6, 3, padding="same", name="c1")(inp)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="r1")(x)
    x = L.Conv2D(6, 3, padding="same", name="c2")(x)
    x = L.BatchNormalization(name="bn2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    m = keras3.Model(inp, L.Dense(3, name="out")(x), name="bncnn")
    m.compile(keras3.optimizers.Adam(1e-3),
              keras3.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


@pytest.fixture(scope="module")
def data2():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    return x, {"cls": rng.integers(0, 3, 64), "reg": rng.normal(size=(64, 1)).astype("float32")}


@pytest.fixture(scope="module")
def img():
    rng = np.random.default_rng(1)
    return rng.normal(size=(48, 6, 6, 2)).astype("float32"), rng.integers(0, 3, 48)


@pytest.mark.slow
def test_prune_keeps_compile_state_and_output_names(data2):
    m = _two_outputs()
    p = tfprune.prune(m, sparsity=0.5)
    assert p.output_names == ["cls", "reg"]
    assert type(p.optimizer).__module__.startswith("tf_keras")
    assert p.optimizer is not m.optimizer
    assert set(p.loss) == {"cls", "reg"} and p.loss["cls"].get_config()["from_logits"]
    logs = p.evaluate(data2[0], data2[1], verbose=0, return_dict=True)
    assert {"cls_loss", "reg_loss", "reg_mean_absolute_error"} <= set(logs)


@pytest.mark.slow  # a wrapped fit traces for a few seconds
def test_keras3_compile_fit_callbacks_strip_round_trip(data2):
    x, y = data2
    m = _two_outputs()
    p = tfprune.prune(m, sparsity=0.5)
    p.compile(keras3.optimizers.Adam(1e-2),
              loss={"cls": keras3.losses.SparseCategoricalCrossentropy(from_logits=True),
                    "reg": keras3.losses.MeanSquaredError()},
              metrics={"reg": [keras3.metrics.MeanAbsoluteError()]})
    stop = keras3.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
    hist = p.fit(x, y, epochs=5, batch_size=32, verbose=0,
                 callbacks=[tfprune.PruningCallback(), stop])
    assert len(hist.history["loss"]) == 2  # stopped by the Keras 3 callback
    assert "reg_mean_absolute_error" in hist.history
    s = tfprune.strip(p)
    assert compat.is_keras3_object(s) and s.output_names == ["cls", "reg"]
    assert s.compiled and type(s.optimizer).__module__.startswith("keras")
    assert float(s.optimizer.learning_rate.numpy()) == pytest.approx(1e-2)
    logs = s.evaluate(x, y, verbose=0, return_dict=True)
    assert {"cls_loss", "reg_loss", "reg_mean_absolute_error"} <= set(logs)
    assert rel_err(s.predict(x, verbose=0)[1], p.predict(x, verbose=0)[1]) < 1e-5
    s.fit(x, y, epochs=1, verbose=0)  # trains natively in Keras 3


@pytest.mark.slow  # a wrapped fit traces for a few seconds
def test_every_common_keras3_callback_runs_in_fit(tmp_path, img):
    x, y = img
    p = tfprune.one_shot(_bn_cnn(), 0.5)
    seen = []
    cbs = [keras3.callbacks.EarlyStopping(monitor="val_loss", patience=3),
           keras3.callbacks.ModelCheckpoint(str(tmp_path / "ck.keras")),
           keras3.callbacks.ModelCheckpoint(str(tmp_path / "w.weights.h5"),
                                            save_weights_only=True),
           keras3.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5,
                                              min_delta=1e9),
           keras3.callbacks.CSVLogger(str(tmp_path / "log.csv")),
           keras3.callbacks.TensorBoard(str(tmp_path / "tb")),
           keras3.callbacks.LearningRateScheduler(lambda e, lr: lr),
           keras3.callbacks.BackupAndRestore(str(tmp_path / "backup")),
           keras3.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e)),
           keras3.callbacks.TerminateOnNaN(), keras3.callbacks.History()]
    p.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_data=(x, y),
          callbacks=[tfprune.PruningCallback(), *cbs])
    assert seen == [0, 1] and len(cbs[-1].history["loss"]) == 2
    assert (tmp_path / "ck.keras").exists() and (tmp_path / "w.weights.h5").exists()
    assert (tmp_path / "log.csv").read_text().count("\n") == 3 and (tmp_path / "tb").exists()
    assert float(p.optimizer.learning_rate.numpy()) == pytest.approx(5e-4)  # reduced once


@pytest.mark.slow
def test_one_shot_of_a_compiled_keras3_model_strips_to_compiled_keras3(img):
    x, y = img
    m = _bn_cnn()
    p = tfprune.one_shot(m, 0.5)
    assert p.compiled_loss is not None and p.output_names == ["out"]
    s = tfprune.strip(p)
    assert compat.is_keras3_object(s) and s.compiled
    acc = s.evaluate(x, y, verbose=0, return_dict=True)["accuracy"]
    assert 0.0 <= acc <= 1.0
    assert not any(float(np.abs(w).sum()) == 0 for w in m.get_layer("c1").get_weights()[:1])


@pytest.mark.slow
@pytest.mark.parametrize("granularity", ["weight", "channel"])
def test_sensitivity_of_a_compiled_keras3_bn_model(img, granularity):
    r = tfprune.sensitivity(_bn_cnn(), img, granularity=granularity, levels=(0.5,))
    assert r.metric == "loss" and r.curves and all(np.isfinite(v).all()
                                                   for v in r.curves.values())


@pytest.mark.slow
def test_channel_shrink_of_a_keras3_bn_model_is_compiled_keras3(img):
    m = _bn_cnn()
    small = tfprune.shrink(tfprune.strip(tfprune.one_shot(m, 0.5, granularity="channel")))
    assert compat.is_keras3_object(small) and small.compiled
    assert small.get_layer("c1").filters < 6
    small.evaluate(*img, verbose=0)


@pytest.fixture(scope="module")
def pruned_two(data2):
    """The one-shot pruned two-output model and its predictions on ``data2`` (read-only: saved
    by both parametrizations below)."""
    p = tfprune.one_shot(_two_outputs(), 0.5)
    return p, p.predict(data2[0], verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_pruned_keras3_model_saves_and_reloads_with_its_output_names(tmp_path, data2,
                                                                     pruned_two, ext):
    x, _ = data2
    p, want = pruned_two
    path = str(tmp_path / f"p.{ext}")
    p.save(path)
    with tfmot.sparsity.keras.prune_scope():
        q = tf_keras.models.load_model(path, compile=False)
    assert q.output_names == ["cls", "reg"]
    for a, b in zip(q.predict(x, verbose=0), want, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    s = tfprune.strip(q)
    assert s.output_names == ["cls", "reg"]


def test_tf_keras_output_names_are_kept_when_pruned():
    i = tf_keras.Input((4,))
    h = tf_keras.layers.Dense(4, name="h")(i)
    m = tf_keras.Model(i, [tf_keras.layers.Dense(2, name="cls")(h),
                           tf_keras.layers.Dense(1, name="reg")(h)])
    p = tfprune.prune(m, sparsity=0.5)
    assert p.output_names == ["cls", "reg"]
    p.compile("adam", loss={"cls": "mse", "reg": "mse"})
    assert tfprune.strip(p).output_names == ["cls", "reg"]


def test_custom_keras3_loss_runs_through_its_call(data2):
    class Half(keras3.losses.Loss):
        def call(self, y_true, y_pred):
            return 0.5 * keras3.ops.mean(keras3.ops.square(y_true - y_pred), axis=-1)

    loss = _training.to_tf_keras_object(Half(), "loss")
    yt, yp = np.ones((4, 2), "float32"), np.zeros((4, 2), "float32")
    assert float(loss(yt, yp)) == pytest.approx(0.5)


@pytest.mark.slow
def test_user_model_and_objects_are_not_touched(data2):
    m = _two_outputs()
    opt = m.optimizer
    tfprune.strip(tfprune.one_shot(m, 0.5))
    assert m.optimizer is opt and m.output_names == ["cls", "reg"]
    assert all(float((w == 0).mean()) < 0.2 for w in m.get_layer("h").get_weights()[:1])


@pytest.mark.slow  # a whole `tfprune run` (in this process: its own TensorFlow start is not the point)
def test_cli_run_on_a_keras3_file(tmp_path):
    import json

    from click.testing import CliRunner

    from tfprune.app.cli import main

    m = _bn_cnn()
    m.save(tmp_path / "k3.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(80, 6, 6, 2)).astype("float32"),
             y=rng.integers(0, 3, 80))
    (tmp_path / "r.yaml").write_text(
        f"model: {tmp_path / 'k3.keras'}\ndata: {{source: {tmp_path / 'd.npz'}}}\n"
        "train: {epochs: 0, loss: sparse_categorical_crossentropy}\n"
        "prune: {granularity: channel, sparsity: 0.5, epochs: 1}\n"
        "export: {tflite: [float], micro: false, latency_runs: 0}\n")
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["run", str(tmp_path / "r.yaml"), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output[-3000:]
    rep = json.loads((out / "report.json").read_text())
    assert rep["variants"]["pruned"]["params"] < rep["variants"]["dense"]["params"]
    saved = keras3.saving.load_model(out / "pruned.keras")  # a Keras 3 file, loaded by Keras 3
    assert saved.get_layer("c1").filters < 6


@pytest.mark.slow
def test_to_budget_of_a_compiled_keras3_bn_model(img):
    r = tfprune.to_budget(_bn_cnn(), img, target=("macs", 0.7), fine_tune=0, max_rounds=1,
                          progress=False)
    assert compat.is_keras3_object(r.model) and r.model.compiled
    assert r.achieved < r.dense


@pytest.mark.slow
def test_cli_sensitivity_at_channel_granularity_on_a_keras3_file(tmp_path):
    from click.testing import CliRunner

    from tfprune.app.cli import main

    _bn_cnn().save(tmp_path / "k3.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(40, 6, 6, 2)).astype("float32"),
             y=rng.integers(0, 3, 40))
    r = CliRunner().invoke(main, ["sensitivity", str(tmp_path / "k3.keras"), "--data",
                                  str(tmp_path / "d.npz"), "--granularity", "channel",
                                  "--levels", "0.5", "--samples", "16", "--out",
                                  str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "c1" in r.output
