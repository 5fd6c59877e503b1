# phananh — two commands do everything: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: run test test-deep test-fast lint audit install bench load faults clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m backend.i18n
	touch $(STAMP)

install: $(STAMP)

## Serve the app in embedded mode (SQLite + in-process jobs) on http://127.0.0.1:5000
run: $(STAMP)
	$(BIN)/python -m backend.i18n
	$(BIN)/phananh run

## Lint, import contracts, then the whole test suite (real PostgreSQL/Redis when TEST_* are set)
test: $(STAMP) lint
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

## The deadline, calendar and workflow property tests with the long hypothesis profile: random examples, 1,500
## report histories against the KPI oracle (tests/oracle; ORACLE_HISTORIES=N to change), ten times make test's
## count for the calendar and workflow properties (tests/fixtures/examples.py). ~30 minutes on a busy 2-core box.
ORACLE_HISTORIES ?= 1500
test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep ORACLE_HISTORIES=$(ORACLE_HISTORIES) $(BIN)/pytest -q -n $(PYTEST_WORKERS) \
	  --dist loadfile tests/backend/services/deadlines/test_figures_oracle.py \
	  tests/backend/services/city/test_calendar_properties.py tests/backend/services/reports/test_workflow_properties.py

## The suite without browser tests (used for the second, SQLite pass in CI)
test-fast: $(STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not browser and not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

## pip-audit of the installed environment (not the project itself): a known vulnerability fails, unless
## accepted with a reason in .ci/audit-ignore.txt; an unreachable vulnerability service only warns
audit: $(STAMP)
	$(BIN)/python .ci/audit.py

## Every benchmark of DESIGN §14 on private PostgreSQL + Redis + gunicorn; writes bench/RESULTS.md
bench: $(STAMP)
	$(BIN)/python -m bench.run

## Mixed load (app intake with photos, webhook events, map and inbox reads) with loss checks
load: $(STAMP)
	$(BIN)/python -m bench.load

## Redis down, worker SIGKILL, PostgreSQL restart, unwritable media: nothing lost or doubled
faults: $(STAMP)
	$(BIN)/python -m bench.faults

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
