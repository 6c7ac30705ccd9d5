# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install clean format readme models

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh $(PYTHON) $(VENV)
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tympan serve

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	bash scripts/test.sh $(BIN)/python

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# Train the music models (music21 corpus, minutes on 2 cores) into the data dir.
models: $(STAMP)
	$(BIN)/tympan music train --all

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .tympan .pytest_cache

readme: $(STAMP)
	$(BIN)/python scripts/update_readme.py
