#!/usr/bin/env python
"""Heartbeat capacity: 200 simulated pilots heartbeating as fast as they can through real
gunicorn on PostgreSQL; prints heartbeats per second and latency percentiles (and writes
var/bench/heartbeat.json). Reuses the server helpers of scripts/bench.py.

    python scripts/bench_heartbeat.py [--pilots 200] [--seconds 15] [--processes 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402 - the helpers of scripts/bench.py


def _pilots(url: str, token: str, nthreads: int, seconds: float, results) -> None:
    import requests

    host, port = urlsplit(url).hostname, urlsplit(url).port

    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(nthreads)

    def one(i: int) -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Token {token}"
        for _ in range(10):  # a shared, overloaded database may answer 503 for a while
            r = s.post(f"{url}/api/v1/pilots/", json={"host": f"hb{i}"}, timeout=60)
            if r.status_code != 503:
                break
            time.sleep(1.0)
        if r.status_code != 201:  # counted as an error; the others must not wait for it
            with lock:
                errors.append(1)
            start.wait()
            return
        pid = r.json()["id"]
        # The beats go through one kept-alive http.client connection: `requests` cost the
        # simulated pilots about 1 ms of CPU a beat, a third of the machine's, on the cores
        # the server needs (a real pilot runs on a worker node).
        path = f"/api/v1/pilots/{pid}/heartbeat/"
        headers = {
            "Authorization": f"Token {token}",
            "X-P3S-Pilot-Key": r.json()["key"],
            "Content-Type": "application/json",
        }
        body = json.dumps({"job": None, "progress": {"elapsed": 1.0, "log_bytes": 1234}})
        conn = http.client.HTTPConnection(host, port, timeout=60)
        mine: list[float] = []
        bad = 0
        start.wait()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                answer = conn.getresponse()
                answer.read()
                ok = answer.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()  # reconnects at the next request
                ok = False
            mine.append(time.perf_counter() - t0)
            bad += not ok
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.append(bad)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = os.times()  # the simulated pilots' own CPU: on these cores, not the server's
    results.put((latencies, sum(errors), cpu.user + cpu.system))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilots", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    name = "p3s_bench_heartbeat"
    db_url = bench.fresh_database(name)
    port = bench.free_port()
    var = bench.OUT / "heartbeat-var"
    env = bench.server_env(db_url, var, port)
    bench.manage(env, "migrate", "-v0")
    token = bench.manage(env, "p3s_token", "--role", "pilot", "bench-heartbeats")
    gunicorn = bench.start_gunicorn(env, port, var)
    url = f"http://127.0.0.1:{port}"
    bench.log(f"heartbeat: {args.pilots} simulated pilots for {args.seconds:g} s")
    results: mp.Queue = mp.Queue()
    per = args.pilots // args.processes
    procs = [
        mp.Process(target=_pilots, args=(url, token, per, args.seconds, results))
        for _ in range(args.processes)
    ]
    for p in procs:
        p.start()
    got = [results.get(timeout=args.seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    gunicorn.terminate()
    gunicorn.wait(20)
    bench.drop_database(name)
    shutil.rmtree(var, ignore_errors=True)
    latencies = sorted(x for lat, _, _ in got for x in lat)
    errors = sum(e for _, e, _ in got)

    def pct(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    out = {
        "pilots": per * args.processes,
        "seconds": args.seconds,
        "heartbeats": len(latencies),
        "heartbeats_per_s": round(len(latencies) / args.seconds, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * latencies[-1], 1),
        "errors": errors,
        "workers_x_threads": f"{env['P3S_WORKERS']} x {env['P3S_THREADS']}",
    }
    bench.OUT.mkdir(parents=True, exist_ok=True)
    (bench.OUT / "heartbeat.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
