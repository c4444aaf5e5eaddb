import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parent / "scripts" / "mirrored_masks.py"


@pytest.fixture(scope="module")
def runs():
    r = subprocess.run([sys.executable, str(SCRIPT), "layer", "global"], capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def overall_sparsity(masks):
    zeros = sum(int((np.array(m) == 0).sum()) for m in masks)
    return zeros / sum(np.array(m).size for m in masks)


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_mirrored_strategy_gives_the_same_masks_as_one_device(runs, scope):
    one, two = runs[scope]["one"], runs[scope]["two"]
    assert two["replicas"] == 2
    assert one["step"] == two["step"] == 16
    assert abs(overall_sparsity(two["masks"]) - 0.7) < 0.01
    for a, b in zip(one["masks"], two["masks"]):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    for a, b in zip(one["kernels"], two["kernels"]):
        np.testing.assert_allclose(a, b, atol=1e-5)
