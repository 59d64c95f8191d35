#!/usr/bin/env bash
# `make test`: the whole suite against PostgreSQL when P3S_TEST_DATABASE_URL is set or a
# server answers on 127.0.0.1:5432, else against SQLite. When PostgreSQL is used, the
# database-level tests also run once more on SQLite so both back ends stay covered.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if [ -z "${P3S_TEST_DATABASE_URL:-}" ] && answers; then
    export P3S_TEST_DATABASE_URL="postgres://p3s:p3s@127.0.0.1:5432/p3s"
fi
mkdir -p var/test
status=0
if [ -n "${P3S_TEST_DATABASE_URL:-}" ]; then
    echo "== test suite on PostgreSQL (${P3S_TEST_DATABASE_URL%%@*}@...)"
    # Full forms (marker "full": the 300-run chaos) are for `make chaos`; their bounded forms
    # run here.
    P3S_DATABASE_URL="$P3S_TEST_DATABASE_URL" $BIN/pytest -m "not full" "$@" || status=$?
    # The tests that depend on the database run once more on the embedded default; the
    # science, pilot and factory tests do not touch the database and ran above.
    echo "== database-dependent tests on SQLite (the embedded default)"
    env -u P3S_TEST_DATABASE_URL P3S_DATABASE_URL="sqlite:///$PWD/var/test/sqlite.db" \
        $BIN/pytest -m "not browser and not condor and not slurm and not full" -p no:cacheprovider \
        tests/server tests/front tests/e2e "$@" || status=$?
else
    echo "== test suite on SQLite (no PostgreSQL found)"
    P3S_DATABASE_URL="sqlite:///$PWD/var/test/sqlite.db" $BIN/pytest -m "not full" "$@" || status=$?
fi
exit $status
