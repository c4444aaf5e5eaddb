import math
import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tfprune.tuning import pareto

AXES = [("acc", "max"), ("macs", "min")]


def _dominates(a, b):
    return a["acc"] >= b["acc"] and a["macs"] <= b["macs"] and (a["acc"] > b["acc"]
                                                                or a["macs"] < b["macs"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(1, 100)), min_size=1, max_size=25))
def test_front_is_exactly_the_non_dominated_rows(points):
    rows = [{"trial_id": str(i), "acc": a, "macs": m} for i, (a, m) in enumerate(points)]
    front = pareto.front(rows, AXES)
    ids = {r["trial_id"] for r in front}
    for r in rows:
        dominated = any(_dominates(o, r) for o in rows)
        assert (r["trial_id"] in ids) == (not dominated)
    costs = [r["macs"] for r in front]
    assert costs == sorted(costs)


def test_rows_missing_an_axis_or_nan_are_left_out():
    rows = [{"trial_id": "0", "acc": 0.9, "macs": 10}, {"trial_id": "1", "acc": math.nan, "macs": 1},
            {"trial_id": "2", "acc": 0.99}]
    assert [r["trial_id"] for r in pareto.front(rows, AXES)] == ["0"]


def test_three_axes():
    rows = [{"trial_id": "0", "acc": 0.9, "macs": 10, "ms": 5},
            {"trial_id": "1", "acc": 0.9, "macs": 10, "ms": 4},
            {"trial_id": "2", "acc": 0.8, "macs": 5, "ms": 9}]
    front = pareto.front(rows, AXES + [("ms", "min")])
    assert sorted(r["trial_id"] for r in front) == ["1", "2"]


def test_table_prints_and_renders_markdown():
    t = pareto.Table([{"trial_id": "0", "acc": 0.5}, {"trial_id": "1", "macs": 123456.0}])
    assert t.columns == ["trial_id", "acc", "macs"]
    assert str(t).splitlines()[0].split() == ["trial_id", "acc", "macs"]
    assert t.to_markdown().splitlines()[1] == "|---|---|---|"


def test_plot_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"trial_id": str(i), "acc": float(rng.random()), "macs": int(rng.integers(1, 99))}
            for i in range(8)]
    path = pareto.plot(rows, tmp_path / "sub" / "p.png", quality=AXES[0], cost=AXES[1])
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path / "sub") == ["p.png"]  # no temporary file left
