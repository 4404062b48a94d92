# Developer commands. `make` alone lists them; each target's `##` comment is its help line.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN := .venv/bin
STAMP := .venv/.installed
export FLASK_APP ?= gateway

.PHONY: help setup run test lint format typecheck pytest bench migrate demo clean lock upgrade

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install system packages and the virtualenv (.venv)
	@bash scripts/bootstrap.sh

run: ## Start Redis, migrate, load demo data, run web + worker + cron + sandbox
	@bash scripts/bootstrap.sh
	@bash scripts/run.sh

test: ## Install test packages, then lint, typecheck and pytest (what CI runs)
	@bash scripts/bootstrap.sh --test
	@$(MAKE) --no-print-directory lint typecheck pytest

lock: $(STAMP) ## Rewrite requirements/*.txt after editing pyproject.toml (keeps locked versions)
	@bash scripts/lock.sh
	@bash scripts/bootstrap.sh

upgrade: $(STAMP) ## Lock the newest versions pyproject.toml allows, install them; then run make test
	@bash scripts/lock.sh --upgrade
	@bash scripts/bootstrap.sh

# The virtualenv is (re)installed whenever pyproject.toml or the lock is newer than the stamp.
$(STAMP): pyproject.toml requirements/dev.txt
	@bash scripts/bootstrap.sh

lint: $(STAMP) ## Check code with ruff (lint rules and formatting)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Sort imports and reformat code with ruff
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## Type-check the packages with mypy
	$(BIN)/mypy

# Exit code 5 means pytest collected nothing: that is a failure too, never a pass.
pytest: $(STAMP) ## Run the test suite (two processes when pytest-xdist is installed)
	@workers=""; \
	if $(BIN)/python -c 'import xdist' 2>/dev/null; then workers="-n 2"; fi; \
	echo "$(BIN)/pytest -q $$workers"; \
	$(BIN)/pytest -q $$workers || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected" >&2; fi; exit $$rc; }

bench: $(STAMP) ## Run every benchmark in bench/ and print its figures
	@for script in bench/*.py; do \
	  [ -e "$$script" ] || continue; \
	  echo "== $$script"; \
	  $(BIN)/python "$$script"; \
	done

migrate: $(STAMP) ## Apply database migrations (flask db upgrade)
	$(BIN)/flask db upgrade

demo: migrate ## Load the demo township, branches, members and logins
	$(BIN)/flask demo

clean: ## Remove caches and build leftovers (keeps .venv and var/ data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist
	find . -path ./.venv -prune -o -type d -name __pycache__ -exec rm -rf {} +
