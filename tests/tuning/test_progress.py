"""What a sweep prints (issue 27 item 5) and distillation as a searched option (issue 25 item 2)."""

import re

import numpy as np
import pytest

import tfprune
from tfprune import tuning
from tfprune.compat import keras
from tfprune.tuning import progress
from tfprune.tuning import trial as trial_lib

LOSS = "sparse_categorical_crossentropy"


def _tiny():
    init = keras.initializers.GlorotUniform
    return keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(8, activation="relu", kernel_initializer=init(1),
                                              name="h"),
        keras.layers.Dense(3, activation="softmax", kernel_initializer=init(2), name="out")])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((96, 6), dtype=np.float32)
    y = (x[:, 0] * 3).astype("int64").clip(0, 2)
    return x, y, (x[:32], y[:32])


def _tuner(directory, space, max_trials, **kw):
    return tuning.PruningTuner(_tiny(), space, oracle="grid", max_trials=max_trials,
                               directory=str(directory), **kw,
                               options=tuning.SweepOptions(loss=LOSS, tensorboard=False))


def _failing_at(sparsity, monkeypatch):
    real = trial_lib.run

    def run(model, settings, **kw):
        if settings["sparsity"] == sparsity:
            raise RuntimeError(f"boom at sparsity {sparsity}")
        return real(model, settings, **kw)

    monkeypatch.setattr(trial_lib, "run", run)


@pytest.mark.slow
def test_each_trial_prints_one_line_and_the_summary_lists_every_trial(data, tmp_path, capsys,
                                                                       monkeypatch):
    _failing_at(0.75, monkeypatch)
    t = _tuner(tmp_path, {"sparsity": [0.25, 0.5, 0.75], "epochs": 1}, max_trials=3)
    t.search(data[0], data[1], validation_data=data[2], batch_size=32)
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("trial ")]
    assert len(lines) == 3, out
    for ln in lines:
        assert re.match(r"trial [123]/3  sparsity=0\.\d+ epochs=1  ->  ", ln), ln
        assert re.search(r"\(\d+\.\d s\)$", ln), ln
    ok = [ln for ln in lines if "sparsity=0.75" not in ln]
    assert all(re.search(r"val_accuracy=[\d.]+ ", ln) for ln in ok), ok
    (bad,) = [ln for ln in lines if "sparsity=0.75" in ln]
    assert "failed: RuntimeError: boom at sparsity 0.75" in bad

    assert ("Sweep: 3 trials, 2 completed, 1 failed, " in out
            and "on the Pareto front (val_accuracy vs macs)" in out)
    rows = t.trials()
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]
    by_sparsity = {r["sparsity"]: r for r in rows}
    assert by_sparsity[0.75]["status"] == "failed: RuntimeError: boom at sparsity 0.75"
    assert by_sparsity[0.75]["val_accuracy"] is None
    front = {r["trial_id"] for r in t.pareto()}
    for s in (0.25, 0.5):
        r = by_sparsity[s]
        assert r["status"] == ("pareto" if r["trial_id"] in front else "ok")
        assert isinstance(r["val_accuracy"], float) and isinstance(r["macs"], float)
    table_lines = out[out.index("Sweep: 3 trials"):].splitlines()
    assert table_lines[1].split() == ["trial_id", "sparsity", "epochs", "val_accuracy", "macs",
                                      "status"]
    assert len(table_lines) == 5  # heading, columns, one row per trial
    assert any(ln.split()[1] == "0.75" and ln.endswith("failed: RuntimeError: boom at sparsity 0.75")
               for ln in table_lines[2:])
    assert len(t.results()) == 2  # completed trials only, as before


@pytest.mark.slow
def test_verbose_0_is_quiet(data, tmp_path, capsys):
    t = _tuner(tmp_path, {"sparsity": [0.5], "epochs": 1}, max_trials=1)
    t.search(data[0], data[1], validation_data=data[2], verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and "trial" not in captured.err
    assert [r["status"] for r in t.trials()] == ["pareto"]


@pytest.mark.slow
def test_distill_is_a_searched_option(data, tmp_path, monkeypatch):
    calls = []
    real = tfprune.callbacks.distill

    def spy(student, teacher, **kw):
        calls.append(kw)
        return real(student, teacher, **kw)

    monkeypatch.setattr(tfprune.callbacks, "distill", spy)
    t = _tuner(tmp_path, {"sparsity": 0.5, "distill": [False, True], "temperature": 2.0,
                          "epochs": 1}, max_trials=2,
               objective=["val_accuracy", "macs"])  # a list objective runs too (keras-tuner's key)
    t.search(data[0], data[1], validation_data=data[2], verbose=0)
    rows = t.results()
    assert sorted(r["distill"] for r in rows) == [False, True]
    for r in rows:
        assert np.isfinite(r["val_accuracy"])
        assert (r["temperature"], r["alpha"]) == ((2.0, 0.9) if r["distill"] else (None, None))
    assert calls == [{"temperature": 2.0, "alpha": 0.9, "task": "classification"}]
    summary = {r["distill"]: r for r in t.trials()}  # the searched values as each trial used them
    assert summary[True]["temperature"] == 2.0 and summary[False]["temperature"] is None


def test_trial_progress_counts_and_unknown_totals(capsys):
    p = progress.TrialProgress(None, ["macs"], bar=False)
    p.begin("07", {"sparsity": 0.5, "tuner/epochs": 2})
    p.end("07", {"sparsity": 0.5}, {}, reason="ValueError: x", seconds=0.31)
    assert capsys.readouterr().out == "trial 8/?  sparsity=0.5  ->  failed: ValueError: x  (0.3 s)\n"
    quiet = progress.TrialProgress(3, ["macs"], quiet=True)
    quiet.end("0", {}, {"macs": 1.0}, seconds=1.0)
    quiet.close()
    assert capsys.readouterr() == ("", "")
