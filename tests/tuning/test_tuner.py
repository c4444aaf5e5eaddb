import glob
import json
import os
import shutil
import sys

import keras_tuner as kt
import numpy as np
import pytest

import tfprune
from tfprune import errors, tuning
from tfprune.app.data import digits
from tfprune.compat import keras
from tfprune.graph.macs import count_macs
from tfprune.tuning import trial as trial_lib

LOSS = "sparse_categorical_crossentropy"
SPACE = {"sparsity": [0.5, 0.75], "granularity": ["weight", "channel"], "epochs": 1}
AGP_CHANNEL = {"sparsity": 0.5, "granularity": "channel", "schedule": "agp", "criterion": "l2",
               "epochs": 1}


def _model():
    init = keras.initializers.GlorotUniform
    return keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Flatten(name="flat"),
        keras.layers.Dense(16, activation="relu", kernel_initializer=init(1), name="h"),
        keras.layers.Dense(10, activation="softmax", kernel_initializer=init(2), name="out")])


@pytest.fixture(scope="module")
def data():
    (x, y), (xv, yv) = digits()
    return x[:500], y[:500], (xv[:200], yv[:200])


@pytest.fixture(scope="module")
def trained(data):
    keras.utils.set_random_seed(0)
    m = _model()
    m.compile(keras.optimizers.Adam(0.01), LOSS, ["accuracy"])
    m.fit(data[0], data[1], epochs=10, verbose=0)
    return m


def _tuner(model, directory, space=SPACE, **kw):
    kw.setdefault("options", tuning.SweepOptions(loss=LOSS))
    kw.setdefault("max_trials", 3)
    kw.setdefault("oracle", "grid")
    return tuning.PruningTuner(model, space, directory=str(directory), **kw)


@pytest.fixture(scope="module")
def swept(trained, data, tmp_path_factory):
    before = [w.copy() for w in trained.get_weights()]
    t = _tuner(trained, tmp_path_factory.mktemp("sweep"))
    t.search(data[0], data[1], validation_data=data[2])
    t.weights_before = before
    return t


@pytest.mark.slow
def test_sweep_runs_every_trial_once_and_keeps_all_measures(swept):
    rows = swept.results()
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]
    combos = {(r["sparsity"], r["granularity"]) for r in rows}
    assert len(combos) == 3  # grid: no point repeated
    for r in rows:
        for name in swept.measure_names:
            assert np.isfinite(r[name]), name
        assert r["val_accuracy"] > 0.3
    for r in rows:
        trial = swept.oracle.get_trial(r["trial_id"])
        assert trial.status == "COMPLETED"
        assert trial.metrics.get_last_value("macs") == r["macs"]


@pytest.mark.slow
def test_trials_really_prune(swept, trained):
    dense_macs = count_macs(trained)
    for r in swept.results():
        if r["granularity"] == "channel":
            assert r["macs"] < dense_macs and r["params"] < trained.count_params()
            assert swept.load_model(r["trial_id"]).get_layer("h").units == round(16 * (1 - r["sparsity"]))
        else:
            assert r["macs"] == dense_macs
            assert r["weight_sparsity"] == pytest.approx(r["sparsity"], abs=0.03)


