"""tfprune.tuning.sweep: a sweep's set-up checks and its directory, without running a trial."""

import json

import keras_tuner as kt
import pytest

from tfprune import errors
from tfprune.compat import keras
from tfprune.tuning import sweep


def test_objectives_infer_directions_and_refuse_what_no_trial_measures():
    got = sweep.objectives(["val_accuracy", kt.Objective("macs", "min")], ["val_accuracy", "macs"])
    assert [(o.name, o.direction) for o in got] == [("val_accuracy", "max"), ("macs", "min")]
    with pytest.raises(errors.ConfigError, match="No trial produces objective 'latency_ms'"):
        sweep.objectives("latency_ms", ["macs"])
    with pytest.raises(errors.ConfigError, match="`objective` is empty"):
        sweep.objectives([], ["macs"])


def test_make_oracle_refuses_bad_trials_and_unknown_names():
    with pytest.raises(errors.ConfigError, match="`max_trials` must be an integer >= 1"):
        sweep.make_oracle("random", "macs", 0, sweep.SweepOptions(), ["macs"])
    with pytest.raises(errors.ConfigError, match="oracle"):
        sweep.make_oracle("annealing", "macs", 2, sweep.SweepOptions(), ["macs"])
    hb = sweep.make_oracle("hyperband", "macs", 2, sweep.SweepOptions(max_epochs=4), ["macs"])
    assert hb.max_epochs == 4


def test_space_must_declare_something():
    with pytest.raises(errors.ConfigError, match="`space` must be None"):
        sweep.space_function(3)
    with pytest.raises(errors.ConfigError, match="search space is empty"):
        sweep.probe_space(lambda hp: None)


def test_model_digest_changes_with_the_weights():
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    before = sweep.model_digest(m)
    m.set_weights([w + 1 for w in m.get_weights()])
    assert sweep.model_digest(m) != before


def test_check_directory_refuses_foreign_files_and_a_different_sweep(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(errors.ConfigError, match=r"not a tfprune sweep \(notes.txt\)"):
        sweep.check_directory(str(tmp_path), {"model": "a"}, False)
    sweep.write_json(str(tmp_path / sweep.SWEEP_FILE), {"model": "a", "loss": "mse"})
    sweep.check_directory(str(tmp_path), {"model": "a", "loss": "mse"}, False)  # same: resumes
    with pytest.raises(errors.ConfigError, match="differs in: loss"):
        sweep.check_directory(str(tmp_path), {"model": "a", "loss": "mae"}, False)
    sweep.check_directory(str(tmp_path), {"model": "b"}, True)  # overwrite: no check


def _trial(root, tid, status, measures=None, message=None):
    folder = root / f"trial_{tid}"
    folder.mkdir()
    values = {"sparsity": 0.5, "tuner/epochs": 2}
    (folder / "trial.json").write_text(json.dumps(
        {"trial_id": tid, "status": status, "message": message,
         "hyperparameters": {"values": values}}))
    if measures is not None:
        sweep.write_json(str(folder / sweep.MEASURES_FILE),
                         {"trial_id": tid, "settings": {"sparsity": 0.5}, "measures": measures})


def test_trials_and_results_read_back_from_the_directory(tmp_path):
    _trial(tmp_path, "1", "FAILED", message="Traceback\n  ...\nValueError: " + "x" * 200)
    _trial(tmp_path, "0", "COMPLETED", {"macs": 10})
    _trial(tmp_path, "2", "RUNNING")
    trials = sweep.load_trials(str(tmp_path))
    assert [(t["trial_id"], t["status"]) for t in trials] == [
        ("0", "COMPLETED"), ("1", "FAILED"), ("2", "RUNNING")]
    assert trials[0]["values"] == {"sparsity": 0.5} and trials[0]["measures"] == {"macs": 10}
    assert trials[1]["reason"].startswith("ValueError: x") and len(trials[1]["reason"]) == 120
    assert list(sweep.load_results(str(tmp_path))) == [
        {"trial_id": "0", "sparsity": 0.5, "macs": 10}]
