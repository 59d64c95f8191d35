#!/usr/bin/env python
"""Conditions over HTTP: a full download (200) against a revalidation (304), and the pilot's
cache cold against warm, on a real gunicorn with its own SQLite database in a temp folder.

    .venv/bin/python scripts/bench_conditions.py [--n 200]

Prints the median and 90th percentile per request and the bytes on the wire, for the shipped
``channel-map`` (the largest condition) and for one job's three conditions through
``pilot.conditions.ConditionsCache``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from pilot.conditions import ConditionsCache, HttpFetch  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stats(times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered) * 1e3:.2f} ms, p90 {p90 * 1e3:.2f} ms"


def timed(call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="requests per figure")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="p3s-bench-conditions-"))
    port = free_port()
    env = {
        **os.environ,
        "P3S_DATABASE_URL": f"sqlite:///{work / 'p3s.sqlite3'}",
        "P3S_VAR_DIR": str(work / "var"),
        "P3S_SECRET_KEY": "bench",
        "P3S_BIND": f"127.0.0.1:{port}",
        "P3S_WORKERS": "2",
        "P3S_LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    token = subprocess.run(
        [*manage, "p3s_token", "--role", "pilot", "bench"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", str(ROOT / "p3s/gunicorn.conf.py"), "p3s.wsgi"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        url = base + "/api/v1/conditions/channel-map/?version=1"
        first = session.get(url)
        etag, size = first.headers["ETag"], len(first.content)
        full = timed(lambda: session.get(url).content, args.n)
        again = timed(lambda: session.get(url, headers={"If-None-Match": etag}).content, args.n)
        print(f"channel-map 200: {size} bytes of body, {stats(full)}")
        print(f"channel-map 304: 0 bytes of body, {stats(again)}")
        urls = {
            n: f"{base}/api/v1/conditions/{n}/?version=1"
            for n in ("channel-map", "bad-channels", "bands")
        }
        cold, warm = [], []
        for i in range(max(1, args.n // 10)):
            cache = ConditionsCache(work / f"cache-{i}", HttpFetch(token), base)
            t0 = time.perf_counter()
            cache.localise({"id": i, "conditions": urls}, work / f"job-{i}-a")
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cache.localise({"id": i, "conditions": urls}, work / f"job-{i}-b")
            warm.append(time.perf_counter() - t0)
        print(f"pilot cache, one job's 3 conditions, cold (3 x 200): {stats(cold)}")
        print(f"pilot cache, one job's 3 conditions, warm (3 x 304): {stats(warm)}")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
