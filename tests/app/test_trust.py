"""Hostile and unlucky inputs at the application's doors (issue 24): model files that carry
code or are damaged, run names that leave the runs folder, recipe data that cannot train,
sizes that need absurd memory, runs that break, image folders."""

import json
import os
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

import tfprune
from tfprune import errors
from tfprune.app import data as data_lib
from tfprune.app import models, pipeline
from tfprune.app.cli import main
from tfprune.compat import keras

PAYLOAD = "PWNED"


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _flat(text):
    return " ".join(text.split())


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    """The same code-carrying model as .h5, SavedModel and .keras (tf_keras), built in its
    own folder (building it runs the lambda once: that file is removed)."""
    d = tmp_path_factory.mktemp("evil")
    here = os.getcwd()
    os.chdir(d)
    try:
        i = keras.Input((3,))
        x = keras.layers.Lambda(lambda t: (os.system("touch " + PAYLOAD), t)[1], name="evil")(i)
        m = keras.Model(i, keras.layers.Dense(2, name="d")(x))
        m.save(d / "evil.h5")
        m.save(d / "evil_sm")
        m.save(d / "evil.keras")
    finally:
        os.chdir(here)
    os.remove(d / PAYLOAD)
    return d


@pytest.mark.parametrize("name", ["evil.h5", "evil_sm", "evil.keras"])
def test_inspect_refuses_a_code_carrying_file_and_runs_nothing(evil, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = _invoke("inspect", evil / name)
    assert r.exit_code == 2, r.output
    text = _flat(r.output)
    assert "'evil' (Lambda: a Python lambda)" in text and "--unsafe" in text
    assert "safe_mode=False" in text and "Traceback" not in r.output
    assert not (tmp_path / PAYLOAD).exists()


def test_every_door_refuses_it(evil, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    h5 = evil / "evil.h5"
    with pytest.raises(errors.ConfigError, match="carries Python code"):
        tfprune.load_model(h5)
    with pytest.raises(errors.ConfigError, match="carries Python code"):
        tfprune.export.tflite(str(h5), tmp_path / "m.tflite")
    with pytest.raises(errors.ConfigError, match="carries Python code"):
        tfprune.export.tflite(str(evil / "evil_sm"), tmp_path / "m.tflite")
    for verb in (["shrink", h5, "--sparsity", 0.5, "--out", tmp_path / "s.keras"],
                 ["export", h5, "--out", tmp_path / "m.tflite"],
                 ["sensitivity", h5, "--data", "digits"]):
        r = _invoke(*verb)
        assert r.exit_code == 2 and "--unsafe" in r.output, (verb, r.output)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {h5}\ndata: {{source: digits}}\n")
    r = _invoke("run", recipe, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "--unsafe" in r.output and not (tmp_path / "o").exists()
    assert not (tmp_path / PAYLOAD).exists()
    assert not (tmp_path / "m.tflite").exists() and not (tmp_path / "s.keras").exists()


def test_unsafe_is_an_explicit_opt_in(evil, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = tfprune.load_model(evil / "evil.h5", safe_mode=False)  # the author is trusted
    assert m.get_layer("evil") is not None
    assert (tmp_path / PAYLOAD).exists()  # the code ran: that is what safe mode prevents
    os.remove(tmp_path / PAYLOAD)
    r = _invoke("inspect", evil / "evil.h5", "--unsafe")
    assert r.exit_code == 0, r.output
    assert (tmp_path / PAYLOAD).exists()


def test_keras3_lambda_file_is_refused_naming_the_layer(tmp_path, monkeypatch):
    import keras as keras3

    monkeypatch.chdir(tmp_path)
    i = keras3.Input((3,))
    m = keras3.Model(i, keras3.layers.Lambda(lambda t: t * 2, name="double")(i))
    m.save(tmp_path / "k3.keras")
    with pytest.raises(errors.ConfigError, match=r"'double' \(Lambda: a Python lambda\)"):
        tfprune.compat.load_model(tmp_path / "k3.keras")


def test_plain_models_still_load(tmp_path):
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    m.save(tmp_path / "ok.h5")
    assert tfprune.load_model(tmp_path / "ok.h5").get_layer("d").units == 2


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    d = tmp_path_factory.mktemp("damaged")
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64), keras.layers.Dense(2)])
    m.save(d / "good.h5")
    m.save(d / "good.keras")
    m.save_weights(d / "weights.h5")
    (d / "garbage.h5").write_bytes(os.urandom(300))
    (d / "empty.keras").write_bytes(b"")
    (d / "truncated.h5").write_bytes((d / "good.h5").read_bytes()[:2000])
    (d / "truncated.keras").write_bytes((d / "good.keras").read_bytes()[:400])
    with zipfile.ZipFile(d / "noconfig.keras", "w") as z:
        z.writestr("metadata.json", "{}")
    (d / "not_a_savedmodel").mkdir()
    return d


@pytest.mark.parametrize("name, match", [
    ("garbage.h5", "is not a model file"),
    ("empty.keras", r"is not a model file \(empty\)"),
    ("truncated.h5", "is damaged or truncated"),
    ("truncated.keras", "is not a model file|damaged or truncated"),
    ("noconfig.keras", "without config.json"),
    ("weights.h5", "weights-only"),
    ("not_a_savedmodel", "without saved_model.pb"),
])
def test_damaged_files_are_refused_naming_the_file(damaged, name, match):
    path = str(damaged / name)
    with pytest.raises(errors.ConfigError, match=match) as e:
        tfprune.load_model(path)
    assert repr(path) in str(e.value)
    r = _invoke("inspect", path)
    assert r.exit_code == 2 and name in r.output and "Traceback" not in r.output


# ---------------------------------------------------------------- paths stay inside runs/


@pytest.mark.parametrize("name, why", [
    ("../../escaped", "holds '..'"),
    ("ok/../../escaped", "holds '..'"),
    ("ABS", "is an absolute path"),
    ('"a\\0b"', "NUL byte"),
    ('"."', "names no folder"),
])
def test_run_names_stay_inside_the_runs_folder(tmp_path, monkeypatch, name, why):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    name = name.replace("ABS", str(tmp_path / "abs" / "path"))
    (work / "r.yaml").write_text(f"name: {name}\nmodel: demo_cnn\ndata: {{source: digits}}\n")
    r = _invoke("run", "r.yaml")
    assert r.exit_code == 2, r.output
    assert why in r.output and "--out" in r.output
    assert sorted(os.listdir(tmp_path)) == ["a"] and sorted(os.listdir(work)) == ["r.yaml"]


def test_a_link_out_of_the_runs_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outside").mkdir()
    (tmp_path / "runs").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "runs" / "link")
    (tmp_path / "r.yaml").write_text("name: link/x\nmodel: demo_cnn\ndata: {source: digits}\n")
    r = _invoke("run", "r.yaml")
    assert r.exit_code == 2 and "outside the runs folder" in _flat(r.output)
    assert os.listdir(tmp_path / "outside") == []


