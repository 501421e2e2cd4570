# accord: `make run` serves a ledger, `make test` runs every test, `make bench` writes BENCHMARKS.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= accord-data
HOST ?= 127.0.0.1
PORT ?= 8443

.PHONY: run test bench consortium lint typecheck pytest clean

$(BIN)/accord: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(BIN)/accord
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/accord
	@test -f $(DATA)/config.json || $(BIN)/accord init --data $(DATA)
	$(BIN)/accord serve --data $(DATA) --host $(HOST) --port $(PORT)

# Three organizations on this machine, each its own node and NATS server; Ctrl-C stops them.
CONSORTIUM_DIR ?= accord-consortium
consortium: $(BIN)/accord
	$(BIN)/accord consortium demo --orgs 3 --dir $(CONSORTIUM_DIR)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed
	bash scripts/ensure-postgres
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

bench: $(VENV)/.dev-installed
	bash scripts/ensure-postgres
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
