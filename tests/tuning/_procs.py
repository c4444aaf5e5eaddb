"""Helpers of the multi-process sweep tests: start sweep_script.py, read the trials it wrote."""

import glob
import json
import os
import subprocess
import sys

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
