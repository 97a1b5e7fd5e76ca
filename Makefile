# Thin wrappers: the real work is in scripts/bootstrap.py and the mlops CLI.
PYTHON ?= python3
VENV := .venv/bin

.PHONY: setup demo test test-fast lint down

## Install everything the platform needs (idempotent; a warm run takes seconds).
setup:
	$(PYTHON) scripts/bootstrap.py

## Bring up the local environment and run the pipeline end to end. The local stack is docker-only,
## so the kubernetes provider plugin (a long Go build where it cannot be downloaded) is left to `setup`.
demo:
	$(PYTHON) scripts/bootstrap.py --steps python,pulumi,docker,base-image
	$(VENV)/mlops demo --env local

## Run every test: unit, integration and end-to-end (what CI runs); the cluster tests beside most others.
test: setup
	$(VENV)/python scripts/test_lanes.py --durations=40

## Unit tests only (no services started).
test-fast:
	$(VENV)/python -m pytest -m "not integration and not e2e"

lint:
	$(VENV)/ruff check .
	$(VENV)/lint-imports
	$(VENV)/ruff format --check .
	$(VENV)/mypy

## Tear the local environment down (volumes kept; add ARGS=--purge to delete them).
down:
	$(VENV)/mlops env down local --yes $(ARGS)
