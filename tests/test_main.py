"""``python -m tfprune`` is the command line (tfprune/__main__.py)."""

import runpy
import sys

import pytest


def test_python_m_tfprune_runs_the_cli(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["python -m tfprune", "--version"])
    with pytest.raises(SystemExit) as e:
        runpy.run_module("tfprune", run_name="__main__")
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith("tfprune, version ")
