"""Recipes and the CLI's data check take any task (issue 27): `task:` and float targets."""

import numpy as np
import pytest

from tfprune import errors
from tfprune.app import data as data_lib
from tfprune.app.recipes import load_recipe_text
from tfprune.compat import keras

L = keras.layers


def _reg():
    return keras.Sequential([keras.Input((3,)), L.Dense(4, activation="relu"),
                             L.Dense(1, name="price")], name="reg")


def test_recipe_task_key_and_default_loss():
    r = load_recipe_text("model: m.keras\ntask: regression\ndata: {source: d.npz}\n")
    assert r["task"] == "regression"
    with pytest.raises(errors.ConfigError, match="task"):
        load_recipe_text("model: m.keras\ntask: segmentation\ndata: {source: d.npz}\n")
    assert data_lib.default_loss(_reg(), np.array([6.5, 7.0])) == "mse"
    assert data_lib.default_loss(_reg(), np.array([0, 1]), task="binary") == "binary_crossentropy"


@pytest.mark.slow
def test_cli_sensitivity_on_float_targets(tmp_path):
    from click.testing import CliRunner

    from tfprune.app.cli import main

    _reg().save(tmp_path / "reg.keras")
    rng = np.random.default_rng(0)
    x = rng.random((40, 3), dtype=np.float32)
    np.savez(tmp_path / "r.npz", x=x, y=(6 + 12 * x[:, 0]).astype("float32"))
    args = ["sensitivity", str(tmp_path / "reg.keras"), "--data", str(tmp_path / "r.npz"),
            "--levels", "0.5", "--samples", "16"]
    r = CliRunner().invoke(main, args + ["--metric", "mae"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, args)  # the default fits the output: mae for regression
    assert r.exit_code == 0 and "baseline mae" in r.output, r.output
    r = CliRunner().invoke(main, args + ["--metric", "accuracy"])  # does not apply
    assert r.exit_code == 2 and "cannot apply to output 'price'" in " ".join(r.output.split())
