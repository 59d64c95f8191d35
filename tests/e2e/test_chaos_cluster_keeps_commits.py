"""The product the short chaos run lost (issue 10) was lost by its own PostgreSQL settings:
the private cluster ran with synchronous_commit=off, so the immediate stop that plays a
database crash threw away commits already answered (a product row the server had answered
201 for, just before the stop). Reproduced here on a real private cluster (scripts/chaos_env.py),
then shown gone with the settings the run now uses (synchronous_commit on, fsync still off:
the WAL reaches the kernel at each commit, which a process crash does not undo)."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from chaos import connect  # noqa: E402
from chaos_env import PrivateCluster, Unavailable  # noqa: E402

pytestmark = [pytest.mark.e2e]
ROWS = 5
# The WAL writer flushes asynchronous commits every wal_writer_delay (or per full WAL page):
# at 10 s, a few small commits and then a crash within that time are lost every time.
SLOW_WAL_WRITER = {"wal_writer_delay": "10000"}


def commit_then_crash(cluster: PrivateCluster, table: str, **settings: str) -> int:
    """Commit ROWS rows one by one, stop immediately (a crash), restart: rows still there."""
    cluster.start(**SLOW_WAL_WRITER, **settings)
    conn = connect(cluster.url)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {table} (n int)")
    conn.close()
    cluster.stop()  # a clean stop: the table itself is on disk
    cluster.start(**SLOW_WAL_WRITER, **settings)
    conn = connect(cluster.url)
    with conn.cursor() as cur:
        for n in range(ROWS):
            cur.execute(f"INSERT INTO {table} VALUES (%s)", [n])  # autocommit: each answered
    conn.close()
    cluster.stop("immediate")
    cluster.start()
    conn = connect(cluster.url)
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        kept = cur.fetchone()[0]
    conn.close()
    cluster.stop()
    return kept


def test_a_crash_keeps_every_answered_commit_with_the_chaos_settings():
    from tests.conftest import free_port

    try:
        cluster = PrivateCluster(free_port())
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        cluster.create()
        cluster.stop()
        assert commit_then_crash(cluster, "before", synchronous_commit="off") < ROWS
        assert commit_then_crash(cluster, "now") == ROWS
    finally:
        cluster.destroy()
