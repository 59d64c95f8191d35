#!/usr/bin/env bash
# `make test`: the whole suite against PostgreSQL when P3S_TEST_DATABASE_URL is set or a
# server answers on 127.0.0.1:5432, else against SQLite. When PostgreSQL is used, the
# database-level tests also run once more on SQLite so both back ends stay covered.
#
# Tests that start no server of their own run in P3S_TEST_WORKERS processes (pytest-xdist,
# default 2: one per core here; 0 runs them in this process); the end-to-end, browser and
# batch-system tests, which start servers, pilots and pools, run one at a time after them.
# The full forms of bounded tests (marker "full") are left to `make test-full`.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if [ -z "${P3S_TEST_DATABASE_URL:-}" ] && answers; then
    export P3S_TEST_DATABASE_URL="postgres://p3s:p3s@127.0.0.1:5432/p3s"
fi
WORKERS="${P3S_TEST_WORKERS:-2}"
PARALLEL=()
if [ "$WORKERS" != "0" ]; then PARALLEL=(-n "$WORKERS" --dist loadfile); fi
SERVERS="e2e or browser or condor or slurm"
REPORT=(--durations=20)
mkdir -p var/test
status=0
run() { echo "== $1"; shift; "$@" || status=$?; }

if [ -n "${P3S_TEST_DATABASE_URL:-}" ]; then
    export P3S_DATABASE_URL="$P3S_TEST_DATABASE_URL"
    run "PostgreSQL (${P3S_TEST_DATABASE_URL%%@*}@...): tests that start no server" \
        $BIN/pytest "${PARALLEL[@]}" "${REPORT[@]}" -m "not ($SERVERS) and not full" "$@"
    run "PostgreSQL: end-to-end, browser and batch-system tests" \
        $BIN/pytest "${REPORT[@]}" -m "($SERVERS) and not full" "$@"
    # The database-dependent tests once more on the embedded default (the science, pilot and
    # factory tests do not touch the database and ran above); the slow forms ran on PostgreSQL.
    export P3S_DATABASE_URL="sqlite:///$PWD/var/test/sqlite.db"
    unset P3S_TEST_DATABASE_URL
    run "SQLite (the embedded default): server and page tests" \
        $BIN/pytest "${PARALLEL[@]}" "${REPORT[@]}" -p no:cacheprovider \
        -m "not ($SERVERS) and not full and not slow" tests/server tests/front tests/archive tests/logs tests/staging "$@"
    # End to end on SQLite: the paths where the back end's locking and transactions matter
    # (concurrent claims and reports, retries after lost answers, rejected writes) and the
    # demo's own; the rest of tests/e2e is about the server, not the database, and ran above.
    run "SQLite: end-to-end tests of the embedded default" \
        $BIN/pytest "${REPORT[@]}" -p no:cacheprovider -m "e2e and not slow and not full" \
        tests/e2e/test_report_and_claim_loses_no_job.py \
        tests/e2e/test_lost_answers_store_nothing_twice.py \
        tests/e2e/test_hostile_input.py tests/e2e/test_demo_stops_what_it_started.py "$@"
else
    export P3S_DATABASE_URL="sqlite:///$PWD/var/test/sqlite.db"
    run "SQLite (no PostgreSQL found): tests that start no server" \
        $BIN/pytest "${PARALLEL[@]}" "${REPORT[@]}" -m "not ($SERVERS) and not full" "$@"
    run "SQLite: end-to-end, browser and batch-system tests" \
        $BIN/pytest "${REPORT[@]}" -m "($SERVERS) and not full" "$@"
fi
exit $status
