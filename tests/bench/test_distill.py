"""bench/distill.py and bench/collapse.py: their tables and BENCHMARKS.md sections (no
training here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(net, distill, acc, target):
    t = (4.0, 0.9) if distill else (None, None)
    return {"network": net, "pruned": "99 % weights", "distill": distill, "accuracy": acc,
            "dense_accuracy": 0.956, "target": target, "epochs": 4, "lr": 1e-3, "seed": 0,
            "temperature": t[0], "alpha": t[1]}


ROWS = [_row("demo", False, 0.909, ">= 95.0 %"), _row("demo", True, 0.951, ">= 95.0 %"),
        _row("lenet", False, 0.940, "within 0.5 of dense")]


def test_distill_table_pairs_plain_and_teacher_rows():
    table = _load("distill").table(ROWS)
    assert "| demo | 99 % weights | 95.6 | 90.9 | 95.1 | 4, 0.9 | >= 95.0 % | 4 |" in table
    assert "| lenet | 99 % weights | 95.6 | 94.0 | — | — |" in table


def test_extras_distill_section_says_which_targets_are_met():
    text = "\n".join(_load("extras").distill_section({"rows": ROWS}))
    assert "| demo | 99 % weights | 95.6 | 90.9 | 95.1 | 4, 0.9 | >= 95.0 % | yes |" in text
    assert "| lenet | 99 % weights | 95.6 | 94.0 | – | – | within 0.5 of dense | no |" in text
    assert _load("extras").distill_section(None) == []


def test_extras_collapse_section():
    layers = {"fc": {"kept_weights": 1, "empty_out": 9}, "pw1": {"kept_weights": 9,
                                                                  "empty_out": 1}}
    d = {"command": "python bench/collapse.py", "rows": [
        {"method": "magnitude_global", "ratio": 8.0, "guard": "off", "acc": 0.084,
         "acc_bn_recalibrated": 0.084, "layers": layers}]}
    text = "\n".join(_load("extras").collapse_section(d))
    assert "| magnitude_global | 8 | off | 8.4 | 8.4 | 1 | 10 |" in text
