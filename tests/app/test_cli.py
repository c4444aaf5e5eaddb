import json
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import tfprune
from tfprune.app.cli import main
from tfprune.compat import keras


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _flat(text):
    return " ".join(text.split())


def test_version_and_help_of_every_verb():
    r = _invoke("--version")
    assert r.exit_code == 0 and tfprune.__version__ in r.output
    r = _invoke("--help")
    for verb in ("run", "inspect", "shrink", "export", "report", "demo"):
        assert verb in r.output
        h = _invoke(verb, "--help")
        assert h.exit_code == 0 and "Examples:" in h.output, verb


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    i = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c1")(i)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c2")(x)
    x = keras.layers.Flatten()(x)
    m = keras.Model(i, keras.layers.Dense(10, activation="softmax", name="out")(x))
    path = d / "tiny.keras"
    m.save(path)
    rng = np.random.default_rng(0)
    np.savez(d / "data.npz", x=rng.random((60, 8, 8, 1), dtype=np.float32),
             y=rng.integers(0, 10, 60))
    # MNIST-shaped samples for the wrong-shape refusals (parsing mnist5k's CSV costs seconds)
    np.savez(d / "mnist_shaped.npz", x=rng.random((8, 28, 28, 1), dtype=np.float32),
             y=rng.integers(0, 10, 8))
    return d, path


def _recipe(d, text):
    f = d / "r.yaml"
    f.write_text(text)
    return f


@pytest.mark.slow
def test_run_refuses_before_work(tiny, tmp_path):
    d, model = tiny
    base = f"model: {model}\ndata: {{source: {d / 'data.npz'}}}\n"
    cases = [
        (f"model: {d / 'missing.keras'}\ndata: {{source: digits}}\n", "does not exist"),
        (f"model: {d / 'data.npz'}\ndata: {{source: digits}}\n", "could not be loaded"),
        (f"model: {model}\ndata: {{source: {d / 'mnist_shaped.npz'}}}\n",
         r"samples have shape \(28, 28, 1\) but model '.*' expects \(8, 8, 1\)"),
        (base + "prune: {learning_rate: .nan}\n", "not a finite number"),
        (base + "train: {loss: crossentropy_typo}\n", "is not a Keras loss"),
        (base + "prune: {granularity: channel, criterion: l3}\n", "l3"),
    ]
    for text, match in cases:
        out = tmp_path / "o"
        r = _invoke("run", _recipe(tmp_path, text), "--out", out)
        assert r.exit_code == 2, (text, r.output)
        assert re.search(match, _flat(r.output)), (match, r.output)
        assert not out.exists()


def test_run_refuses_out_that_is_a_file(tiny, tmp_path):
    d, model = tiny
    f = tmp_path / "report"
    f.write_text("keep me")
    r = _invoke("run", _recipe(tmp_path, f"model: {model}\ndata: {{source: {d / 'data.npz'}}}\n"),
                "--out", f)
    assert r.exit_code == 2 and "is an existing file" in r.output
    assert f.read_text() == "keep me"


def test_inspect_shows_groups_and_why_not(tiny):
    _, model = tiny
    r = _invoke("inspect", model)
    assert r.exit_code == 0, r.output
    assert "c1" in r.output and "prunable" in r.output
    assert re.search(r"out .* kept: .*model output", _flat(r.output))
    r = _invoke("inspect", model, "--json")
    info = json.loads(r.output)
    assert [g["name"] for g in info["groups"] if g["prunable"]] == ["c1", "c2"]
    assert _invoke("inspect", "MobileNetV9").exit_code == 2


