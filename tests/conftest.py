"""Shared fixtures: personas (functions that build authenticated clients), DAG helpers,
and a real p3s server (gunicorn) for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def using_postgres() -> bool:
    return os.environ.get("P3S_DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def pytest_collection_modifyitems(config, items):
    if not using_postgres():
        skip = pytest.mark.skip(
            reason="needs PostgreSQL: set P3S_TEST_DATABASE_URL or start one on 127.0.0.1:5432 (make test does)"
        )
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


def reads_token(sql: str) -> bool:
    """Whether a captured statement reads an API token (by the ORM, or the prepared read of
    p3s.accounts.auth on PostgreSQL)."""
    return 'FROM "accounts_apitoken"' in sql or sql.startswith("EXECUTE p3s_token(")


# -- personas -----------------------------------------------------------------------------


@pytest.fixture
def token_for(db) -> Callable[[str, str], str]:
    from p3s.accounts.models import ApiToken

    def make(role: str, name: str | None = None) -> str:
        _, key = ApiToken.issue(name or f"{role}-{uuid.uuid4().hex[:6]}", role)
        return key

    return make


@pytest.fixture
def client_as(token_for):
    """client_as("daq") -> an APIClient carrying a fresh token of that role."""
    from rest_framework.test import APIClient

    def make(role: str | None) -> APIClient:
        client = APIClient()
        if role:
            client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(role)}")
        return client

    return make


@pytest.fixture
def daq(client_as):
    return client_as("daq")


@pytest.fixture
def operator(client_as):
    return client_as("operator")


@pytest.fixture
def expert(client_as):
    return client_as("expert")


@pytest.fixture
def anonymous(client_as):
    return client_as(None)


@pytest.fixture
def running_job(daq, new_pilot, make_dag, settings, tmp_path):
    """A pilot client whose claimed job (stage a of FANOUT_JOIN, on a diag file of run 4) is
    running, with products stored under ``tmp_path``: (pilot, job dict)."""
    settings.MEDIA_ROOT = tmp_path
    make_dag(FANOUT_JOIN)
    f = {"url": "file:///d/i.h5", "stream": "diag", "run": 4, "timestamp": "2026-11-22T10:00:00Z"}
    assert daq.post("/api/v1/files/", f, format="json").status_code == 201
    pilot = new_pilot()
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").json()
    r = pilot.post(f"/api/v1/jobs/{job['id']}/report/", {"state": "running"}, format="json")
    assert r.status_code == 200, r.content
    return pilot, job


@pytest.fixture
def new_pilot(client_as):
    """new_pilot(queues=["default"]) -> an APIClient registered as a pilot, with .pilot_id."""

    def make(queues: list[str] | None = None, host: str = "wn01"):
        client = client_as("pilot")
        r = client.post(
            "/api/v1/pilots/", {"host": host, "queues": queues or ["default"]}, format="json"
        )
        assert r.status_code == 201, r.content
        client.pilot_id = r.json()["id"]
        client.credentials(
            HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"],
            HTTP_X_P3S_PILOT_KEY=r.json()["key"],
        )
        return client

    return make


# -- DAGs and files -------------------------------------------------------------------------

FANOUT_JOIN = """
name: fanjoin
trigger: {stream: diag}
stages:
  a: {payload: diag, timeout: 60}
  b: {payload: diag, parents: [a], timeout: 60}
  c: {payload: diag, parents: [a], timeout: 60}
  d: {payload: diag, parents: [b, c], timeout: 60}
