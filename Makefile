PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tfprune-installed

.PHONY: demo demo-quick test test-fast test-app lint bench bench-quick clean-venv

# Reuse an existing .venv; create and install it only when missing.
$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) (set PY=python3.x)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# The demo CNN pruned both ways (weights vs channels + shrink), float/int8/TFLM exports.
demo: $(STAMP)
	$(BIN)/tfprune demo --out demo_out

demo-quick: $(STAMP)
	$(BIN)/tfprune demo --quick --out demo_out

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --doctest-modules --nbval-lax tfprune tests notebooks

# The edit loop: everything but the tests marked slow (and the notebooks).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 3 --dist loadfile -m "not slow" --doctest-modules tfprune tests

test-app: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules --nbval-lax \
		tfprune/app tests/app tests/test_readme.py notebooks

lint: $(STAMP)
	$(BIN)/ruff check tfprune tests bench

# Benchmarks (never part of `make test`): the one suite, bench/run.py (see its docstring):
# demo CNN + DS-CNN on MNIST-5k, weight ratios 2..32 and MAC ratios 2..4 per method, 3 seeds;
# results in bench/results/suite.json (resumable), BENCHMARKS.md and plots from bench/report.py.
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--budget-min 50" or "--extras shrink compress".
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Every stage on a small grid (demo CNN, 1 seed, ratios 4/16, MAC ratio 2): < 10 min.
# Writes bench/results/quick/ (suite.json, plots, BENCHMARKS.md).
bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
