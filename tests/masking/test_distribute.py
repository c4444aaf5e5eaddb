"""MirroredStrategy on 2 logical CPUs gives what one device gives: masks and weights in both
scopes, statistics for every data criterion (one subprocess: the devices must exist before
TensorFlow starts). The multi-worker test is in test_multiworker.py (its own pytest-xdist file)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "mirrored_runs.py"
MIRRORED_CRITERIA = ["taylor", "obd", "movement", "apoz"]


@pytest.fixture(scope="module")
def runs():
    """What mirrored_runs.py printed: ``masks`` and ``stats-<criterion>`` results."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    found = {}
    for ln in r.stdout.splitlines():
        if ln.startswith("RESULT "):
            _, name, payload = ln.split(" ", 2)
            found[name] = json.loads(payload)
    return found


def overall_sparsity(masks):
    zeros = sum(int((np.array(m) == 0).sum()) for m in masks)
    return zeros / sum(np.array(m).size for m in masks)


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_mirrored_strategy_gives_the_same_masks_as_one_device(runs, scope):
    one, two = runs["masks"][scope]["one"], runs["masks"][scope]["two"]
    assert two["replicas"] == 2
    assert one["step"] == two["step"] == 16
    assert abs(overall_sparsity(two["masks"]) - 0.7) < 0.01
    for a, b in zip(one["masks"], two["masks"], strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    for a, b in zip(one["kernels"], two["kernels"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("criterion", MIRRORED_CRITERIA)
def test_statistics_equal_with_and_without_mirrored_strategy(criterion, runs):
    assert f"stats-{criterion}" in runs, sorted(runs)
    out = runs[f"stats-{criterion}"]
    assert out["single"].keys() == out["mirrored"].keys()
    assert len(out["single"]) > 1
    for name, value in out["single"].items():
        np.testing.assert_allclose(out["mirrored"][name], value, rtol=2e-5, atol=1e-6,
                                   err_msg=name)
