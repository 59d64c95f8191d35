"""Helpers of the factory tests (fixtures live in conftest.py): a fake summary server, a fake
pilot, waiting and log tails, the HTCondor pool handle."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAKE_PILOT = """#!{python}
# A stand-in for p3s-pilot: records how it was called, then waits to be stopped.
import json, os, signal, sys, time
out = os.environ["FAKE_PILOT_RECORD_DIR"]
record = {{"argv": sys.argv[1:], "pid": os.getpid(),
          "env": {{k: v for k, v in os.environ.items() if k.startswith("P3S_")}}}}
path = os.path.join(out, "pilot-%d.json" % os.getpid())
with open(path + ".tmp", "w") as fh:
    json.dump(record, fh)
os.rename(path + ".tmp", path)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
time.sleep(float(os.environ.get("FAKE_PILOT_SECONDS", "300")))
"""


def summary(
    claimable: dict[str, int] | None = None,
    idle: dict[str, int] | None = None,
    busy: dict[str, int] | None = None,
    top: dict[str, int] | None = None,
) -> dict:
    """A summary answer in the shape the server gives."""
    claimable = claimable or {}
    idle, busy = idle or {}, busy or {}
    queues = set(claimable) | set(idle) | set(busy)
    return {
        "jobs": {
            "by_state": {"waiting": sum(claimable.values())},
            "by_queue": {q: {"waiting": n} for q, n in claimable.items()},
        },
        "claimable": claimable,
        "top_priority": top or {q: 10 for q in claimable},
        "pilots": {
            "by_state": {"idle": sum(idle.values()), "busy": sum(busy.values())},
            "by_queue": {q: {"idle": idle.get(q, 0), "busy": busy.get(q, 0)} for q in queues},
        },
        "latency": {},
    }


class FakeServer:
    """Answers GET /api/v1/summary/ with ``self.answer`` after ``self.delay`` seconds."""

    def __init__(self) -> None:
        self.answer: dict = summary()
        self.status = 200
        self.delay = 0.0
        self.requests: list[dict] = []
        self.got_request = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization")})
                fake.got_request.set()
                time.sleep(fake.delay)
                body = json.dumps(fake.answer).encode()
                code = fake.status if self.path == "/api/v1/summary/" else 404
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def started_pilots(fake_pilot: Path, wait_for: int = 0, timeout: float = 10) -> list[dict]:
    """The records the fake pilots wrote (waiting until there are ``wait_for`` of them)."""
    folder = fake_pilot.parent / "started"
    deadline = time.monotonic() + timeout
    while True:
        records = [json.loads(p.read_text()) for p in sorted(folder.glob("pilot-*.json"))]
        if len(records) >= wait_for or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


REPO = Path(__file__).resolve().parents[2]
CONDOR_SCRIPT = REPO / "scripts" / "condor-pool.sh"


class CondorPool:
    """A running personal pool; ``job_dir()`` gives folders the chroot's job user can use."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.jobs = Path(env["P3S_CONDOR_JOBDIR"])

    def job_dir(self, name: str) -> Path:
        """A fresh world-writable folder inside the repo (bind-mounted into the chroot)."""
        path = self.jobs / f"{name}-{os.getpid()}-{time.monotonic_ns()}"
        path.mkdir(parents=True)
        path.chmod(0o777)
        return path

    def schedd(self):
        import htcondor2

        return htcondor2.Schedd()


def wait_for(
    predicate, timeout: float = 60, what: str = "condition", every: float = 0.5, details=None
):
    """Poll until predicate() is truthy; return its value, or fail saying what never came
    (with ``details()``, e.g. log tails, appended)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(every)


def log_tails(*folders: Path, pattern: str = "*", lines: int = 30) -> str:
    """The last lines of every matching log file, for failure messages."""
    out = []
    for folder in folders:
        for path in sorted(Path(folder).glob(pattern)):
            if path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path}\n" + "\n".join(tail))
    return "\n".join(out)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (from /proc/mounts)."""
    prefix = str(root)
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return [m for m in points if m == prefix or m.startswith(prefix + "/")]
