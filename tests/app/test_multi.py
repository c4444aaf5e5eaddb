"""``tfprune run`` and the CLI verbs on models with several outputs (issue 27): a compiled
Keras 3 file and a compiled tf_keras file, both with BatchNormalization, a class head ``cls``
and a regression head ``reg``, labels ``y_cls``/``y_reg`` in a .npz file."""

import json
import os

import keras as keras3
import numpy as np
import pytest
import tf_keras
import yaml
from click.testing import CliRunner

from tfprune import errors
from tfprune.app import models, multi, pipeline, reports
from tfprune.app.cli import main

QUIET = {"quiet": True, "say": lambda *a: None}


def _two(k, name):
    """A compiled two-output model of Keras module ``k`` (keras 3 or tf_keras)."""
    i = k.Input((6,))
    h = k.layers.Dense(8, name="h")(i)
    h = k.layers.Activation("relu")(k.layers.BatchNormalization(name="bn")(h))
    m = k.Model(i, [k.layers.Dense(3, activation="softmax", name="cls")(h),
                    k.layers.Dense(1, name="reg")(h)], name=name)
    m.compile("adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
              loss_weights={"cls": 1.0, "reg": 0.5},
              metrics={"cls": ["accuracy"], "reg": ["mae"]})
    return m


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("multi")
    _two(keras3, "k3").save(d / "k3.keras")
    _two(tf_keras, "tfk").save(d / "tfk.keras")
    rng = np.random.default_rng(0)
    x = rng.random((60, 6), dtype=np.float32)
    np.savez(d / "d.npz", x=x, y_cls=np.arange(60) % 3, y_reg=(1 + 2 * x[:, 0]).astype("float32"))
    np.savez(d / "one_y.npz", x=x, y=np.arange(60) % 3)
    np.savez(d / "bad.npz", x=x, y_cls=np.arange(60) % 5, y_reg=x[:, 0])
    return d


def _recipe(files, model="k3.keras", **extra):
    return {"model": str(files / model), "data": {"source": str(files / "d.npz")},
            "train": {"epochs": 1}, "prune": {"epochs": 1},
            "export": {"tflite": ["float", "int8"], "latency_runs": 0}, **extra}


@pytest.mark.slow
def test_prepare_takes_the_compiled_losses_weights_and_total_loss(files):
    job = pipeline.prepare(_recipe(files))
    assert job.train["loss"] == {"cls": "sparse_categorical_crossentropy", "reg": "mse"}
    assert job.train["loss_weights"] == {"cls": 1.0, "reg": 0.5} and job.metric == "loss"
    assert list(job.measures) == ["loss", "cls_loss", "cls_accuracy", "reg_loss", "reg_mae"]
    # one loss name in the recipe applies to every output; a dict names each
    job = pipeline.prepare(_recipe(files, train={"loss": "mae"}, metric="reg_mae"))
    assert job.train["loss"] == {"cls": "mae", "reg": "mae"} and job.metric == "reg_mae"


@pytest.mark.slow
def test_sweep_trains_every_output_with_its_weight_and_optimises_the_run_metric(files, tmp_path):
    job = pipeline.prepare(_recipe(files, model="tfk.keras", sweep={
        "max_trials": 1, "space": {"sparsity": 0.5, "epochs": 1, "schedule": "one_shot"}}))
    out = pipeline.sweep(job, str(tmp_path), say=lambda *a: None, quiet=True)
    assert out["quality"] == "val_loss" and out["pareto"] == [0]
    (row,) = out["trials"]
    # the file's loss_weights {"cls": 1, "reg": 0.5} weigh the total the sweep optimises
    assert row["val_loss"] == pytest.approx(row["val_cls_loss"] + 0.5 * row["val_reg_loss"],
                                            rel=1e-4)
    assert {"val_cls_accuracy", "val_reg_mae"} <= set(row) and row["weight_sparsity"] > 0.3


@pytest.mark.slow
@pytest.mark.parametrize("recipe, match", [
    ({"prune": {"distill": {}}}, r"prune.distill: .*Remove prune.distill"),
    ({"task": "regression"}, r"task: 'regression'.*Remove `task`"),
    ({"train": {"loss": {"cls": "mse"}}}, r"train.loss: .*missing \['reg'\]"),
    ({"train": {"loss": {"cls": "mse", "reg": "nope"}}}, r"'nope' \(output 'reg'\) is not"),
    ({"metric": "reg_accuracy"}, r"cannot apply to output 'reg'"),
    ({"metric": "accuracy"}, r"does not say which output.*cls_accuracy"),
    ({"sensitivity": {"metric": "mae"}}, r"does not say which output"),
    ({"data": {"source": "one_y.npz"}}, r"2 outputs \['cls', 'reg'\].*y_cls, y_reg"),
    ({"data": {"source": "bad.npz"}}, r"output 'cls' range over \[0, 4\] but it has 3"),
])
def test_refused_before_any_work_naming_the_key(files, tmp_path, recipe, match):
    r = _recipe(files, **{k: v for k, v in recipe.items() if k != "data"})
    if "data" in recipe:
        r["data"] = {"source": str(files / recipe["data"]["source"])}
    with pytest.raises(errors.ConfigError, match=match):
        pipeline.run_recipe(r, str(tmp_path / "out"), **QUIET)
    assert not os.path.exists(tmp_path / "out")


def _total(values, weights):
    return sum(w * values[f"{o}_loss"] for o, w in weights.items())


