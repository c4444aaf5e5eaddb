"""MultiWorkerMirroredStrategy: 2 worker processes on loopback end with the same masks (its own
file, so pytest-xdist runs it next to test_distribute.py's MirroredStrategy subprocess)."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "multiworker.py"


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_on_loopback_agrees_across_workers(tmp_path):
    # one TensorFlow import; the two workers are processes forked from it (multiworker.py)
    ports = [str(p) for p in _free_ports(2)]
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path), *ports],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):  # a worker left by a failure
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-3000:]
    assert sorted(out.splitlines()) == ["worker 0 exit 0", "worker 1 exit 0"], err[-3000:]
    outs = [json.loads((tmp_path / f"worker-{i}.json").read_text()) for i in range(2)]
    assert outs[0]["step"] == outs[1]["step"] == 16
    for a, b in zip(outs[0]["masks"], outs[1]["masks"], strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
        assert abs((np.array(a) == 0).mean() - 0.7) < 0.02