# ---------------------------------------------------------------- recipe data in recipe terms


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="c"),
                          keras.layers.Flatten(), keras.layers.Dense(3, name="out")])
    m.save(d / "tiny.keras")
    return d


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def _recipe(model, source, **data):
    return {"model": str(model), "data": {"source": source, **data}}


def _bad_data_cases(d):
    rng = np.random.default_rng(0)
    x = rng.random((20, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 3, 20)
    nan = x.copy()
    nan[3, 2, 2, 0] = np.nan
    return [
        (dict(x=np.array([["a"] * 8] * 20), y=y), r"x has dtype <U1 \(text\)"),
        (dict(x_train=x, y_train=y[:15], x_test=x, y_test=y), "x_train has 20 rows but y_train has 15"),
        (dict(x=x, y=y[:-1]), "x has 20 rows but y has 19"),
        (dict(x=(x * 255).astype(np.uint8), y=y), r"samples are uint8 .*data\.scale: 0\.0039"),
        (dict(x=nan, y=y), r"x holds 1 NaN/inf values \(in 1 of 20 samples\)"),
        (dict(x=x, y=y.astype(np.float32)), "y has dtype float32; labels are integer class ids"),
        (dict(x=np.array([object()] * 20, dtype=object), y=y), "Python objects"),
        (dict(x=x, y=y + 5), r"labels range over \[5, 7\] but the model has 3 outputs"),
    ]


@pytest.mark.slow
def test_recipe_data_problems_are_named_before_training(tiny, tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(pipeline, "train", lambda *a, **k: trained.append(1))
    for i, (arrays, match) in enumerate(_bad_data_cases(tmp_path)):
        f = tmp_path / f"bad{i}.npz"
        if any(a.dtype == object for a in arrays.values()):
            np.savez(f, **arrays)  # object arrays are pickled by numpy: refused on read
        else:
            _npz(f, **arrays)
        with pytest.raises(errors.ConfigError, match=match) as e:
            pipeline.prepare(_recipe(tiny / "tiny.keras", str(f)))
        assert "data" in str(e.value) and (str(f) in str(e.value) or "(train)" in str(e.value))
    r = _invoke("run", _write(tmp_path, _recipe(tiny / "tiny.keras", str(tmp_path / "bad4.npz"))),
                "--out", tmp_path / "o")
    assert r.exit_code == 2 and "NaN/inf" in r.output and not (tmp_path / "o").exists()
    assert trained == []


def _write(d, recipe):
    f = d / "r.yaml"
    f.write_text(json.dumps(recipe))  # JSON is YAML
    return f


def test_absurd_sizes_are_refused_before_allocation(tiny, tmp_path):
    big = tmp_path / "declared.npz"  # headers declare 4 TB; the file holds a few bytes
    with zipfile.ZipFile(big, "w") as z:
        for name, shape in (("x", (10**6, 1000, 1000)), ("y", (10**6,))):
            with z.open(name + ".npy", "w") as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": "<f4", "fortran_order": False, "shape": shape})
    with pytest.raises(errors.ConfigError, match=r"4,000,004,000,000 bytes"):
        data_lib.load_data({"source": str(big)})
    with pytest.raises(errors.ConfigError, match=r"data\.resize \[4096, 4096\] of 1,438 samples "
                                                 r"needs 96,502,546,432 bytes"):
        data_lib.load_data({"source": "digits", "resize": [4096, 4096]})
    with pytest.raises(errors.ConfigError, match=r"input_shape \[4096, 4096, 3\]: one sample is "
                                                 r"50,331,648 values"):
        models.load_model("MobileNetV2", {"input_shape": [4096, 4096, 3]})
    with pytest.raises(errors.ConfigError, match=r"demo_cnn at this size has 8,[\d,]+ weights"):
        models.load_model("demo_cnn", {"input_shape": [4096, 4096, 1]})
    r = _invoke("inspect", "MobileNetV2", "--input-shape", "4096,4096,3")
    assert r.exit_code == 2 and "50,331,648" in r.output
    assert _invoke("inspect", "MobileNetV2", "--input-shape", "a,b").exit_code == 2


def test_a_model_with_nan_weights_is_refused(tmp_path):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="out")])
    w = m.get_layer("out").get_weights()
    w[0][0, 0] = np.nan
    m.get_layer("out").set_weights(w)
    m.save(tmp_path / "nan.keras")
    _npz(tmp_path / "d.npz", x=np.zeros((10, 4), np.float32), y=np.zeros(10, np.int64))
    with pytest.raises(errors.ConfigError, match=r"layer 'out' has 1 of 12 NaN/inf values"):
        pipeline.prepare(_recipe(tmp_path / "nan.keras", str(tmp_path / "d.npz")))


