# AutoGrid developer entry points. `make run` is the embedded mode (no server to install);
# `make test` runs every test against the PostgreSQL and Redis on 127.0.0.1 (see tests/infra.py).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Rebuilt whenever pyproject.toml or the lock changes, so new dependencies get installed first.
STAMP := $(VENV)/.installed
# The exact dependency set (versions and hashes) every install uses; `make lock` renews it.
DEV_LOCK := requirements/dev.lock
MAIN_LOCK := requirements/main.lock
LOCK_ARGS := --universal --generate-hashes --python-version 3.11 --quiet

.PHONY: install run test lint audit lock migrate worker beat bench up down

$(STAMP): pyproject.toml $(DEV_LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "AutoGrid needs Python >= 3.11; set PYTHON=python3.11 (or newer)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-resolve both locks to the newest releases pyproject.toml's ranges allow (after adding a
# dependency, or to take security fixes); then run make test and commit the locks.
# The image's lock is resolved within the dev lock, so both pin the same versions.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_ARGS) --upgrade -o $(DEV_LOCK)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_ARGS) -c $(DEV_LOCK) -o $(MAIN_LOCK)

# Known vulnerabilities in the locked set, from PyPI's advisory data; says so when that cannot be
# reached instead of reporting a clean result it never checked.
audit: $(STAMP)
	$(BIN)/python tools/audit_dependencies.py $(DEV_LOCK)

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
# worksteal: a process that runs out of tests takes some of the other's remaining ones, so the
# run does not end with one process alone on a queue of slow end-to-end tests.
PYTEST_ARGS ?= -n 2 --dist worksteal --durations=15
test: $(STAMP) $(PROMTOOL)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations tools
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/audit_dependencies.py $(DEV_LOCK)

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
