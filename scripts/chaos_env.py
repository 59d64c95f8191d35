"""What the chaos run (scripts/chaos.py) breaks on purpose, set up privately.

* :class:`PrivateCluster`: a PostgreSQL cluster of its own (initdb + pg_ctl in a temporary
  directory, on a private port, run as the ``postgres`` user through ``su``), so that it can
  be restarted without touching the shared server on 5432.
* :class:`Staging`: the staging area (``P3S_DATA_ROOT``) on a small tmpfs, so that it can be
  filled for real (ENOSPC); where mounting is not allowed, a plain directory, and the run says
  the disk-full fault was not tried.
"""

from __future__ import annotations

import errno
import glob
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


class Unavailable(RuntimeError):
    """The machine cannot give the chaos run what it needs (said why)."""


def _pg_bindir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise Unavailable("no initdb found (install postgresql: scripts/ensure-postgres.sh)")


class PrivateCluster:
    """A throw-away PostgreSQL cluster on 127.0.0.1:<port>, role p3s/p3s (superuser)."""

    def __init__(self, port: int) -> None:
        if os.geteuid() != 0:
            raise Unavailable(
                "the private PostgreSQL cluster is started with su postgres: run as root"
            )
        try:
            self.user = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise Unavailable("no postgres user on this machine") from exc
        self.bindir = _pg_bindir()
        self.port = port
        # Not under a pytest tmp dir: those are 0700 root, and the server runs as postgres.
        self.dir = Path(tempfile.mkdtemp(prefix="p3s-chaos-pg-"))
        os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgres://p3s:p3s@127.0.0.1:{self.port}/p3s"

    def _su(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = " ".join(shlex.quote(a) for a in argv)
        return subprocess.run(
            ["su", "postgres", "-s", "/bin/sh", "-c", cmd],
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            cwd="/",
        )

    def create(self) -> None:
        self._su(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        )
        self.start()
        sql = "CREATE ROLE p3s SUPERUSER LOGIN PASSWORD 'p3s'; CREATE DATABASE p3s OWNER p3s;"
        for statement in sql.split("; "):
            self._su(
                str(self.bindir / "psql"), "-h", str(self.dir), "-p", str(self.port),
                "-U", "postgres", "-d", "postgres", "-qc", statement,
            )  # fmt: skip

    # Fast but crash-true: fsync=off and full_page_writes=off only matter if the machine
    # itself crashes (the WAL is written to the kernel at each commit and survives the
    # process crash the run causes). synchronous_commit must stay on: with it off an
    # immediate stop throws away commits already answered, which the accounting then counts
    # as lost products (a short run lost one so; tests/e2e/test_chaos_cluster_keeps_commits.py).
    SETTINGS = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "on"}

    def start(self, **settings: str) -> None:
        """Start the cluster; ``settings`` override :attr:`SETTINGS` (``-c name=value``)."""
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
        opts += "".join(f" -c {k}={v}" for k, v in {**self.SETTINGS, **settings}.items())
        self._su(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-w", "-t", "60", "-o", opts, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._su(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop",
            check=False,
        )  # fmt: skip

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class Staging:
    """The staging area: a tmpfs of ``size_mb`` when it can be mounted, else a plain dir."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self.mounted = False
        self.why_not = ""
        if os.geteuid() != 0:
            self.why_not = "not root: cannot mount a tmpfs"
            return
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        self.mounted = r.returncode == 0
        self.why_not = "" if self.mounted else f"mount failed: {r.stderr.strip()}"

    @property
    def filler(self) -> Path:
        return self.path / "chaos-filler.bin"

    def fill(self) -> int:
        """Write until the disk says ENOSPC; return the bytes written (0 if it is no tmpfs)."""
        if not self.mounted:
            return 0
        written = 0
        block = b"\xff" * (1 << 20)
        with open(self.filler, "wb") as fh:
            try:
                while True:
                    fh.write(block)
                    fh.flush()
                    written += len(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
        # The last partial block: fill the remaining bytes too.
        try:
            with open(self.filler, "ab") as fh:
                while True:
                    fh.write(b"\xff" * 4096)
                    fh.flush()
                    written += 4096
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        return written

    def free(self) -> float:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize / 1e6

    def unfill(self) -> None:
        self.filler.unlink(missing_ok=True)

    def destroy(self) -> None:
        if self.mounted:
            for _ in range(20):
                if subprocess.run(["umount", str(self.path)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.5)
