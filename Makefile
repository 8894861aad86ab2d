# Salesproc: one command per chore. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Development mode unless the caller says otherwise (production needs SECRET_KEY, ALLOWED_HOSTS, broker).
export DEBUG ?= 1

.PHONY: install run test lint format bench migrate demo worker beat clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Salesproc needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo --if-empty

run: demo
	@echo "Serving Salesproc on http://127.0.0.1:8000"
	$(BIN)/python manage.py runserver 127.0.0.1:8000

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks run on PostgreSQL (the database below is created if missing and reused between runs).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/salesproc_bench

bench: install
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/run.py $(BENCH_ARGS)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/import_bench.py
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/metrics_bench.py
	@if [ -f bench/playbooks_bench.py ]; then DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/playbooks_bench.py; fi
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/recurrence_bench.py

worker: install
	$(BIN)/celery -A salesproc worker -l info

beat: install
	$(BIN)/celery -A salesproc beat -l info

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
