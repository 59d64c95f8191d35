#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with a `p3s` role (password p3s)
# that may create databases. Installs the server where it is missing, starts it where stopped.
set -euo pipefail
answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! answers; then
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        echo "-- installing PostgreSQL"
        apt-get update -qq || true
        apt-get install -y -qq postgresql >/dev/null
    fi
    if ! command -v pg_ctlcluster >/dev/null; then
        echo "pg_ctlcluster not found: install postgresql-common" >&2; exit 1
    fi
    version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
        pg_createcluster "$version" main >/dev/null
    fi
    echo "-- starting PostgreSQL $version"
    pg_ctlcluster "$version" main start
    for _ in $(seq 1 50); do answers && break; sleep 0.2; done
fi
answers || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='p3s'\"" | grep -q 1 || \
    su postgres -c "psql -qc \"CREATE ROLE p3s LOGIN SUPERUSER PASSWORD 'p3s'\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='p3s'\"" | grep -q 1 || \
    su postgres -c "createdb -O p3s p3s"
echo "-- PostgreSQL ready on 127.0.0.1:5432 (role p3s)"
