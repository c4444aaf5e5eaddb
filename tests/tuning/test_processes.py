"""A sweep killed inside a trial resumes in a new process without losing or repeating trials.

(The chief + 2 workers test is in test_distributed.py: two files let the two pytest-xdist
workers of ``make test`` run the two multi-process tests at the same time.)
"""

import os
import signal
import time

import pytest
from _procs import Sweeps, _runs, _trials


def _alive(pid):
    """Whether ``pid`` runs (a zombie, dead but not reaped yet, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_killed_sweep_resumes_without_losing_or_repeating_trials(tmp_path):
    sweeps = Sweeps(tmp_path)  # TensorFlow starts once; each sweep is a process forked from it
    try:
        pid = sweeps.start("stall", 3)
        t0 = time.time()
        while not (tmp_path / "stalled").exists():
            assert _alive(pid), sweeps.stderr()
            assert time.time() - t0 < 300, "the sweep never reached trial 1"
            time.sleep(0.3)
        os.killpg(pid, signal.SIGKILL)  # killed inside trial 1, after trial 0 was saved
        assert sweeps.wait() == [f"signal {int(signal.SIGKILL)}"]
        trials = _trials(tmp_path)
        assert trials["0"]["status"] == "COMPLETED" and trials["1"]["status"] == "RUNNING"

        sweeps.start("plain", 3)  # a new process resumes the sweep
        assert sweeps.wait() == ["exit 0"], sweeps.stderr()
    finally:
        sweeps.close()
    trials = _trials(tmp_path)
    assert sorted(trials) == ["0", "1", "2"]
    assert all(t["status"] == "COMPLETED" for t in trials.values())
    runs = [tid for _, tid in _runs(tmp_path)]
    assert runs == ["0", "1", "1", "2"]  # 0 not repeated; the killed 1 re-run once; 2 once
    values = {t["hyperparameters"]["values"]["sparsity"] for t in trials.values()}
    assert len(values) == 3  # three different points
