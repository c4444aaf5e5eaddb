"""The README.md python blocks from ``test_readme.TAIL_HEADING`` on, in order, in one namespace
(the first half and the rules are in test_readme.py)."""

import pytest
from test_readme import BLOCKS, TAIL, assert_block_runs

_NS = {"__name__": "__readme__"}


@pytest.mark.slow
@pytest.mark.parametrize("i", range(TAIL, len(BLOCKS)))
def test_readme_tail_block_runs(i, tmp_path_factory, monkeypatch):
    assert_block_runs(i, _NS, tmp_path_factory, monkeypatch)
