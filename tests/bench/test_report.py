"""bench/report.py renders BENCHMARKS.md and the plots from a small suite.json fixture."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _report():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_report", BENCH / "report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cell(seed, kind, method, ratio, acc, nonzero, macs, exported):
    c = {"key": f"{seed}/demo_cnn/{kind}/{method}/{ratio}", "net": "demo_cnn", "seed": seed,
         "kind": kind, "method": method, "ratio": ratio, "status": "ok", "accuracy": acc,
         "params": 1000 if kind != "channel" else 500, "nonzero_params": nonzero, "macs": macs,
         "seconds": 10.0, "load_average": 2.0}
    if exported:
        c.update(float_bytes=4000, int8_bytes=1200, compressed_bytes=1200 if kind != "weight"
                 else 400, arena_bytes=900, latency_ms=0.1 if kind != "channel" else 0.05)
    return c


def _fixture(tmp_path):
    cells = []
    for seed, da in ((0, 0.95), (1, 0.97)):
        cells += [_cell(seed, "dense", "dense", 1, da, 1000, 10_000, seed == 0),
                  _cell(seed, "weight", "tfmot", 4, da - 0.02, 250, 10_000, seed == 0),
                  _cell(seed, "weight", "magnitude_global", 4, da - 0.005, 250, 10_000,
                        seed == 0),
                  _cell(seed, "channel", "l2", 2, da - 0.03, 500, 5_000, seed == 0)]
    cells.append({"key": "0/demo_cnn/channel/sensitivity/2", "net": "demo_cnn", "seed": 0,
                  "kind": "channel", "method": "sensitivity", "ratio": 2, "status": "failed",
                  "error": "ConfigError: unreachable", "seconds": 1.0})
    suite = {"config": {"seeds": [0, 1], "dense_epochs": 1, "epochs": 1, "batch": 128,
                        "export_seeds": [0]},
             "machine": {"cpus": 2, "platform": "test", "python": "3.11",
                         "load_average_start": [1.5, 1, 1]},
             "command": "python bench/run.py --quick", "complete": False, "minutes": 1.0,
             "not_run": ["1/demo_cnn/channel/sensitivity/2"],
             "networks": {"demo_cnn": "demo CNN"},
             "methods": {"weight": {"tfmot": "TF-MOT", "magnitude_global": "magnitude global"},
                         "channel": {"l2": "L2", "sensitivity": "sensitivity"}},
             "cells": cells}
    (tmp_path / "suite.json").write_text(json.dumps(suite))


@pytest.mark.slow
def test_report_renders_tables_and_plots(tmp_path):
    _fixture(tmp_path)
    out = tmp_path / "B.md"
    _report().main(["--results", str(tmp_path), "--out", str(out)])
    md = out.read_text()
    assert "| TF-MOT | 94.0 ± 1.4 |" in md          # mean ± std over the two seeds
    assert "| magnitude global | 95.5 ± 1.4 |" in md
    assert "| L2 | 2 | 93.0 ± 1.4 | 5,000 |" in md      # channel row, speedup from latency
    assert "2.00×" in md
    assert "0.333 of the dense int8 model" in md      # 400 B compressed vs 1,200 B int8
    assert "INCOMPLETE: 1 cells not run" in md and "ConfigError: unreachable" in md
    for name in ("accuracy_vs_compression", "accuracy_vs_macs", "accuracy_vs_latency"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
        assert f"]({name}.png)" in md
