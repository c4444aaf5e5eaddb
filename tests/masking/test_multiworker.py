"""MultiWorkerMirroredStrategy: 2 worker processes on loopback end with the same masks (its own
file, so pytest-xdist runs it next to test_distribute.py's MirroredStrategy subprocess)."""

import json
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
def test_multi_worker_mirrored_strategy_on_loopback_agrees_across_workers():
    ports = [str(p) for p in _free_ports(2)]
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), str(i), *ports],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert outs[0]["step"] == outs[1]["step"] == 16
    for a, b in zip(outs[0]["masks"], outs[1]["masks"], strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
        assert abs((np.array(a) == 0).mean() - 0.7) < 0.02
