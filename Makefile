# One entry point for a newcomer: `make run` (embedded demo) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench-quick stack-test clean venv

venv: $(STAMP)

# Three distributions: the product (.), drssim (sim/) and the development tooling (devtools/).
$(STAMP): pyproject.toml sim/pyproject.toml devtools/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./sim -e ./devtools
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/poller-dev demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check poller sim/drssim devtools/poller_devtools tests bench
	$(BIN)/ruff format --check poller sim/drssim devtools/poller_devtools tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

# The suite is mostly waits on moto and drssim over sockets: TEST_WORKERS processes (pytest-xdist)
# each run their own servers on free ports; tests marked slow start first (tests/conftest.py).
TEST_WORKERS ?= 3

test: lint typecheck $(STAMP)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist load

# The container path for real, on a Docker engine (skipped, saying why, when none answers): builds
# the images, runs the compose stack, a DRILL and a RECOVERY through the API, every dashboard query
# and alert rule on Prometheus, a clean stop. Minutes; not part of `make test`, which needs no Docker.
stack-test: $(STAMP)
	$(BIN)/pytest -m container -s -p no:cacheprovider tests/container

bench-quick: $(STAMP)
	$(BIN)/python bench/bench_scale.py --executions 100 --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
