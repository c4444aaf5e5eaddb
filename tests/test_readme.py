"""Docs that cannot lie: every ```python block of README.md runs, in order, in one namespace.

Blocks run in a temporary folder. To keep the suite fast, ``epochs=<n>`` in a block runs as
``epochs=1`` (the API calls are the same; only the training budget shrinks).
"""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"),
                    flags=re.S | re.M)
_NS = {"__name__": "__readme__"}


def test_readme_has_python_blocks():
    assert BLOCKS, "README.md has no ```python block"


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_block_runs(i, tmp_path_factory, monkeypatch):
    folder = tmp_path_factory.getbasetemp() / "readme"
    folder.mkdir(exist_ok=True)
    monkeypatch.chdir(folder)
    code = re.sub(r"\bepochs=\d+", "epochs=1", BLOCKS[i])
    exec(compile(code, f"README.md block {i + 1}", "exec"), _NS)  # noqa: S102
