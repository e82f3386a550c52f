# Plumb CRM. Two commands on a fresh machine: `make run` and `make test`.
# With DATABASE_URL / REDIS_URL set they run on PostgreSQL + Redis, else SQLite + files under var/.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

-include .env
export
# Development defaults; production sets DEBUG=false and SECRET_KEY (see .env.example).
DEBUG ?= true
export DEBUG
comma := ,

.PHONY: run test install lint format typecheck bench migrate seed vendor e2e-deps clean audit image backup

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Plumb needs Python 3.11 or newer (found " + sys.version.split()[0] + "): run make PYTHON=python3.11 …")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

## run: install, migrate, seed on first run, then web + worker + beat (Ctrl-C stops all).
run: migrate
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py runall --port $(PORT)

## test: lint, import contracts, types, migration check, then every test (unit, integration, browser).
test: install e2e-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

# Browser tests drive Debian's Chromium (Playwright's own browser download cannot work here).
e2e-deps:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
	  (echo "Installing chromium for the browser tests…" && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	   echo "Could not install chromium: browser tests will be skipped.")

## bench: print the benchmarks' figures and write bench/results/*.json (PostgreSQL needed).
bench: install
	$(BIN)/python bench/run_all.py

## audit: bandit (medium+ severity) over the code, pip-audit over the installed packages.
audit: install
	$(BIN)/bandit -q -r crm webhooks leads pipeline scoring forecasting --severity-level medium --confidence-level medium -x "*/migrations/*"
	$(BIN)/python scripts/audit_deps.py

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

## typecheck: mypy with the Django and DRF plugins (config in pyproject.toml).
typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

vendor:
	scripts/vendor.sh

## image: build the production image $(IMAGE) (BASE_IMAGE, PLUMB_EXTRAS=sentry pass through).
# BuildKit with the host's pip index and, when PIP_CERT names a CA bundle, that bundle as a
# build secret (mounted for pip only, never in a layer). Debian's docker client has BuildKit
# built in; elsewhere `docker` with buildx does the same.
IMAGE      ?= plumb:latest
BASE_IMAGE ?= python:3.11-slim
DOCKER     ?= $(if $(wildcard /usr/bin/docker),/usr/bin/docker,docker)
DOCKER_BUILD_FLAGS ?=   # e.g. --network=host where the daemon has no bridge network (CI)
image:
	@index="$${PIP_INDEX_URL:-$$($(PYTHON) -m pip config get global.index-url 2>/dev/null || true)}"; \
	version=$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1); \
	set -x; DOCKER_BUILDKIT=1 $(DOCKER) build --tag $(IMAGE) $(DOCKER_BUILD_FLAGS) \
	  --build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg PLUMB_EXTRAS=$(PLUMB_EXTRAS) \
	  --build-arg PIP_INDEX="$$index" --build-arg PLUMB_VERSION="$$version" \
	  --build-arg GIT_REVISION="$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	  $(if $(PIP_CERT),--secret id=pip_cert$(comma)src=$(PIP_CERT)) .

## backup: a consistent copy of the database in var/backups/ (pg_dump -Fc, or SQLite's backup API).
backup: install
	$(BIN)/python manage.py backup

clean:
	rm -rf var/crm.sqlite3* var/broker var/celerybeat-schedule* var/static