# ---------------------------------------------------------------- a broken run is no success


@pytest.fixture
def fast_run(tiny, tmp_path, monkeypatch):
    """A recipe on the tiny model whose measuring/exporting is stubbed (records its models)."""
    rng = np.random.default_rng(0)
    src = _npz(tmp_path / "d.npz", x=rng.random((30, 8, 8, 1), dtype=np.float32),
               y=rng.integers(0, 3, 30))
    measured = []

    def measure(model, job, stage, tag, say=print):
        pipeline.check_finite(model, None, "test", "")  # never a non-finite model
        measured.append(tag)
        (open(os.path.join(stage, f"{tag}.keras"), "w")).close()
        return {"accuracy": 0.5, "params": 1}

    monkeypatch.setattr(pipeline, "measure", measure)
    monkeypatch.setattr(pipeline, "finish", lambda report, stage, plots_on=True: report)
    recipe = _write(tmp_path, {**_recipe(tiny / "tiny.keras", src), "train": {"epochs": 1},
                               "prune": {"epochs": 1}})
    return recipe, measured


def _poison(model):
    w = model.layers[-1].get_weights()
    w[0][...] = np.nan
    model.layers[-1].set_weights(w)


def test_nan_after_dense_training_fails_the_run_with_a_record(fast_run, tmp_path, monkeypatch):
    recipe, measured = fast_run

    def diverge(job, quiet=False, callbacks=()):
        _poison(job.model)
        return {"loss": [2.3, float("nan")]}

    monkeypatch.setattr(pipeline, "train", diverge)
    out = tmp_path / "o"
    r = _invoke("run", recipe, "--out", out, "--quiet")
    assert r.exit_code == 1, r.output
    assert "loss became NaN/inf at epoch 2" in _flat(r.output) and "failure.md" in r.output
    assert sorted(os.listdir(out)) == ["failure.json", "failure.md"]
    rec = json.loads((out / "failure.json").read_text())
    assert rec["status"] == "failed" and rec["stage"] == "dense training"
    assert measured == []
    r = _invoke("report", out)
    assert r.exit_code == 2 and "failed run" in r.output


@pytest.mark.slow
def test_nan_pruned_model_is_never_written(fast_run, tmp_path, monkeypatch):
    recipe, measured = fast_run
    real = pipeline.prune_variant

    def broken(model, spec, job, **kw):
        small, hist, info = real(model, spec, job, **kw)
        _poison(small)
        return small, hist, info

    monkeypatch.setattr(pipeline, "prune_variant", broken)
    out = tmp_path / "o"
    out.mkdir()
    (out / "report.json").write_text("{}")  # a previous run: replaced by the failure record
    r = _invoke("run", recipe, "--out", out, "--quiet")
    assert r.exit_code == 1, r.output
    assert "run failed while pruning" in r.output and "layer 'out'" in r.output
    assert sorted(os.listdir(out)) == ["failure.json", "failure.md"]
    assert measured == ["dense"]


def test_a_tfprune_error_during_the_run_is_recorded(fast_run, tmp_path, monkeypatch):
    recipe, _ = fast_run

    def stop(*a, **k):
        raise errors.DataError("the loss is NaN at step 7 (stopped)")

    monkeypatch.setattr(pipeline, "train", stop)
    out = tmp_path / "o"
    r = _invoke("run", recipe, "--out", out, "--quiet")
    assert r.exit_code == 1 and "NaN at step 7" in r.output
    assert json.loads((out / "failure.json").read_text())["error"] == "DataError"