@pytest.mark.slow
def test_user_model_untouched(swept, trained):
    for a, b in zip(swept.weights_before, trained.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_pareto_front_and_plot(swept, tmp_path):
    front = swept.pareto("val_accuracy", "macs")
    rows = swept.results()
    assert 1 <= len(front) <= len(rows)
    for f in front:  # nothing in the sweep dominates a front row
        assert not any(o["val_accuracy"] > f["val_accuracy"] and o["macs"] <= f["macs"] for o in rows)
    path = swept.plot_pareto(tmp_path / "front.png", "val_accuracy", "nonzero_params")
    assert os.path.getsize(path) > 1000
    with pytest.raises(errors.ConfigError, match="Unknown measure 'mac'"):
        swept.pareto("val_accuracy", "mac")


@pytest.mark.slow
def test_best_models_are_the_front_models(swept, data):
    best = swept.best_models("val_accuracy", "macs")
    assert [tid for tid, _ in best] == [r["trial_id"] for r in swept.pareto("val_accuracy", "macs")]
    tid, model = best[0]
    model.compile(loss=LOSS, metrics=["accuracy"])
    acc = model.evaluate(*data[2], verbose=0, return_dict=True)["accuracy"]
    row = next(r for r in swept.results() if r["trial_id"] == tid)
    assert acc == pytest.approx(row["val_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_hparams_summary_per_trial(swept):
    import tensorflow as tf

    runs = sorted(os.path.basename(p) for p in glob.glob(os.path.join(swept.tensorboard_dir, "trial_*")))
    assert runs == ["trial_0", "trial_1", "trial_2"]
    plugins = set()
    for f in glob.glob(os.path.join(swept.tensorboard_dir, "trial_0", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(f):
            for v in event.summary.value:
                plugins.add((v.metadata.plugin_data.plugin_name, v.tag))
    assert ("hparams", "_hparams_/session_start_info") in plugins
    assert any(tag == "val_accuracy" for _, tag in plugins)


@pytest.mark.slow
def test_reopening_the_directory_resumes_without_rerunning(swept, trained, data):
    t = _tuner(trained, swept.directory)
    mtimes = {p: os.path.getmtime(p) for p in glob.glob(os.path.join(t.project_dir, "trial_*", "*"))}
    t.search(data[0], data[1], validation_data=data[2])
    assert len(t.results()) == 3
    assert mtimes == {p: os.path.getmtime(p) for p in mtimes}


@pytest.mark.slow
def test_a_different_sweep_in_the_directory_is_refused(swept, trained, tmp_path):
    with pytest.raises(errors.ConfigError, match="different sweep.*space"):
        _tuner(trained, swept.directory, space={"sparsity": [0.2, 0.4]})
    copy = tmp_path / "copy"
    shutil.copytree(swept.directory, copy)
    t = _tuner(trained, copy, space={"sparsity": [0.2, 0.4]},
               options=tuning.SweepOptions(loss=LOSS, overwrite=True))
    assert t.results() == []


def test_deprecated_overwrite_keyword_warns_and_replaces_the_directory(trained, tmp_path):
    for project in ("old", "new"):
        (tmp_path / project).mkdir()
        (tmp_path / project / "notes.txt").write_text("mine")
    with pytest.warns(DeprecationWarning, match=r"overwrite= is deprecated; use options=") as w:
        old = _tuner(trained, tmp_path, project_name="old", overwrite=True)
    assert w[0].filename == __file__
    new = _tuner(trained, tmp_path, project_name="new",
                 options=tuning.SweepOptions(loss=LOSS, overwrite=True))
    assert old.options == new.options and old.options.overwrite
    assert not (tmp_path / "old" / "notes.txt").exists()
    assert not (tmp_path / "new" / "notes.txt").exists()
    with pytest.raises(errors.ConfigError, match="keyword argument .* 'max_trial'"):
        _tuner(trained, tmp_path, project_name="x", max_trial=2)


def test_a_directory_of_something_else_is_refused(trained, tmp_path):
    (tmp_path / "tfprune_sweep").mkdir()
    (tmp_path / "tfprune_sweep" / "notes.txt").write_text("mine")
    with pytest.raises(errors.ConfigError, match="not a tfprune sweep"):
        _tuner(trained, tmp_path)
    assert (tmp_path / "tfprune_sweep" / "notes.txt").read_text() == "mine"


def test_objective_nobody_measures_lists_the_measures(trained, tmp_path):
    with pytest.raises(errors.ConfigError, match="val_auc.*val_accuracy.*macs"):
        _tuner(trained, tmp_path, objective="val_auc")
    with pytest.raises(errors.ConfigError, match="latency_ms.*measure="):
        _tuner(trained, tmp_path, objective=["val_accuracy", "latency_ms"])
    with pytest.raises(errors.ConfigError, match="default_objective"):
        _tuner(trained, tmp_path, oracle=kt.oracles.RandomSearchOracle(max_trials=2))


def test_objective_list_and_oracles_by_name(trained, tmp_path):
    t = _tuner(trained, tmp_path / "a", objective=["val_accuracy", kt.Objective("macs", "min")])
    assert set(t.oracle.objective.name_to_direction) == {"val_accuracy", "macs"}
    for name, cls in [("random", "RandomSearchOracle"), ("bayesian", "BayesianOptimizationOracle"),
                      ("hyperband", "HyperbandOracle"), ("grid", "GridSearchOracle")]:
        t = _tuner(trained, tmp_path / name, oracle=name)
        assert type(t.oracle).__name__ == cls
    with pytest.raises(errors.ConfigError, match="Unknown oracle 'randm'"):
        _tuner(trained, tmp_path / "x", oracle="randm")


def test_bad_spaces_refused_before_any_trial(trained, tmp_path):
    with pytest.raises(errors.ConfigError, match="empty"):
        _tuner(trained, tmp_path, space={})
    with pytest.raises(errors.ConfigError, match=r"sparsity=1\.5"):
        _tuner(trained, tmp_path, space={"sparsity": [0.5, 1.5]})
    assert not glob.glob(str(tmp_path / "*" / "trial_*"))


def test_keras3_model_is_translated_and_a_subclassed_one_refused(tmp_path):
    import keras as keras3

    m = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(2, name="h")])
    t = _tuner(m, tmp_path / "a")
    assert not tfprune.compat.is_keras3_object(t.model)
    np.testing.assert_allclose(t.model.get_layer("h").get_weights()[0],
                               m.get_layer("h").get_weights()[0])

    class Net(keras3.Model):
        def call(self, x):
            return x

    with pytest.raises(errors.ModelTypeError, match="subclassed"):
        _tuner(Net(), tmp_path / "b")


def test_build_function_accepted(tmp_path):
    t = _tuner(_model, tmp_path)
    assert t.model.get_layer("h").units == 16


def test_missing_tensorboard_fails_loudly(trained, tmp_path, monkeypatch):
    for name in [n for n in sys.modules if n == "tensorboard" or n.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(errors.ConfigError, match="tensorboard is not installed.*tensorboard=False"):
        _tuner(trained, tmp_path / "a")
    _tuner(trained, tmp_path / "b", options=tuning.SweepOptions(loss=LOSS, tensorboard=False))


def test_bad_data_refused_before_any_trial(trained, data, tmp_path):
    t = _tuner(trained, tmp_path)
    with pytest.raises(errors.ConfigError, match="validation_data"):
        t.search(data[0], data[1])
    with pytest.raises(errors.ConfigError, match="does not fit"):
        t.search(np.zeros((10, 5)), np.zeros(10), validation_data=data[2])
    assert t.results() == [] and not glob.glob(os.path.join(t.project_dir, "trial_*"))


def test_all_trials_failing_raises_with_the_first_error(trained, data, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom in the trial")

    monkeypatch.setattr(trial_lib, "run", boom)
    t = _tuner(trained, tmp_path, max_trials=2, options=tuning.SweepOptions(loss=LOSS, tensorboard=False))
    with pytest.raises(tuning.SweepError, match="(?s)All 2 trials failed. Trial 0 failed.*boom in the trial"):
        t.search(data[0], data[1], validation_data=data[2])


@pytest.mark.slow
def test_mac_target_is_met(trained, data):
    x, y, _ = data
    settings = {**tuning.space.DEFAULTS, "mac_fraction": 0.5, "granularity": "channel"}
    plain, info = trial_lib.run(trained, settings, x=x[:64], y=y[:64], loss=LOSS)
    assert count_macs(plain) <= 0.5 * count_macs(trained)
    assert count_macs(plain) > 0.4 * count_macs(trained)  # not far below the target
    assert 0.3 < info["pruned_fraction"] < 0.7


@pytest.mark.slow
def test_measures_json_holds_settings_and_measures(swept):
    with open(os.path.join(swept.project_dir, "trial_0", "measures.json")) as f:
        record = json.load(f)
    assert record["tuner_id"] == "tuner0"
    assert set(record["measures"]) == set(swept.measure_names)
    assert record["settings"]["epochs"] == 1


@pytest.mark.slow
def test_channel_agp_trial_shrinks(trained, data):
    x, y, val = data
    settings = tuning.space.check_settings(AGP_CHANNEL)
    plain, info = trial_lib.run(trained, settings, x=x[:128], y=y[:128], loss=LOSS, batch_size=16)
    assert plain.get_layer("h").units == 8
    assert info["pruned_fraction"] == 0.5


# -- any task (issue 27): metrics from the compile state, directions inferred --------------
def _regression(compile_metrics=("mae",)):
    rng = np.random.default_rng(0)
    x = rng.random((64, 4), dtype=np.float32)
    y = (6 + 12 * x[:, 0]).astype("float32")
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="h"),
                          keras.layers.Dense(1, name="price")])
    m.compile(loss="mse", metrics=list(compile_metrics))
    return m, x, y


@pytest.mark.slow
def test_regression_sweep_measures_and_optimises_val_mae(tmp_path):
    m, x, y = _regression()
    t = tuning.PruningTuner(m, {"sparsity": [0.5], "epochs": 1}, oracle="grid", max_trials=1,
                            directory=tmp_path,
                            options=tuning.SweepOptions(tensorboard=False))
    assert t.quality == "val_mae" and t.oracle.objective.name == "val_mae"
    assert t.oracle.objective.direction == "min"
    t.search(x, y, validation_data=(x[:32], y[:32]))
    (row,) = t.results()
    plain = t.load_model(row["trial_id"])
    want = float(np.mean(np.abs(plain.predict(x[:32], verbose=0)[:, 0] - y[:32])))
    assert row["val_mae"] == pytest.approx(want, rel=1e-4) and row["val_mae"] > 0
    assert [r["trial_id"] for r in t.pareto(quality="val_mae")] == [row["trial_id"]]


def test_accuracy_on_a_regression_sweep_is_refused_naming_the_output(tmp_path):
    m, _, _ = _regression(compile_metrics=())
    with pytest.raises(errors.ConfigError, match=r"'accuracy' cannot apply to output 'price'"
                                                 r".*SweepOptions\(metrics"):
        tuning.PruningTuner(m, {"sparsity": [0.5]}, directory=tmp_path,
                            options=tuning.SweepOptions(metrics=("accuracy",), tensorboard=False))
    t = tuning.PruningTuner(m, {"sparsity": [0.5]}, directory=tmp_path / "b",
                            options=tuning.SweepOptions(tensorboard=False))
    assert t.metrics == ("mae",) and "val_mae" in t.measure_names  # fits the task


def test_classification_sweep_still_gets_accuracy(trained, tmp_path):
    t = tuning.PruningTuner(trained, {"sparsity": [0.5]}, directory=tmp_path,
                            options=tuning.SweepOptions(tensorboard=False))
    assert t.metrics == ("accuracy",) and t.quality == "val_accuracy"
    assert t.oracle.objective.direction == "max"


def _two_in_two_out():
    """Two inputs and two outputs (class scores and a regression head), compiled with
    per-output losses, ``loss_weights`` and metrics; data as lists and dicts of arrays."""
    L = keras.layers
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = L.Dense(12, activation="relu", name="h")(L.Concatenate(name="cat")([a, b]))
    m = keras.Model([a, b], {"cls": L.Dense(3, name="cls")(h), "reg": L.Dense(1, name="reg")(h)})
    m.compile(keras.optimizers.Adam(0.01),
              {"cls": keras.losses.SparseCategoricalCrossentropy(from_logits=True), "reg": "mse"},
              metrics={"cls": ["accuracy"], "reg": ["mae"]}, loss_weights={"cls": 1.0, "reg": 0.25})
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(48, 4)).astype("float32"), rng.normal(size=(48, 3)).astype("float32")]
    y = {"cls": rng.integers(0, 3, 48), "reg": 3.0 + rng.normal(size=(48, 1)).astype("float32")}
    return m, x, y


