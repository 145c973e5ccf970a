# AutoGrid developer entry points. `make run` is the embedded mode (no server to install);
# `make test` runs every test against the PostgreSQL and Redis on 127.0.0.1 (see tests/infra.py).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Rebuilt whenever pyproject.toml changes, so new dependencies get installed before the next run.
STAMP := $(VENV)/.installed

.PHONY: install run test lint migrate worker beat bench up down

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "AutoGrid needs Python >= 3.11; set PYTHON=python3.11 (or newer)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# promtool checks and unit-tests the alert rules in monitoring/ (tests/delivery/test_alert_rules.py).
# Taken from Debian's prometheus package without installing it (no service, no root needed); where
# that cannot be done the test says so (and fails under CI=true).
PROMTOOL := $(BIN)/promtool
$(PROMTOOL): | $(STAMP)
	@tmp=$$(mktemp -d) && ( cd "$$tmp" && apt-get download prometheus >/dev/null 2>&1 \
		&& dpkg-deb -x prometheus_*.deb unpacked && cp unpacked/usr/bin/promtool "$(abspath $(PROMTOOL))" ) \
		|| echo "promtool could not be installed (apt-get download prometheus failed)"; rm -rf "$$tmp"

# API, worker and beat together; PORT=9000 make run (or make run PORT=9000) picks the port.
# exec: the shell becomes `autogrid dev`, so `kill <pid of make>` (make passes SIGTERM on to its
# children) reaches the supervisor, which stops the API, worker and beat.
run: $(STAMP)
	exec env $(if $(PORT),PORT=$(PORT)) $(BIN)/autogrid dev

# Two processes: most tests wait on PostgreSQL, Redis or a worker, so two share a small machine
# well; each has its own database and Redis prefix. PYTEST_ARGS="-n 0 -x" runs them in one.
PYTEST_ARGS ?= -n 2 --durations=15
test: $(STAMP) $(PROMTOOL)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

migrate: $(STAMP)
	$(BIN)/autogrid migrate

worker: $(STAMP)
	$(BIN)/autogrid worker

beat: $(STAMP)
	$(BIN)/autogrid beat

# Every bench/bench_*.py script in turn; the first failure stops the run. The long runs
# (bench/chaos.py, bench/soak_dev.py) take their duration as an argument and are run by hand.
bench: $(STAMP)
	@set -e; for script in bench/bench_*.py; do \
		[ -e "$$script" ] || continue; \
		echo "== $$script"; \
		$(BIN)/python "$$script"; \
	done

up:
	docker compose up -d --build

down:
	docker compose down