@pytest.mark.slow
def test_shrink_then_export(tiny, tmp_path):
    d, model = tiny
    small = tmp_path / "small.keras"
    r = _invoke("shrink", model, "--sparsity", 0.5, "--out", small)
    assert r.exit_code == 0, r.output
    assert "removed 8 channels" in r.output
    assert keras.models.load_model(small).get_layer("c1").filters == 4
    assert _invoke("shrink", model, "--sparsity", 0.5, "--out", small).exit_code == 2  # exists
    assert _invoke("shrink", model, "--sparsity", 1.5, "--out", tmp_path / "x.keras").exit_code == 2
    out = tmp_path / "small.tflite"
    r = _invoke("export", small, "--out", out, "--quantize", "int8", "--data", d / "data.npz")
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 0 and "bytes:" in r.output
    r = _invoke("export", small, "--out", tmp_path / "m.tflite", "--quantize", "int8")
    assert r.exit_code == 2 and "needs --data" in r.output
    r = _invoke("export", small, "--out", tmp_path / "m2.tflite", "--data",
                d / "mnist_shaped.npz")
    assert r.exit_code == 2 and "expects (8, 8, 1)" in _flat(r.output)


@pytest.mark.slow
def test_export_micro_compression_flags(tiny, tmp_path):
    d, model = tiny
    sparse = tmp_path / "sparse.keras"
    tfprune.strip(tfprune.one_shot(keras.models.load_model(model), 0.9)).save(sparse)
    r = _invoke("export", sparse, "--format", "micro", "--data", d / "data.npz", "--out",
                tmp_path / "mcu", "--compress", "auto", "--arena", 1_000_000)
    assert r.exit_code == 0, r.output
    assert "encodings:" in r.output and "flash_bytes:" in r.output
    dense = _invoke("export", sparse, "--format", "micro", "--data", d / "data.npz", "--out",
                    tmp_path / "mcu_dense")
    assert dense.exit_code == 0, dense.output

    def flash(text):
        return int(re.search(r"flash_bytes: (\d+)", text).group(1))

    assert flash(r.output) < flash(dense.output)
    r = _invoke("export", sparse, "--out", tmp_path / "m.tflite", "--compress", "auto")
    assert r.exit_code == 2 and "apply to --format micro" in _flat(r.output)
    assert not (tmp_path / "m.tflite").exists()
    assert _invoke("export", sparse, "--format", "micro", "--out", tmp_path / "x",
                   "--compress", "gzip").exit_code == 2


def test_report_verb_combines_runs(tmp_path):
    for name, acc in (("a", 0.9), ("b", 0.8)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(
            {"variants": {"dense": {"accuracy": acc, "params": 10}}}))
    r = _invoke("report", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "cmp")
    assert r.exit_code == 0, r.output
    assert "a/dense" in r.output and "90.00%" in r.output and "80.00%" in r.output
    assert (tmp_path / "cmp" / "report.md").exists()
    (tmp_path / "c").mkdir()
    assert _invoke("report", tmp_path / "c").exit_code == 2


def test_demo_refuses_bad_options_before_training(tmp_path):
    out = tmp_path / "o"
    for args in (["--sparsity", "1.0"], ["--sparsity", "0"], ["--channels", "-0.5"]):
        r = _invoke("demo", "--quick", "--out", out, *args)
        assert r.exit_code == 2 and "must be" in r.output
        assert not out.exists()
    f = tmp_path / "file"
    f.write_text("x")
    r = _invoke("demo", "--quick", "--out", f / "sub")
    assert r.exit_code == 2 and "cannot create the folder" in r.output
    bad = tmp_path / "b.yaml"
    bad.write_text("sparsty: 0.8")
    r = _invoke("demo", "--config", bad, "--out", out)
    assert r.exit_code == 2 and "Did you mean 'sparsity'" in r.output


def test_runtime_failure_exits_1(monkeypatch, tiny, tmp_path):
    from tfprune.app import pipeline

    d, model = tiny

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "train", boom)
    r = _invoke("run", _recipe(tmp_path, f"model: {model}\ndata: {{source: {d / 'data.npz'}}}\n"),
                "--out", tmp_path / "o")
    assert r.exit_code == 1 and "disk on fire" in r.output
    assert not (tmp_path / "o").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".o.partial")] == []


