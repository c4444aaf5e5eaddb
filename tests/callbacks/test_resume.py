import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "resume_run.py"


def run(mode, scope, tmp_path):
    out = tmp_path / f"{mode}-{scope}.json"
    r = subprocess.run([sys.executable, str(SCRIPT), mode, scope, str(tmp_path / f"bk-{scope}"),
                        str(out)], capture_output=True, text=True, timeout=600)
    return r, out


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path, scope):
    full, full_out = run("full", scope, tmp_path)
    assert full.returncode == 0, full.stderr[-2000:]
    killed, killed_out = run("killed", scope, tmp_path)
    assert killed.returncode == 17 and not killed_out.exists()  # died mid-fit
    resumed, resumed_out = run("resume", scope, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = json.loads(full_out.read_text()), json.loads(resumed_out.read_text())
    assert a["step"] == b["step"] == 32
    for ma, mb in zip(a["masks"], b["masks"], strict=True):
        np.testing.assert_array_equal(np.array(ma), np.array(mb))
    sparsity = 1 - np.mean(np.concatenate([np.ravel(m) for m in b["masks"]]))
    assert abs(sparsity - 0.8) < 0.01
    for wa, wb in zip(a["weights"], b["weights"], strict=True):
        np.testing.assert_allclose(np.array(wa), np.array(wb), atol=1e-6)
