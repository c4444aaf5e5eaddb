"""Sweeps as separate processes: resume after a kill, and chief + 2 workers on loopback."""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "sweep_script.py")


def _env(**extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
    for k in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(k, None)
    env.update(extra)
    return env


def _start(directory, mode, max_trials, **env):
    return subprocess.Popen([sys.executable, SCRIPT, str(directory), mode, str(max_trials)],
                            env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _finish(proc, timeout=400):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()[-3000:]


def _trials(directory):
    out = {}
    for path in glob.glob(os.path.join(directory, "sweep", "trial_*", "trial.json")):
        with open(path) as f:
            t = json.load(f)
        out[t["trial_id"]] = t
    return out


def _runs(directory):
    with open(os.path.join(directory, "runs.log")) as f:
        return [line.split() for line in f.read().splitlines()]


@pytest.mark.slow
def test_killed_sweep_resumes_without_losing_or_repeating_trials(tmp_path):
    proc = _start(tmp_path, "stall", 3)
    t0 = time.time()
    while not (tmp_path / "stalled").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() - t0 < 300, "the sweep never reached trial 1"
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)  # killed inside trial 1, after trial 0 was saved
    proc.wait()
    trials = _trials(tmp_path)
    assert trials["0"]["status"] == "COMPLETED" and trials["1"]["status"] == "RUNNING"

    _finish(_start(tmp_path, "plain", 3))
    trials = _trials(tmp_path)
    assert sorted(trials) == ["0", "1", "2"]
    assert all(t["status"] == "COMPLETED" for t in trials.values())
    runs = [tid for _, tid in _runs(tmp_path)]
    assert runs == ["0", "1", "1", "2"]  # 0 not repeated; the killed 1 re-run once; 2 once
    values = {t["hyperparameters"]["values"]["sparsity"] for t in trials.values()}
    assert len(values) == 3  # three different points


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_share_one_sweep(tmp_path):
    net = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    chief = _start(tmp_path, "dist", 2, KERASTUNER_TUNER_ID="chief", **net)
    workers = [_start(tmp_path, "dist", 2, KERASTUNER_TUNER_ID=f"tuner{i}", **net) for i in (0, 1)]
    for w in workers:
        _finish(w)
    _finish(chief, timeout=120)
    trials = _trials(tmp_path)
    assert sorted(trials) == ["0", "1"]
    assert all(t["status"] == "COMPLETED" for t in trials.values())
    runs = _runs(tmp_path)
    assert sorted(tid for _, tid in runs) == ["0", "1"]  # each trial ran once
    assert {tuner for tuner, _ in runs} == {"tuner0", "tuner1"}  # both workers worked
    by = {}
    for path in glob.glob(os.path.join(tmp_path, "sweep", "trial_*", "measures.json")):
        with open(path) as f:
            r = json.load(f)
        by[r["trial_id"]] = r["tuner_id"]
    assert by == {tid: tuner for tuner, tid in runs}
    assert os.path.exists(tmp_path / "sweep" / "oracle.json")
