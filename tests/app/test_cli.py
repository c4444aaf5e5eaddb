import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

import tfprune
from tfprune import errors
from tfprune.app.cli import main
from tfprune.app.demo import check_out_dir, run_demo


def test_version_and_help():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and tfprune.__version__ in r.output
    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0 and "demo" in r.output
    r = CliRunner().invoke(main, ["demo", "--help"])
    assert "--sparsity" in r.output and "--quick" in r.output


def test_demo_refuses_out_that_is_a_file_before_training(tmp_path):
    f = tmp_path / "report"
    f.write_text("keep me")
    r = CliRunner().invoke(main, ["demo", "--quick", "--out", str(f)])
    assert r.exit_code == 2
    assert "is an existing file" in r.output
    assert f.read_text() == "keep me"


def test_demo_refuses_unwritable_folder():
    # /proc exists and is a folder, but no file can be created in it (even by root)
    with pytest.raises(errors.ConfigError, match="not writable"):
        check_out_dir("/proc")


def test_demo_refuses_folder_that_cannot_be_created(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(errors.ConfigError, match="cannot create the folder"):
        run_demo(str(f / "sub"), quick=True)
    assert list(tmp_path.iterdir()) == [f]


@pytest.mark.parametrize("bad", ["1.0", "-0.5", "0"])
def test_demo_refuses_bad_sparsity_before_training(tmp_path, bad):
    out = tmp_path / "o"
    r = CliRunner().invoke(main, ["demo", "--quick", "--out", str(out), "--sparsity", bad])
    assert r.exit_code == 2 and "sparsity" in r.output
    assert not out.exists()


@pytest.mark.slow
def test_demo_quick_end_to_end_writes_report(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "tfprune.app.cli", "demo", "--quick", "--quiet",
                        "--out", str(out), "--sparsity", "0.8"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "report:" in r.stdout
    rep = json.loads((out / "report.json").read_text())
    assert rep["pruned"]["sparsity"] > 0.75 and rep["dense"]["sparsity"] < 0.01
    assert rep["pruned"]["nonzero_params"] < 0.3 * rep["dense"]["nonzero_params"]
    assert rep["pruned"]["tflite_bytes"] < rep["dense"]["tflite_bytes"]
    assert rep["pruned"]["accuracy"] > 0.5
    assert set(rep["pruned"]["layers"]) == {"conv1", "conv2", "fc1", "fc2"}
    md = (out / "report.md").read_text()
    assert "| accuracy" in md and "Per-layer sparsity" in md
    assert (out / "pruned.tflite").stat().st_size == rep["pruned"]["tflite_bytes"]
    assert not [p for p in out.iterdir() if p.name.startswith(".tfprune-")]  # no temp files left


def test_shipped_recipes_are_valid():
    from pathlib import Path

    from tfprune.app.recipes import load_demo_recipe

    root = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(root.glob("*.yaml"))
    assert files
    for f in files:
        assert isinstance(load_demo_recipe(str(f)), dict)


@pytest.mark.parametrize("text, match", [
    ("sparsty: 0.8", r"'sparsty' is not a known key. Valid keys: .*sparsity"),
    ("sparsity: 1.5", r"key 'sparsity'"),
    ("dense_epochs: two", r"key 'dense_epochs'"),
    ("- a\n- b", "mapping"),
    ("a: [", "not valid YAML"),
])
def test_bad_recipe_names_the_key(tmp_path, text, match):
    f = tmp_path / "r.yaml"
    f.write_text(text)
    out = tmp_path / "o"
    r = CliRunner().invoke(main, ["demo", "--config", str(f), "--out", str(out)])
    assert r.exit_code == 2
    assert re.search(match, " ".join(r.output.split()))
    assert not out.exists()
