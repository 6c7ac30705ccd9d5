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

# The store-facing API tests run a second time on a throwaway local PostgreSQL server (not the
# kill -9 test: its service subprocesses keep their own SQLite whatever --database says).
POSTGRES_TESTS := tests/store tests/cli/test_db.py tests/api/test_speakers.py tests/api/test_files.py \
	tests/api/test_fine_tuning.py tests/api/routers/test_glossaries.py tests/api/test_namespaces.py \
	tests/api/test_services.py tests/api/test_shared_artifacts.py tests/api/test_corrections.py

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q --durations=20
	$(BIN)/python -m pytest -q --database postgresql $(POSTGRES_TESTS) \
		--deselect tests/api/test_services.py::test_kill_9_at_random_points_leaves_a_consistent_service

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
