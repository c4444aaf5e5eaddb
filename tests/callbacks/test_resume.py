import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "resume_run.py"
SCOPES = ("layer", "global")


@pytest.mark.slow
def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path):
    # one TensorFlow start, two processes forked from it (see resume_run.py): the first runs,
    # for each scope, an uninterrupted run, then a run that dies after epoch 2
    log = tmp_path / "stderr.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, str(SCRIPT), "fork", str(tmp_path)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                text=True)
    try:
        killed = proc.stdout.readline().split()
        if killed != ["killed", "exit", "17"]:  # the process did not die mid-fit
            proc.kill()
            pytest.fail(f"{killed}: {log.read_text()[-2000:]}")
        for scope in SCOPES:
            assert (tmp_path / f"full-{scope}.json").exists()
            assert not (tmp_path / f"killed-{scope}.json").exists()  # neither fit finished
            assert (tmp_path / f"bk-{scope}").is_dir()  # each left its epoch-2 backup
        # a new process resumes both from their backups
        out, _ = proc.communicate("go\n", timeout=600)
    finally:
        proc.kill()
    assert out.split() == ["resume", "exit", "0"], log.read_text()[-2000:]
    assert proc.returncode == 0, log.read_text()[-2000:]
    for scope in SCOPES:
        a = json.loads((tmp_path / f"full-{scope}.json").read_text())
        b = json.loads((tmp_path / f"resume-{scope}.json").read_text())
        assert (a["epochs_run"], b["epochs_run"]) == (4, 2), scope  # resumed after epoch 2
        assert a["step"] == b["step"] == 32, scope
        for ma, mb in zip(a["masks"], b["masks"], strict=True):
            np.testing.assert_array_equal(np.array(ma), np.array(mb), err_msg=scope)
        sparsity = 1 - np.mean(np.concatenate([np.ravel(m) for m in b["masks"]]))
        assert abs(sparsity - 0.8) < 0.01, scope
        for wa, wb in zip(a["weights"], b["weights"], strict=True):
            np.testing.assert_allclose(np.array(wa), np.array(wb), atol=1e-6, err_msg=scope)
