"""bench/coverage.py stays importable and renders its table from a results dict (no models)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _coverage():
    spec = importlib.util.spec_from_file_location("bench_coverage", BENCH / "coverage.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FAKE = {
    "cells": {
        "keras3/MobileNet/a": {"status": "ok", "cpu_seconds": 93.4},
        "keras3/MobileNet/b": {"status": "fail",
                               "message": "[shrink] ShapeError: bad | shape\nsecond line"},
        "keras3/lstm/a": {"status": "ok"},
        "keras3/lstm/c": {"status": "timeout", "message": "[sensitivity] timeout after 300 s"},
        "keras3/VGG16/a": {"status": "crash", "message": "process ended (-9): no message"},
        "tf_keras/lstm/a": {"status": "ok"},
    },
    "meta": {"machine": "x86_64, 2 cores", "tensorflow": "2.21.0", "keras": "3.15.1",
             "tf_keras": "2.21.0"},
}


def test_summary_counts_ok_cells_over_cells_run():
    cov = _coverage()
    assert cov.summary(FAKE, "keras3", "a") == (2, 3)
    assert cov.summary(FAKE, "keras3", "b") == (0, 1)
    assert cov.summary(FAKE, "tf_keras", "a") == (1, 1)
    assert cov.summary(FAKE, "tf_keras", "b") == (0, 0)


def test_render_table_rows_cells_and_summary_lines():
    cov = _coverage()
    md = cov.render(FAKE, command="python bench/coverage.py")
    assert "`python bench/coverage.py`" in md
    assert "**2/3 ✓ for (a), 0/1 ✓ for (b), 0/1 ✓ for (c)**" in md
    assert "**1/1 ✓ for (a)**" in md
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    # families first, then small applications, big ones last; one header row per flavour
    names = [r.split("|")[1].strip() for r in rows if not r.startswith("| model")]
    assert names == ["lstm", "MobileNet", "VGG16", "lstm"]
    mobilenet = next(r for r in rows if r.startswith("| MobileNet "))
    # the pipe in the message is escaped, only the first line kept, unrun cells are "—"
    # the last column: CPU seconds of (a)/(b)/(c), "-" where none was recorded
    assert mobilenet == ("| MobileNet | ✓ | [shrink] ShapeError: bad \\| shape second line | — "
                         "| 93/-/- |")
    for r in rows:
        assert len(re.split(r"(?<!\\)\|", r)) == 7, r  # 5 columns in every row
    assert "Keras 3.15.1" in md


def test_cell_text_truncates_long_messages():
    cov = _coverage()
    text = cov._cell_text({"status": "fail", "message": "x" * 500}, width=50)
    assert len(text) == 50 and text.endswith("…")
    assert cov._cell_text(None) == "—"


def test_doctests():
    # (``pytest --doctest-modules bench/coverage.py`` clashes with the ``coverage`` package.)
    import doctest

    r = doctest.testmod(_coverage())
    assert r.attempted >= 3 and r.failed == 0


# run in a fresh process: the test arms RLIMIT_CPU, which must never be set on a pytest worker
# (a long-lived xdist worker fired at once: 0.0 CPU seconds recorded)
_SPIN = """
import importlib.util, json, resource, sys
spec = importlib.util.spec_from_file_location("bench_coverage", sys.argv[1])
cov = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cov)

def burn(flavour, name, stage, tmp, timeout):
    stage("spin")
    x = 0
    while True:  # pure CPU until the RLIMIT_CPU signal (the wall backstop is far off)
        x += 1

cov.RUNNERS["a"] = burn
cell = cov.run_cell("keras3", "m", "a", cpu_limit=1, wall_limit=120)
soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
print(json.dumps({"cell": cell, "disarmed": soft == hard}))
"""


def test_cell_limit_counts_cpu_seconds_and_records_them():
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _SPIN, str(BENCH / "coverage.py")],
                         capture_output=True, text=True, timeout=300, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    cell = got["cell"]
    assert cell["status"] == "timeout"
    assert cell["message"] == "[spin] timeout: CPU limit 1 s"
    assert cell["cpu_seconds"] >= 1
    assert got["disarmed"]  # the next cell starts with its own budget


def test_save_results_merges_cells_of_drivers_side_by_side(tmp_path):
    cov = _coverage()
    path = str(tmp_path / "c.json")
    cov.save_results({"cells": {"keras3/a/a": {"status": "ok"}}}, path)
    merged = cov.save_results({"meta": {"keras": "3"}}, path,
                              cells={"tf_keras/b/a": {"status": "fail", "message": "x"}})
    assert set(merged["cells"]) == {"keras3/a/a", "tf_keras/b/a"}
    assert cov.load_results(path) == merged and merged["meta"] == {"keras": "3"}
