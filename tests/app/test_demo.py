"""tfprune.app.demo: the demo's options and its three steps, with the training and the
measurements stood in (the real run is tests/app/test_cli.py's and the README's)."""

import json

import numpy as np
import pytest

from tfprune import errors
from tfprune.app import demo, pipeline


def test_config_has_a_quick_budget_and_takes_a_recipe():
    full, quick = demo.DemoConfig(False), demo.DemoConfig(True)
    assert quick.dense_epochs < full.dense_epochs and quick.latency_runs < full.latency_runs
    cfg = demo.DemoConfig(True, {"batch_size": 16, "sparsity": 0.5})
    assert cfg.batch_size == 16 and not hasattr(cfg, "sparsity")  # the run's, not the budget's


@pytest.mark.parametrize("kwargs, match", [
    ({"scope": "everywhere"}, "--scope"), ({"channels": 0.0}, "--channels must be > 0"),
    ({"sparsity": 1.0}, "--sparsity")])
def test_bad_options_are_refused_before_the_folder(tmp_path, kwargs, match):
    with pytest.raises(errors.ConfigError, match=match):
        demo.run_demo(str(tmp_path / "out"), demo.DemoOptions(quick=True, **kwargs))
    assert not (tmp_path / "out").exists()


def test_the_demo_trains_prunes_both_ways_and_writes_the_report(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    digits = ((rng.random((8, 28, 28, 1), np.float32), np.arange(8) % 10),) * 2
    monkeypatch.setattr(demo, "mnist5k", lambda seed: digits)
    specs = []
    monkeypatch.setattr(pipeline, "train", lambda job, quiet: {"loss": [1.0]})
    monkeypatch.setattr(pipeline, "measure", lambda model, job, stage, name, say: {"n": name})
    monkeypatch.setattr(pipeline, "prune_variant", lambda model, spec, job, quiet: (
        specs.append(spec) or (model, {"loss": [0.5]}, {"granularity": spec["granularity"]})))
    said = []
    report = demo.run_demo(str(tmp_path / "out"), demo.DemoOptions(quick=True), say=said.append)
    assert list(report["variants"]) == ["dense", "weights", "channels"]
    assert [(s["granularity"], s["sparsity"], s["scope"]) for s in specs] == [
        ("weight", 0.9, "global"), ("channel", 0.5, "layer")]
    assert report["variants"]["channels"]["pruning"] == {"granularity": "channel"}
    assert [s[:5] for s in said] == ["[1/3]", "[2/3]", "[3/3]"]
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["config"]["quick"] and saved["title"].startswith("tfprune demo")
