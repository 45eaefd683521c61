# Every target bootstraps what it needs (.venv, node_modules) when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
AZURITE := node_modules/.bin/azurite-table

.PHONY: all venv cli tmux node chromium screenshot test lint typecheck unit integration e2e soak demo up bench bench-judge bench-router bench-coldstart bench-alert bench-sim bench-scale clean checkov

all: test

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --ignore-requires-python \
		"$$(grep -o '^azure-functions-runtime==[0-9.]*' requirements-dev.txt)"
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# The `autocanary` CLI (pyproject's console script) in .venv, editable; part of the bootstrap.
cli: $(STAMP)
	$(PY) -m pip install --quiet --no-deps -e .

# The CLI's real-terminal test drives `autocanary get --watch` in tmux (Debian's package).
tmux:
	@command -v tmux >/dev/null || { apt-get update -qq && apt-get install -y -qq tmux >/dev/null; }

$(AZURITE): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

node: $(AZURITE)

# Debian's Chromium, for the dashboard's browser tests and `make screenshot` (Playwright drives
# it; Playwright's own browser downloads are never used). Installed only when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

chromium: $(CHROMIUM)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

# Unit and integration tests on both cores (pytest-xdist; each worker starts its own Azurite
# and emulator on free ports), then the whole-stack e2e tests one after another.
test: $(STAMP) $(AZURITE) $(CHROMIUM) tmux lint typecheck
	$(PY) -m pytest -n 2 tests/unit tests/integration
	$(PY) -m pytest tests/e2e

unit: $(STAMP) $(AZURITE) tmux
	$(PY) -m pytest -n 2 tests/unit

integration: $(STAMP) $(AZURITE) $(CHROMIUM)
	$(PY) -m pytest -n 2 tests/integration

e2e: $(STAMP) $(AZURITE)
	$(PY) -m pytest tests/e2e

# The engine's invariants over a long random run (hypothesis, ~1000 cases); prints its counts.
soak: $(STAMP)
	AUTOCANARY_SOAK=1 AUTOCANARY_SOAK_EXAMPLES=$${SOAK_EXAMPLES:-1000} $(PY) -m pytest -o timeout=0 -s -q \
		tests/unit/test_engine_properties.py::test_engine_keeps_its_invariants_under_random_interleavings

# docs/dashboard.png: the dashboard in headless Chromium, showing a rollout the judge rolled back.
screenshot: $(STAMP) $(CHROMIUM)
	$(PY) -m tests.dashboard_support docs/dashboard.png

# The whole flow on the local stack (Azurite, emulator, devhost); about two minutes.
demo: $(STAMP) $(AZURITE)
	$(PY) -m localstack.demo

# The same stack, left running until Ctrl-C; prints URLs, keys and example commands.
up: $(STAMP) $(AZURITE)
	$(PY) -m localstack.up

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .mypy_cache .ruff_cache .pytest_cache

# Benchmarks print figures; they never pass or fail on time.
bench: bench-judge bench-router bench-coldstart bench-alert bench-sim bench-scale

bench-judge: $(STAMP)
	$(PY) -m bench.judge

bench-router: $(STAMP)
	$(PY) -m bench.router

bench-coldstart: $(STAMP)
	$(PY) -m bench.coldstart

bench-alert: $(STAMP) $(AZURITE)
	$(PY) -m bench.alert

bench-sim: $(STAMP)
	$(PY) -m bench.simulator

# Static security scan of infra/ (Terraform) with checkov, offline. checkov lives in its own
# virtual environment: its pins (its own hcl2 among them) must not meet the app's.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION ?= 3.3.30
CHECKOV := $(CHECKOV_VENV)/bin/checkov

$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet "checkov==$(CHECKOV_VERSION)"

checkov: $(CHECKOV)
	$(CHECKOV) --directory infra --framework terraform --skip-download --quiet --compact

bench-scale: $(STAMP) $(AZURITE)
	$(PY) -m bench.scale
