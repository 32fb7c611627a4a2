# Two commands for a newcomer: `make sim` (full simulated session) and `make test` (whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: sim test lint typecheck unit charts audit review bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

sim: $(STAMP)
	$(BIN)/evse sim scenarios/dc_session.yaml

test: $(STAMP) lint typecheck audit unit

lint: $(STAMP)
	$(BIN)/ruff check evse exi drivers tests bench

typecheck: $(STAMP)
	$(BIN)/mypy evse exi drivers

# The suite in two passes: the virtual-time tests spread over every core (pytest-xdist; CI has 2),
# then the real-clock and network-namespace tests one at a time, because their bounds are wall
# time and a busy neighbour would make them measure the neighbour.
unit: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist worksteal -m "not realtime and not netns"
	$(BIN)/python -m pytest -m "realtime or netns" --durations=12

charts: $(STAMP)
	$(BIN)/evse charts

# The certification review pack (docs/review/): `audit` fails when it is stale or a checklist
# item lost its test; `review` regenerates it with a live run (marked tests, a DIN session).
audit: $(STAMP)
	$(BIN)/evse audit --check

review: $(STAMP)
	$(BIN)/evse audit --run

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV)
