# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make demo   - create .venv, install, run the main job (results under outputs/demo/)
#   make test   - create .venv, install, run the whole test suite
# Anything else here is a convenience for developers.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean app

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3.11, python3.12 or python3 on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# The main job: current practice vs the Ideal Pathway vs national commissioning, with common
# random numbers. Sized to finish in under 5 minutes on 2 cores: all of England, the scenario's
# 12-year warm-up, 5 measured years, 3 replications per scenario. --policy-start 0 compares
# steady states (each scenario under its own rules from t = 0): the campaigners' "deaths a
# year avoided" and the cost per QALY are those of the pathway once in place, not of its first
# five years (drop it to see the transition from today's backlog). Override with e.g.
# make demo DEMO_RUN="--replications 10 --years 10 --policy-start 0".
DEMO_SCENARIOS := scenarios/current_practice.toml scenarios/ideal_pathway.toml \
	scenarios/national_commissioning.toml
DEMO_RUN ?= --replications 3 --years 5 --scale 1 --policy-start 0

demo: $(STAMP)
	$(BIN)/nenpath compare $(DEMO_SCENARIOS) $(DEMO_RUN) --out outputs/demo --force
	@echo "Open outputs/demo/report.html in a browser (numbers: outputs/demo/comparison.csv)."

# The web app on http://localhost:8501 (nenpath app --port N for another port).
app: $(STAMP)
	$(BIN)/nenpath app

# The whole suite, after the linters (ruff, mypy and the import-linter layers contract).
test: lint
	$(BIN)/python -m pytest

# For quick iteration: everything but the whole-command runs (tests/e2e, marked slow).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check sim tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	for b in national engine_overhead scaling parallel demo crn branching; do $(BIN)/python benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) outputs