@pytest.mark.slow
def test_run_end_to_end_in_a_subprocess_is_quiet(tiny, tmp_path):
    d, model = tiny
    recipe = _recipe(tmp_path, f"""
model: {model}
data: {{source: {d / 'data.npz'}}}
train: {{epochs: 1}}
prune: {{granularity: channel, sparsity: 0.5, epochs: 1}}
export: {{tflite: [float, int8], micro: true, latency_runs: 5}}
""")
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "tfprune.app.cli", "run", str(recipe), "--out",
                        str(out), "--quiet"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "I0000" not in r.stderr.split("\n", 8)[-1] and "fully_quantize" not in r.stderr
    rep = json.loads((out / "report.json").read_text())
    dense, pruned = rep["variants"]["dense"], rep["variants"]["pruned"]
    assert pruned["params"] < dense["params"] and pruned["macs"] < dense["macs"]
    assert pruned["micro"]["flash_bytes"] < dense["micro"]["flash_bytes"]
    assert set(rep["plots"]) == {"plots/sparsity_per_layer.png", "plots/accuracy_vs_cost.png"}
    for f in ["report.md", "pruned.keras", "pruned_int8.tflite", "micro_pruned", *rep["plots"]]:
        assert (out / f).exists(), f
    assert "TFLM flash" in r.stdout


@pytest.mark.slow
def test_sensitivity_verb(tiny, tmp_path):
    d, model = tiny
    out = tmp_path / "sens"
    r = _invoke("sensitivity", model, "--data", d / "data.npz", "--levels", "0.5,0.9",
                "--samples", 12, "--out", out)
    assert r.exit_code == 0, r.output
    assert "c1" in r.output
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["sensitivity"]) >= {"c1", "c2"} and len(rep["sensitivity"]["c1"]) == 3
    assert (out / "plots" / "sensitivity.png").exists()
    r = _invoke("sensitivity", model, "--data", d / "mnist_shaped.npz")
    assert r.exit_code == 2 and "expects (8, 8, 1)" in _flat(r.output)
    assert _invoke("sensitivity", model, "--data", d / "data.npz", "--levels", "x").exit_code == 2


@pytest.mark.slow
def test_sensitivity_verb_at_head_granularity(tmp_path):
    i = keras.Input((6, 8))
    a = keras.layers.MultiHeadAttention(4, 4, name="att")(i, i)
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling1D()(a))
    keras.Model(i, out).save(tmp_path / "att.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "t.npz", x=rng.random((60, 6, 8), dtype=np.float32),
             y=rng.integers(0, 3, 60))
    r = _invoke("sensitivity", tmp_path / "att.keras", "--data", tmp_path / "t.npz",
                "--granularity", "head", "--levels", "0.25,0.5", "--samples", 16)
    assert r.exit_code == 0, r.output
    assert "att" in r.output and "head" in r.output


def test_sweep_verb_needs_a_sweep_section(tiny, tmp_path):
    d, model = tiny
    r = _invoke("sweep", _recipe(tmp_path, f"model: {model}\ndata: {{source: {d / 'data.npz'}}}\n"))
    assert r.exit_code == 2 and "no 'sweep:' section" in r.output
    bad = f"model: {model}\ndata: {{source: {d / 'data.npz'}}}\nsweep: {{space: {{sparsty: [0.5]}}}}\n"
    r = _invoke("sweep", _recipe(tmp_path, bad), "--out", tmp_path / "o")
    assert r.exit_code == 2 and "sparsty" in r.output and not (tmp_path / "o").exists()


def test_keras3_file_is_accepted(tmp_path):
    import keras as keras3

    from tfprune import compat
    from tfprune.app import models

    path = tmp_path / "k3.keras"
    keras3.Sequential([keras3.Input((8, 8, 1)), keras3.layers.Conv2D(4, 3, name="c"),
                       keras3.layers.Flatten(), keras3.layers.Dense(3, name="d")]).save(path)
    m = models.load_model(str(path))
    assert isinstance(m, keras.Model) and compat.is_from_keras3(m)
    r = _invoke("inspect", path)
    assert r.exit_code == 0 and "c " in r.output