@pytest.fixture(scope="module")
def k3_run(files, tmp_path_factory):
    """One `tfprune run` from the CLI on a recipe file and the Keras 3 file: weights, QAT
    (which renames the outputs), float/int8 files and a TFLM export; its output and folder."""
    d = tmp_path_factory.mktemp("k3_run")
    path = d / "r.yaml"
    path.write_text(yaml.safe_dump(_recipe(
        files, quantize_aware={"epochs": 1},
        export={"tflite": ["float", "int8"], "latency_runs": 0, "micro": True})))
    r = CliRunner().invoke(main, ["run", str(path), "--out", str(d / "out"), "--quiet"])
    assert r.exit_code == 0, r.output
    return r.output, d / "out", json.loads((d / "out" / "report.json").read_text())


@pytest.mark.slow  # one run (module fixture): two trainings, QAT, .tflite conversions, TFLM
def test_run_weights_on_a_keras3_file_measures_every_output(k3_run):
    _, out, rep = k3_run
    weights = rep["resolved"]["train"]["loss_weights"]
    for name in ("dense", "pruned"):
        v = rep["variants"][name]
        assert v["metric"] == "loss"
        assert set(v["outputs"]) == {"cls_loss", "cls_accuracy", "reg_loss", "reg_mae"}
        # the measure is the compiled total loss: sum of w_i * loss_i
        assert v["loss"] == pytest.approx(_total(v["outputs"], weights), rel=1e-5)
        for fmt in ("float", "int8"):
            e = v["tflite"][fmt]
            assert set(e["outputs"]) == set(v["outputs"]) and set(e["vs_keras"]) == {"cls", "reg"}
            assert e["loss"] == pytest.approx(_total(e["outputs"], weights), rel=1e-5)
        assert v["tflite"]["float"]["loss"] == pytest.approx(v["loss"], rel=1e-4)
    assert rep["variants"]["pruned"]["sparsity"] > 0.2
    saved = keras3.models.load_model(out / "pruned.keras")  # Keras 3 in, out
    assert list(saved.output_names) == ["cls", "reg"]
    md = (out / "report.md").read_text()
    assert "| cls_accuracy (test set) |" in md and "int8 max abs error vs Keras, output reg" in md


@pytest.mark.slow  # sensitivity scan, channel shrink, exports: ~30 s
def test_run_channels_with_allocation_on_a_tf_keras_file(files, tmp_path):
    recipe = _recipe(files, model="tfk.keras", metric="cls_accuracy",
                     prune={"granularity": "channel", "epochs": 1},
                     sensitivity={"levels": [0.5], "samples": 16}, allocate={"sparsity": 0.4},
                     export={"tflite": ["float"], "latency_runs": 0})
    rep = pipeline.run_recipe(recipe, str(tmp_path / "out"), **QUIET)
    assert rep["sensitivity_metric"] == "cls_accuracy"
    pruned = rep["variants"]["pruned"]
    assert pruned["metric"] == "cls_accuracy" and 0 <= pruned["cls_accuracy"] <= 1
    assert pruned["params"] < rep["variants"]["dense"]["params"]  # channels removed
    assert {"cls_loss", "reg_loss", "reg_mae"} <= set(pruned["outputs"])
    assert "cls_accuracy (test set)" in reports.table(rep)


@pytest.mark.slow  # the same run (module fixture): the CLI's output, QAT with renamed outputs, TFLM
def test_cli_run_with_a_recipe_file_qat_and_micro(k3_run):
    output, _, rep = k3_run
    assert "reg_mae (test set)" in output
    assert rep["resolved"]["train"]["loss"]["reg"] == "mse"
    pruned = rep["variants"]["pruned"]
    qat = pruned["qat"]["tflite"]["int8"]  # QAT trained with losses by position
    assert {"cls_accuracy", "reg_mae"} <= set(qat["outputs"]) and np.isfinite(qat["loss"])
    assert pruned["micro"]["flash_bytes"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("model", ["k3.keras", "tfk.keras"])
def test_cli_verbs_on_a_two_output_file(files, tmp_path, model):
    def invoke(*args):
        return CliRunner().invoke(main, [str(a) for a in args])

    path = files / model
    r = invoke("sensitivity", path, "--data", files / "d.npz", "--levels", "0.5",
               "--samples", "16", "--granularity", "channel", "--metric", "reg_mae")
    assert r.exit_code == 0, r.output
    assert "baseline reg_mae" in r.output and "dense model per output" in r.output
    r = invoke("inspect", path, "--json")
    assert r.exit_code == 0, r.output
    r = invoke("shrink", path, "--sparsity", "0.5", "--out", tmp_path / "small.keras")
    assert r.exit_code == 0, r.output
    small = models.load_model(str(tmp_path / "small.keras"))
    assert [int(t.shape[-1]) for t in small.outputs] == [3, 1]
    r = invoke("export", path, "--out", tmp_path / "m.tflite", "--quantize", "int8",
               "--data", files / "d.npz")
    assert r.exit_code == 0, r.output
    assert "output cls vs keras: max_abs_error" in r.output
    assert "output reg vs keras: max_abs_error" in r.output


def test_check_recipe_and_losses_without_files():
    i = keras3.Input((2,))
    m = keras3.Model(i, [keras3.layers.Dense(3, activation="softmax", name="cls")(i),
                         keras3.layers.Dense(1, name="reg")(i)])
    y = {"cls": np.array([0, 2]), "reg": np.array([1.5, 2.5])}
    assert multi.losses(m, None, y) == {"cls": "sparse_categorical_crossentropy", "reg": "mse"}
    with pytest.raises(errors.ConfigError, match=r"no such output: \['x'\]"):
        multi.losses(m, {"cls": "mse", "reg": "mse", "x": "mse"}, y)
    multi.check_recipe({"prune": {"sparsity": 0.5}}, ["cls", "reg"])  # nothing to refuse