"""


@pytest.fixture
def make_dag(db):
    from p3s.dags import flow, spec

    def make(text: str = FANOUT_JOIN):
        return flow.apply_spec(spec.load(text), actor="test", source=text).template

    return make


_seq = iter(range(1, 10**9))


@pytest.fixture
def announce(db):
    """announce(stream="diag", ts=...) -> Announcement, through the domain function."""
    from p3s.dags import flow

    def make(
        stream: str = "diag", ts: datetime | None = None, run: int = 1, url: str | None = None
    ):
        n = next(_seq)
        ts = ts or datetime(2026, 11, 22, tzinfo=UTC) + timedelta(seconds=n)
        url = url or f"file:///data/f{n}-{uuid.uuid4().hex[:6]}.h5"
        fields = {
            "url": url,
            "name": url.rsplit("/", 1)[-1],
            "stream": stream,
            "run": run,
            "subrun": n,
            "data_ts": ts,
            "events": 10,
            "size": 1,
            "checksum": "",
        }
        return flow.announce_file(fields, actor="test")

    return make


# -- a real server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    tokens: dict[str, str]
    workdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    server_proc: subprocess.Popen | None = None

    def headers(self, role: str = "operator") -> dict[str, str]:
        return {"Authorization": f"Token {self.tokens[role]}"}

    def get(self, path: str, role: str = "operator", **kw):
        headers = {**self.headers(role), **kw.pop("headers", {})}
        return requests.get(self.url + path, headers=headers, timeout=30, **kw)

    def post(self, path: str, role: str = "operator", **kw):
        headers = {**self.headers(role), **kw.pop("headers", {})}
        return requests.post(self.url + path, headers=headers, timeout=30, **kw)

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def start(self, argv: list[str], log_name: str, **kw) -> subprocess.Popen:
        log = open(self.workdir / log_name, "ab")
        proc = subprocess.Popen(
            argv,
            env=kw.pop("env", self.env),
            cwd=kw.pop("cwd", ROOT),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kw,
        )
        self.procs.append(proc)
        return proc

    def start_server(self) -> subprocess.Popen:
        gunicorn = self.start(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "p3s/gunicorn.conf.py"), "p3s.wsgi"],
            "gunicorn.log",
        )
        self.server_proc = gunicorn

        def healthy():
            if gunicorn.poll() is not None:
                raise AssertionError(
                    "gunicorn died:\n" + (self.workdir / "gunicorn.log").read_text(errors="replace")
                )
            try:
                return requests.get(self.url + "/healthz", timeout=5).status_code == 200
            except requests.RequestException:  # not listening yet, or slow to answer under load
                return False

        self.wait_for(healthy, 60, "gunicorn to answer /healthz")
        return gunicorn

    def kill_server(self) -> None:
        """SIGKILL gunicorn and its workers, as a crash would."""
        os.killpg(self.server_proc.pid, 9)
        self.server_proc.wait(10)

    def start_pilot(self, *extra: str, name: str = "pilot") -> subprocess.Popen:
        token_file = self.workdir / "pilot.token"
        argv = [
            str(BIN / "p3s-pilot"),
            "--server",
            self.url,
            "--token-file",
            str(token_file),
            "--workdir",
            str(self.workdir / f"{name}-work"),
            *extra,
        ]
        return self.start(argv, f"{name}.log")

    def start_sweeper(self, interval: float = 0.3) -> subprocess.Popen:
        return self.start(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "p3s_sweep",
                "--loop",
                "--interval",
                str(interval),
            ],
            "sweeper.log",
        )

    def wait_for(
        self, predicate: Callable[[], object], timeout: float = 60, what: str = "condition"
    ):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in self.workdir.glob("*.log")
        )
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def _create_pg_database(name: str, template: str | None = None) -> str:
    import psycopg2

    base = os.environ["P3S_DATABASE_URL"]
    conn = psycopg2.connect(base)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    conn.close()
    return base.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(os.environ["P3S_DATABASE_URL"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@dataclass
class LiveTemplate:
    database: str  # PostgreSQL: a database name; SQLite: a file path
    tokens: dict[str, str]


@pytest.fixture(scope="session")
def _live_template(tmp_path_factory) -> Iterator[LiveTemplate]:
    """One migrated database with the default DAGs and a token per role, made on first use;
    every live_p3s starts from a copy of it (PostgreSQL: CREATE DATABASE ... TEMPLATE)."""
    workdir = tmp_path_factory.mktemp("live-template")
    pg_name = None
    if using_postgres():
        pg_name = f"p3s_live_tpl_{uuid.uuid4().hex[:10]}"
        db_url = _create_pg_database(pg_name)
        database = pg_name
    else:
        database = str(workdir / "p3s.sqlite3")
        db_url = f"sqlite:///{database}"
    env = {**os.environ, "P3S_DATABASE_URL": db_url, "P3S_VAR_DIR": str(workdir / "var")}
    env["P3S_DATA_ROOT"] = str(workdir / "data")
    env.pop("P3S_TEST_DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    maker = LiveServer(url="", env=env, tokens={}, workdir=workdir)
    maker.manage("migrate", "-v0")
    maker.manage("p3s_load_dags")
    for role in ("daq", "pilot", "operator", "expert"):
        maker.tokens[role] = maker.manage(
            "p3s_token", "--role", role, f"test-{role}"
        ).stdout.strip()
    try:
        yield LiveTemplate(database, maker.tokens)
    finally:
        if pg_name:
            _drop_pg_database(pg_name)


@pytest.fixture
def live_p3s(tmp_path_factory, _live_template) -> Iterator[LiveServer]:
    """A real p3s: its own database (SQLite file or a fresh PostgreSQL database), migrated,
    default DAGs loaded, tokens for every role, gunicorn on a free port. Stopped after.

    The database is a copy of one made once per session (``_live_template``: migrated, DAGs
    loaded, tokens made), which saves each test about ten seconds of manage.py runs."""
    workdir = tmp_path_factory.mktemp("live")
    port = free_port()
    pg_name = None
    if using_postgres():
        pg_name = f"p3s_live_{uuid.uuid4().hex[:10]}"
        db_url = _create_pg_database(pg_name, template=_live_template.database)
    else:
        db_file = workdir / "p3s.sqlite3"
        shutil.copyfile(_live_template.database, db_file)
        db_url = f"sqlite:///{db_file}"
    env = {
        **os.environ,
        "P3S_DATABASE_URL": db_url,
        "P3S_VAR_DIR": str(workdir / "var"),
        "P3S_DATA_ROOT": str(workdir / "data"),
        "P3S_SECRET_KEY": "test-secret-key-" + uuid.uuid4().hex,
        "P3S_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "P3S_HEARTBEAT_INTERVAL": "1",
        "P3S_DISPATCH_GRACE": "20",
        "P3S_TIMEOUT_GRACE": "2",
        "P3S_WAKEUP_RECHECK": "60",  # only wake-up signals end a long poll early in tests
        "P3S_BIND": f"127.0.0.1:{port}",
        "P3S_WORKERS": "2",
        "P3S_THREADS": "16",
        "P3S_SERVER": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("P3S_TEST_DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    server = LiveServer(
        url=f"http://127.0.0.1:{port}", env=env, tokens=dict(_live_template.tokens), workdir=workdir
    )
    (workdir / "pilot.token").write_text(server.tokens["pilot"] + "\n")
    os.chmod(workdir / "pilot.token", 0o600)
    try:
        server.start_server()  # inside the try: a server that fails to come up is still stopped
        yield server
    finally:
        for proc in reversed(server.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 15)
                except ProcessLookupError:
                    pass
        for proc in server.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(5)
        if pg_name:
            _drop_pg_database(pg_name)
        shutil.rmtree(workdir / "data", ignore_errors=True)


@pytest.fixture
def pilot_record(db):
    """pilot_record(queues=[...]) -> a registered Pilot row (domain level, no HTTP)."""
    from p3s.accounts.models import ApiToken
    from p3s.pilots import services

    token, _ = ApiToken.issue(f"pilots-{uuid.uuid4().hex[:6]}", "pilot")

    def make(queues: list[str] | None = None, host: str = "wn01"):
        pilot, _ = services.register(token, {"host": host, "queues": queues or ["default"]})
        return pilot

    return make


@pytest.fixture(scope="session", autouse=True)
def _stop_wakeup_listener(django_db_setup):
    """The long-poll listener holds a connection; close it before the test database goes."""
    yield
    from p3s.jobs import wakeup

    wakeup.stop_listener()


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Passwords made in this process hash with one round of MD5: the shipped PBKDF2 (a
    million iterations) cost every persona seconds on a loaded machine. Servers started as
    processes (live_p3s) keep the real hashers."""
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_hashers.cache_clear()
    yield


@pytest.fixture(autouse=True)
def _shipped_conditions(request):
    """The shipped conditions come from a data migration; a transactional test before this
    one (another order under ``pytest -n``) flushed them: put them back, inside this test's
    transaction, where they are missing."""
    marker = request.node.get_closest_marker("django_db")
    wants_db = marker is not None or "db" in request.fixturenames
    if not wants_db or (marker is not None and marker.kwargs.get("transaction")):
        return
    if "transactional_db" in request.fixturenames or "live_server" in request.fixturenames:
        return
    request.getfixturevalue("db")
    from p3s.conditions.shipped import load_defaults

    load_defaults()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: the pages cache lists (metric names, a metric's
    recent runs) by keys that another test's database can share under ``pytest -n``."""
    from django.core.cache import cache

    cache.clear()
