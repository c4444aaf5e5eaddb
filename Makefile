PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tfprune-installed

.PHONY: demo test lint bench clean-venv

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) (set PY=python3.x)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tfprune demo --out demo_out

test: $(STAMP)
	$(BIN)/python -m pytest -q --doctest-modules --nbval-lax tfprune tests notebooks

lint: $(STAMP)
	$(BIN)/ruff check tfprune tests bench

clean-venv:
	rm -rf $(VENV)
