# Every command a person runs is a target here (or a script in scripts/).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv demo test test-fast test-full chaos bench replay lint format migrate serve sweep clean

help:
	@echo "make demo    run the full TPC DQM chain on the embedded default (SQLite)"
	@echo "make test    the whole test suite (PostgreSQL too when one answers)"
	@echo "make test-full  the full forms of the bounded tests in make test (million-row pages, 1,000 fuzz cases, ...)"
	@echo "make chaos   the fault tests in full: hostile input, fuzzing, database and pilot faults"
	@echo "make bench   benchmarks -> var/bench/report.md and report.json"
	@echo "make replay  DAQ at 0.5x, 1x, 2x of the pilots' capacity -> var/bench/replay.md, .png"
	@echo "make lint    ruff and mypy"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

demo: venv
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

test: venv
	scripts/test.sh $(TEST_ARGS)

test-fast: venv
	$(BIN)/pytest -q -n 2 --dist loadfile -m "not e2e and not browser and not condor and not slurm and not slow and not full" $(TEST_ARGS)

test-full: venv
	$(BIN)/pytest -q -m full $(TEST_ARGS)

# The full (slow) forms of the fault tests; see docs/operations.md.
CHAOS_TESTS := tests/e2e/test_hostile_input.py tests/e2e/test_api_fuzz.py \
	tests/e2e/test_sweeper_survives_database_errors.py tests/e2e/test_database_down_is_a_json_503.py \
	tests/e2e/test_lost_answers_store_nothing_twice.py tests/pilot/test_payload_dies_with_its_pilot.py \
	tests/pilot/test_pilot_tells_a_broken_server_from_an_unreachable_one.py \
	tests/e2e/test_beacon_stops_with_the_listener.py tests/e2e/test_chaos_cluster_keeps_commits.py \
	tests/e2e/test_chaos.py

chaos: venv
	$(BIN)/pytest -q -m "slow or not slow" $(CHAOS_TESTS) $(TEST_ARGS)

bench: venv
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

replay: venv
	$(BIN)/python scripts/replay.py $(REPLAY_ARGS)

lint: venv
	$(BIN)/ruff check p3s pilot payloads factory storage tests scripts
	$(BIN)/ruff format --check p3s pilot payloads factory storage tests scripts
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format p3s pilot payloads factory storage tests scripts
	$(BIN)/ruff check --fix p3s pilot payloads factory storage tests scripts

migrate: venv
	$(BIN)/python manage.py migrate
	$(BIN)/python manage.py p3s_load_dags

serve: venv
	$(BIN)/gunicorn -c p3s/gunicorn.conf.py p3s.wsgi

sweep: venv
	$(BIN)/python manage.py p3s_sweep --loop

clean:
	rm -rf var/test var/bench .pytest_cache
