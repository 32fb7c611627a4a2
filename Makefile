# Two commands for a newcomer: `make sim` (full simulated session) and `make test` (whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: sim test lint typecheck unit charts bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

sim: $(STAMP)
	$(BIN)/evse sim scenarios/dc_session.yaml

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check evse exi drivers tests bench

typecheck: $(STAMP)
	$(BIN)/mypy evse exi drivers

unit: $(STAMP)
	$(BIN)/python -m pytest

charts: $(STAMP)
	$(BIN)/evse charts

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV)
