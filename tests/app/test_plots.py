"""tfprune.app.plots: the report's figures."""

import pytest

from tests.app.test_reports import _report
from tfprune.app import plots


@pytest.mark.slow
def test_plots_are_pngs(tmp_path):
    files = plots.all_plots(_report(), str(tmp_path))
    assert files == ["plots/sparsity_per_layer.png", "plots/accuracy_vs_cost.png",
                     "plots/sensitivity.png", "plots/pareto.png"]
    for f in files:
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
