"""Docs that cannot lie: every ```python block of README.md runs, in order.

Blocks run in a temporary folder. To keep the suite fast, ``epochs=<n>`` in a block runs as
``epochs=1`` and ``mnist5k()`` returns the real MNIST-5k with its training split cut to its first
``MNIST_TRAIN`` images (the API calls are the same; only the training budget shrinks: one epoch
still passes a non-zero step of each AGP schedule in block 2, so weights are zeroed and channels
removed).

The blocks before the heading ``TAIL_HEADING`` run here, in order, in one namespace; the blocks
from that heading on run in order in a second namespace, in ``test_readme_tail.py`` (so two
pytest-xdist workers share the README; the tail's examples import what they use).
"""

import re
from pathlib import Path

import pytest

from tfprune.app import data

README = Path(__file__).resolve().parents[1] / "README.md"
_TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", _TEXT, flags=re.S | re.M)
TAIL_HEADING = "## Sensitivity, allocation and pruning to a budget"
TAIL = len(re.findall(r"^```python\n", _TEXT.split("\n" + TAIL_HEADING + "\n")[0], flags=re.M))
_NS = {"__name__": "__readme__"}
MNIST_TRAIN = 2000
_MNIST5K = data.mnist5k


def _mnist5k_cut(seed: int = 0):
    """``data.mnist5k(seed)`` with the training split cut to its first ``MNIST_TRAIN`` images."""
    (x, y), test = _MNIST5K(seed)
    return (x[:MNIST_TRAIN], y[:MNIST_TRAIN]), test


def assert_block_runs(i, namespace, tmp_path_factory, monkeypatch):
    """Run README block ``i`` (0-based) in ``namespace``, in the shared temporary folder."""
    folder = tmp_path_factory.getbasetemp() / "readme"
    folder.mkdir(exist_ok=True)
    monkeypatch.chdir(folder)
    monkeypatch.setattr(data, "mnist5k", _mnist5k_cut)
    code = re.sub(r"\bepochs=\d+", "epochs=1", BLOCKS[i])
    exec(compile(code, f"README.md block {i + 1}", "exec"), namespace)  # noqa: S102


def test_readme_has_python_blocks():
    assert BLOCKS, "README.md has no ```python block"
    assert 0 < TAIL < len(BLOCKS), f"README.md has no python block before and after {TAIL_HEADING!r}"


@pytest.mark.slow
@pytest.mark.parametrize("i", range(TAIL))
def test_readme_block_runs(i, tmp_path_factory, monkeypatch):
    assert_block_runs(i, _NS, tmp_path_factory, monkeypatch)
