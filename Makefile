# kvmcloud — `make help` lists the targets. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-deps
PYTEST_ARGS ?=
# `make test` fails below the branch-coverage floor (pyproject's [tool.coverage.report]);
# COVERAGE= turns the measurement off (to run a part of the suite through make test), and
# `make test-fast PYTEST_ARGS=--cov` checks the floor without the end-to-end tests.
COVERAGE ?= --cov --cov-report=term
# CloudMonkey 5.3.3.1 runs on Python 2.7 only: its own virtualenv, for the end-to-end tests.
CLOUDMONKEY_VENV := .venv-cloudmonkey
CLOUDMONKEY_STAMP := $(CLOUDMONKEY_VENV)/.installed
# Ansible with the ngine_io.cloudstack collection: its own virtualenv, for the end-to-end tests.
ANSIBLE_VENV := .venv-ansible
ANSIBLE_STAMP := $(ANSIBLE_VENV)/.installed
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
CODE := $(wildcard src tests bench scripts)
# The web UI (ui/): npm packages pinned by ui/package-lock.json; vite builds it into the
# Python package, where kvmcloud-server serves it at /client/.
UI_STAMP := ui/node_modules/.installed
UI_BUILT := src/kvmcloud/server/webui/static/index.html
UI_SOURCES := $(shell find ui/src -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(SYSTEM_STAMP): scripts/install-system-deps scripts/configure-libvirt-for-tests
	@mkdir -p $(VENV)
	scripts/install-system-deps
	$(SUDO) scripts/configure-libvirt-for-tests
	@touch $@

$(STAMP): pyproject.toml requirements.lock $(SYSTEM_STAMP)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "kvmcloud needs Python 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip==25.3"
	$(BIN)/pip install -q -c requirements.lock -e ".[server,agent,cli,postgres,mariadb]" --group dev
	@touch $@

.PHONY: install
install: $(STAMP) ## create .venv with pinned dependencies and the Debian packages needed
	@true

# Without Python 2.7 the script writes no stamp (it says why; in CI it fails), so the next
# run tries again.
$(CLOUDMONKEY_STAMP): scripts/install-cloudmonkey tests/e2e/cloudmonkey-requirements.txt \
		tests/e2e/cloudmonkey-virtualenv-requirements.txt
	PYTHON3=$(PYTHON) scripts/install-cloudmonkey

.PHONY: cloudmonkey
cloudmonkey: $(CLOUDMONKEY_STAMP) ## create .venv-cloudmonkey: CloudMonkey 5.3.3.1 on Python 2.7 (pyenv)
	@true

$(ANSIBLE_STAMP): scripts/install-ansible tests/e2e/ansible-requirements.txt
	PYTHON3=$(PYTHON) scripts/install-ansible

.PHONY: ansible
ansible: $(ANSIBLE_STAMP) ## create .venv-ansible: Ansible 11.13.0 with ngine_io.cloudstack 2.5.0
	@true

$(UI_STAMP): ui/package.json ui/package-lock.json $(SYSTEM_STAMP)
	cd ui && npm ci --no-audit --no-fund
	@touch $@

$(UI_BUILT): $(UI_STAMP) $(UI_SOURCES)
	cd ui && npm run build

.PHONY: ui
ui: $(UI_BUILT) ## build the web UI (ui/) into the server package
	@true

.PHONY: ui-lint
ui-lint: $(UI_STAMP) ## ESLint (with jsx-a11y) and tsc --noEmit on the UI
	cd ui && npm run lint
	cd ui && npm run typecheck

.PHONY: fmt
fmt: install ## format the code
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

.PHONY: lint
lint: install ui-lint ## ruff, import-linter contracts, and the UI's ESLint and tsc
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/lint-imports

.PHONY: typecheck
typecheck: install ## mypy --strict on src
	$(BIN)/mypy

.PHONY: test
test: install cloudmonkey ansible ui ## the whole test suite (unit, integration, end to end, PostgreSQL) and the coverage floor
	$(BIN)/pytest $(COVERAGE) $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: install ui ## unit and integration tests, no end to end: the edit-test loop
	$(BIN)/pytest $(PYTEST_ARGS) tests/unit tests/integration

.PHONY: db-check
db-check: install ## migrations upgrade a fresh database and match the models (SQLite, PostgreSQL, MariaDB)
	$(BIN)/python scripts/db_check.py $(DB_CHECK_ARGS)

.PHONY: db-revision
db-revision: install ## autogenerate a migration: make db-revision MESSAGE="what changed"
	@test -n "$(MESSAGE)" || { echo 'set MESSAGE="what changed"'; exit 2; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  KVMCLOUD_DATABASE_URL="sqlite:///$$tmp/rev.db" $(BIN)/kvmcloud-server db upgrade && \
	  KVMCLOUD_DATABASE_URL="sqlite:///$$tmp/rev.db" $(BIN)/kvmcloud-server db revision "$(MESSAGE)"

.PHONY: check
check: lint typecheck db-check test ## everything CI runs

.PHONY: demo
# The demo's primary storage: Filesystem (default), SharedMountPoint or NetworkFilesystem.
POOL ?= Filesystem
demo: install ui ## the main job: register + prepare a direct-download template, boot a VM from it (POOL=…)
	KVMCLOUD_DEMO_POOL=$(POOL) $(BIN)/python scripts/demo.py

.PHONY: bench
bench: install ## download engine vs curl, aria2c, dd, hashlib (BENCH_ARGS="--size 512M --reps 3")
	bench/install-deps
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Long (hours at the full sizes): not part of `make check` or CI.
BENCH_SCALE_ARGS ?=
.PHONY: bench-scale
bench-scale: install ## the server at scale on each database (BENCH_SCALE_ARGS="--templates 2000 --hosts 500 --duration 60")
	$(BIN)/python -m bench.scale $(BENCH_SCALE_ARGS)

.PHONY: deb
deb: ui ## Debian packages into build/deb/ (common, management, agent, docs, integration-tests)
	scripts/build-debs

.PHONY: clean
clean: ## remove the virtualenv and caches
	rm -rf $(VENV) $(CLOUDMONKEY_VENV) $(ANSIBLE_VENV) .mypy_cache .ruff_cache .pytest_cache .coverage var \
	  ui/node_modules src/kvmcloud/server/webui/static
