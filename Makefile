# Every target bootstraps what it needs (.venv, node_modules) when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
AZURITE := node_modules/.bin/azurite-table

.PHONY: all venv node test lint typecheck unit integration e2e demo up bench bench-judge bench-router bench-coldstart bench-alert bench-scale clean

all: test

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

$(AZURITE): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

node: $(AZURITE)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

test: $(STAMP) $(AZURITE) lint typecheck
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP) $(AZURITE)
	$(PY) -m pytest tests/integration

e2e: $(STAMP) $(AZURITE)
	$(PY) -m pytest tests/e2e

# The whole flow on the local stack (Azurite, emulator, devhost); about two minutes.
demo: $(STAMP) $(AZURITE)
	$(PY) -m localstack.demo

# The same stack, left running until Ctrl-C; prints URLs, keys and example commands.
up: $(STAMP) $(AZURITE)
	$(PY) -m localstack.up

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache

# Benchmarks print figures; they never pass or fail on time.
bench: bench-judge bench-router bench-coldstart bench-alert bench-scale

bench-judge: $(STAMP)
	$(PY) -m bench.judge

bench-router: $(STAMP)
	$(PY) -m bench.router

bench-coldstart: $(STAMP)
	$(PY) -m bench.coldstart

bench-alert: $(STAMP) $(AZURITE)
	$(PY) -m bench.alert

bench-scale: $(STAMP) $(AZURITE)
	$(PY) -m bench.scale
