import json
import os
import signal
import time

import pytest

from tfprune import errors
from tfprune.app import reports


def _report():
    layer = {"params": 10, "nonzero_params": 10}
    return {"title": "t", "variants": {
        "dense": {"accuracy": 0.9, "params": 10, "macs": 100, "layers": {"a": layer},
                  "tflite": {"float": {"bytes": 1000, "latency_ms": 1.0}}},
        "pruned": {"accuracy": 0.85, "params": 5, "macs": 50,
                   "layers": {"a": {"params": 5, "nonzero_params": 5}},
                   "tflite": {"float": {"bytes": 500, "latency_ms": 0.5}}}},
        "sensitivity": {"a": [[0.0, 0.9], [0.5, 0.8]]},
        "sweep": {"cost": "macs", "quality": "accuracy", "trials": [
            {"macs": 1, "accuracy": 0.5}, {"macs": 2, "accuracy": 0.9}, {"macs": 3, "accuracy": 0.8}],
            "pareto": [0, 1]}}


def test_markdown_side_by_side():
    md = reports.render_markdown(_report())
    assert "| | dense | pruned |" in md
    assert "| .tflite float32 bytes | 1,000 | 500 |" in md
    assert "| a | 10 | 50.0% |" in md


def test_run_folder_replaces_previous_run_only_when_complete(tmp_path):
    out = tmp_path / "run"
    with reports.RunFolder(out) as stage:
        reports.write_report(stage, _report())
    assert (out / "report.json").exists()
    with pytest.raises(RuntimeError), reports.RunFolder(out) as stage:
        (open(os.path.join(stage, "new.txt"), "w")).close()
        raise RuntimeError("boom")
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_run_folder_refuses_file_and_foreign_folder(tmp_path):
    f = tmp_path / "f"
    f.write_text("keep")
    with pytest.raises(errors.ConfigError, match="is an existing file"):
        reports.RunFolder(f)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("keep")
    with pytest.raises(errors.ConfigError, match="not a tfprune run"):
        reports.RunFolder(tmp_path / "home")
    with pytest.raises(errors.ConfigError, match="not writable"):
        reports.RunFolder("/proc/run")
    assert f.read_text() == "keep"


def _staged_then_sleep(out, ready):
    """The body of a forked run: stage a half-written run in ``out``, say so, wait to be killed."""
    with reports.RunFolder(out) as stage:
        with open(os.path.join(stage, "report.json"), "w") as f:
            f.write("{}")
        with open(os.path.join(stage, "half.tflite"), "w") as f:
            f.write("x")
        os.write(ready, b"staged\n")
        time.sleep(600)


@pytest.mark.slow
def test_killed_run_leaves_previous_run_intact(tmp_path):
    out = tmp_path / "run"
    with reports.RunFolder(out) as stage:
        reports.write_report(stage, _report())
    before = sorted(p.name for p in out.iterdir())
    # a real process killed mid-run: forked from this one (RunFolder needs no TensorFlow; a new
    # interpreter would spend ~12 CPU-seconds importing it)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            os.close(read)
            _staged_then_sleep(str(out), write)
        finally:
            os._exit(1)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            assert pipe.readline().strip() == "staged"
    finally:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert sorted(p.name for p in out.iterdir()) == before  # never a mix of two runs
    assert json.loads((out / "report.json").read_text())["title"] == "t"
    # the next run cleans the dead run's staging folder
    with reports.RunFolder(out) as stage:
        reports.write_report(stage, _report())
    assert sorted(x.name for x in tmp_path.iterdir()) == ["run"]
