"""scripts/condor-pool.sh on a running pool: idempotent, and what it mounts and prints."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from factory_helpers import CONDOR_SCRIPT, REPO, mounts_under

pytestmark = pytest.mark.condor


def script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CONDOR_SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_start_and_install_again_change_nothing_on_a_running_pool(condor_pool):
    root = Path(condor_pool.env["P3S_CONDOR_ROOT"]) / "root"
    pid = (root / "run/condor/master.pid").read_text().strip()
    assert script("install").returncode == 0
    again = script("start")
    assert again.returncode == 0
    assert f"already running (master pid {pid})" in again.stderr
    assert (root / "run/condor/master.pid").read_text().strip() == pid
    status = script("status")
    assert status.returncode == 0 and f"master pid {pid}" in status.stdout


def test_the_repo_and_the_venv_python_are_visible_inside_at_the_same_paths(condor_pool):
    root = Path(condor_pool.env["P3S_CONDOR_ROOT"]) / "root"
    mounts = mounts_under(root)
    assert f"{root}{REPO}" in mounts
    assert f"{root}/proc" in mounts
    python = Path(sys.executable)
    assert (Path(f"{root}{python}")).exists() or (Path(f"{root}{python.resolve()}")).exists()
    # The job user can run the venv's Python inside the chroot.
    out = subprocess.run(
        [
            "chroot",
            "--userspec=4242:4242",
            str(root),
            str(python),
            "-c",
            "import requests, factory, pilot; print('ok')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_env_prints_what_the_host_bindings_need(condor_pool):
    out = script("env")
    assert out.returncode == 0
    lines = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines())
    assert Path(lines["CONDOR_CONFIG"]).is_file()
    config = Path(lines["CONDOR_CONFIG"]).read_text()
    assert "SEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS" in config
    tokens = Path(lines["_CONDOR_SEC_TOKEN_DIRECTORY"])
    assert any(tokens.iterdir())
    assert oct(tokens.stat().st_mode & 0o777) == "0o700"
    assert os.access(lines["P3S_CONDOR_JOBDIR"], os.W_OK)
