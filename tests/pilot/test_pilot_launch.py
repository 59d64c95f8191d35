"""``python -m pilot.launch``: only registered payloads run."""

from __future__ import annotations

import subprocess
import sys


def launch(*argv, cwd):
    return subprocess.run(
        [sys.executable, "-m", "pilot.launch", *argv], cwd=cwd, capture_output=True, text=True
    )


def test_launch_runs_a_registered_payload_with_its_arguments_and_exit_code(tmp_path):
    done = launch("diag", "--exit-code", "4", cwd=tmp_path)

    assert done.returncode == 4
    assert "diag: job 0" in done.stdout
    assert (tmp_path / "result.json").exists()


def test_launch_refuses_a_name_that_is_not_registered(tmp_path):
    done = launch("os.system", "echo hacked", cwd=tmp_path)

    assert done.returncode == 127
    assert "no payload 'os.system' is registered in p3s.payloads" in done.stderr
    assert "hacked" not in done.stdout
