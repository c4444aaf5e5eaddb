import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "mirrored_masks.py"


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
    for a, b in zip(one["masks"], two["masks"], strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    for a, b in zip(one["kernels"], two["kernels"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def _free_ports(n):
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_on_loopback_agrees_across_workers():
    script = Path(__file__).parents[1] / "scripts" / "multiworker.py"
    ports = [str(p) for p in _free_ports(2)]
    procs = [subprocess.Popen([sys.executable, str(script), str(i), *ports],
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
