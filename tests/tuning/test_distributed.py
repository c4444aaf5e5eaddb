"""A sweep shared by a chief and 2 workers on loopback, each its own process."""

import glob
import json
import os
import socket

import pytest
from _procs import Sweeps, _runs, _trials


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_share_one_sweep(tmp_path):
    net = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    sweeps = Sweeps(tmp_path)  # TensorFlow starts once; the 3 processes are forked from it
    try:
        sweeps.start("dist", 2, KERASTUNER_TUNER_ID="chief", **net)
        for i in (0, 1):
            sweeps.start("dist", 2, KERASTUNER_TUNER_ID=f"tuner{i}", **net)
        assert sweeps.wait() == ["exit 0"] * 3, sweeps.stderr()
    finally:
        sweeps.close()
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