def test_several_inputs_and_outputs_sweep_with_the_compiled_loss_weights(tmp_path):
    m, x, y = _two_in_two_out()
    t = tuning.PruningTuner(m, {"sparsity": [0.5], "epochs": 1, "schedule": "one_shot"},
                            oracle="grid", max_trials=1, directory=tmp_path,
                            options=tuning.SweepOptions(tensorboard=False))
    assert t.quality == "val_cls_accuracy" and "val_reg_mae" in t.measure_names
    t.search(x, y, validation_data=(x, y), verbose=0)
    (row,) = t.results()
    # val_loss is the total the user compiled: cls + 0.25 * reg (unweighted would differ)
    assert row["val_loss"] == pytest.approx(row["val_cls_loss"] + 0.25 * row["val_reg_loss"],
                                            rel=1e-4)
    assert row["val_reg_loss"] > 1.0 and row["weight_sparsity"] > 0.3
    plain = t.load_model(row["trial_id"])
    pred = plain.predict(x, verbose=0)
    assert row["val_reg_mae"] == pytest.approx(
        float(np.mean(np.abs(pred["reg"] - y["reg"]))), rel=1e-4)


def test_several_outputs_labels_of_the_wrong_length_are_refused(tmp_path):
    m, x, y = _two_in_two_out()
    t = tuning.PruningTuner(m, {"sparsity": [0.5]}, directory=tmp_path,
                            options=tuning.SweepOptions(tensorboard=False))
    short = {"cls": y["cls"], "reg": y["reg"][:40]}
    with pytest.raises(errors.ConfigError, match=r"`validation_data` has 48 samples but its "
                                                 r"labels have 40"):
        t.search(x, y, validation_data=(x, short), verbose=0)
    with pytest.raises(errors.ConfigError, match="must be numpy arrays"):
        t.search([[1.0, 2.0]], y, validation_data=(x, y), verbose=0)
    assert t.results() == []
