"""One p3s-factory cycle end to end on the local backend against a fake summary server:
submissions follow the arithmetic, the lock keeps overlapping cycles apart, dry runs and
unreachable servers submit nothing."""

import subprocess
import sys

import pytest
from factory_helpers import started_pilots, summary

from factory.backends.local import LocalBackend
from factory.cli import main
from factory.errors import BackendError


@pytest.fixture
def run_factory(tmp_path, fake_server, token_file, fake_pilot):
    state = tmp_path / "state"

    def argv(*extra: str, target: int = 5) -> list[str]:
        return [
            "--backend",
            "local",
            "--target",
            str(target),
            "--server",
            fake_server.url,
            "--token-file",
            str(token_file),
            "--pilot-command",
            str(fake_pilot),
            "--state-dir",
            str(state),
            "--factory-id",
            "t1",
            *extra,
        ]

    def run(*extra: str, target: int = 5) -> int:
        return main(argv(*extra, target=target))

    run.argv = argv
    run.backend = LocalBackend("t1", ["default"], state, kill_grace=2)
    yield run
    run.backend.remove([p.id for p in run.backend.query()])


def test_cycle_submits_what_the_server_needs_and_reads_with_the_token(
    run_factory, fake_server, fake_pilot
):
    fake_server.answer = summary(claimable={"default": 3})
    assert run_factory() == 0
    assert len(run_factory.backend.query()) == 3
    assert len(started_pilots(fake_pilot, wait_for=3)) == 3
    assert fake_server.requests[0] == {
        "path": "/api/v1/summary/",
        "auth": "Token operator-secret-123",
    }


def test_next_cycle_counts_its_own_pilots_and_submits_only_the_difference(run_factory, fake_server):
    fake_server.answer = summary(claimable={"default": 3})
    assert run_factory() == 0
    # The three run and registered; two are busy, one idle; two more jobs arrived.
    fake_server.answer = summary(claimable={"default": 5}, idle={"default": 1}, busy={"default": 2})
    assert run_factory() == 0
    assert len(run_factory.backend.query()) == 5  # 5 wanted, 1 idle: 4 more, bounded by target 5


def test_cycle_logs_one_line_per_decision(run_factory, fake_server, caplog):
    fake_server.answer = summary(claimable={"default": 9})
    caplog.set_level("INFO", logger="p3s.factory")
    assert run_factory("--cap", "2") == 0
    text = caplog.text
    assert "queue default: claimable 9" in text
    assert "cycle cap 2: 2 left" in text
    assert "submitted 2 pilots" in text


def test_dry_run_submits_nothing_but_says_what_it_would_do(
    run_factory, fake_server, fake_pilot, caplog
):
    fake_server.answer = summary(claimable={"default": 4})
    caplog.set_level("INFO", logger="p3s.factory")
    assert run_factory("--dry-run") == 0
    assert run_factory.backend.query() == []
    assert started_pilots(fake_pilot) == []
    assert "would submit 4" in caplog.text
    assert "nothing submitted" in caplog.text


def test_unreachable_server_means_no_submission_and_a_nonzero_exit(
    run_factory, fake_server, fake_pilot, caplog
):
    fake_server.answer = summary(claimable={"default": 4})
    fake_server.close()
    assert run_factory() == 3
    assert run_factory.backend.query() == []
    assert started_pilots(fake_pilot) == []
    assert "server unreachable" in caplog.text


def test_refused_token_means_no_submission(run_factory, fake_server):
    fake_server.answer = summary(claimable={"default": 4})
    fake_server.status = 403
    assert run_factory() == 3
    assert run_factory.backend.query() == []


def test_overlapping_cycles_only_one_submits(run_factory, fake_server, fake_pilot):
    fake_server.answer = summary(claimable={"default": 2})
    fake_server.delay = 3.0  # the first cycle holds the lock while it waits for the server
    cmd = [
        sys.executable,
        "-c",
        "import sys; from factory.cli import main; sys.exit(main(sys.argv[1:]))",
    ]
    first = subprocess.Popen(cmd + run_factory.argv(), stderr=subprocess.PIPE, text=True)
    assert fake_server.got_request.wait(20), "the first cycle never asked the server"
    second = subprocess.run(cmd + run_factory.argv(), capture_output=True, text=True, timeout=30)
    assert second.returncode == 0
    assert "another cycle holds" in second.stderr
    _, first_err = first.communicate(timeout=30)
    assert first.returncode == 0, first_err
    assert len(fake_server.requests) == 1  # the second never even asked
    assert len(run_factory.backend.query()) == 2
    assert len(started_pilots(fake_pilot, wait_for=2)) == 2
    # The lock goes with the first cycle: a later cycle runs normally.
    fake_server.delay = 0
    assert run_factory() == 0
    assert len(fake_server.requests) == 2


def test_lowered_target_never_kills_running_local_pilots(run_factory, fake_server):
    fake_server.answer = summary(claimable={"default": 4})
    assert run_factory() == 0
    assert len(run_factory.backend.query()) == 4
    fake_server.answer = summary(claimable={"default": 0}, idle={"default": 4})
    # Local pilots are all "running", so a lowered target trims nothing: they exit when idle.
    assert run_factory(target=2) == 0
    assert len(run_factory.backend.query()) == 4


def test_missing_token_is_a_config_error(tmp_path, fake_server, monkeypatch, capsys):
    monkeypatch.delenv("P3S_TOKEN", raising=False)
    monkeypatch.delenv("P3S_TOKEN_FILE", raising=False)
    code = main(
        [
            "--backend",
            "local",
            "--target",
            "1",
            "--server",
            fake_server.url,
            "--state-dir",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "no token" in capsys.readouterr().err
    assert fake_server.requests == []


def test_token_from_environment_reads_the_summary_but_pilots_need_a_file(
    tmp_path, fake_server, monkeypatch, caplog
):
    monkeypatch.setenv("P3S_TOKEN", "env-token")
    monkeypatch.delenv("P3S_TOKEN_FILE", raising=False)
    fake_server.answer = summary(claimable={"default": 1})
    code = main(
        [
            "--backend",
            "local",
            "--target",
            "1",
            "--server",
            fake_server.url,
            "--state-dir",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert fake_server.requests[0]["auth"] == "Token env-token"
    assert "pilots need a token file" in caplog.text


def test_config_file_gives_defaults_and_the_command_line_wins(
    tmp_path, fake_server, token_file, fake_pilot
):
    config = tmp_path / "factory.toml"
    config.write_text(
        f'backend = "local"\ntarget = 1\nserver = "{fake_server.url}"\n'
        f'token-file = "{token_file}"\npilot-command = "{fake_pilot}"\n'
        f'state-dir = "{tmp_path / "state"}"\nfactory-id = "t1"\ncap = 10\n'
    )
    fake_server.answer = summary(claimable={"default": 5})
    backend = LocalBackend("t1", ["default"], tmp_path / "state", kill_grace=2)
    try:
        assert main(["--config", str(config), "--target", "3"]) == 0
        assert len(backend.query()) == 3
    finally:
        backend.remove([p.id for p in backend.query()])


def test_unknown_config_key_is_refused(tmp_path, capsys):
    config = tmp_path / "factory.toml"
    config.write_text("backend = 'local'\ntargett = 3\n")
    assert main(["--config", str(config)]) == 2
    assert "unknown key 'targett'" in capsys.readouterr().err


def test_console_script_is_installed():
    out = subprocess.run(
        ["p3s-factory", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": f"{sys.prefix}/bin"},
    )
    assert out.returncode == 0
    assert "--backend" in out.stdout and "--dry-run" in out.stdout


def test_several_queues_share_the_cap_hottest_first_and_pilots_get_their_queue(
    run_factory, fake_server, fake_pilot
):
    fake_server.answer = summary(claimable={"a": 3, "b": 1}, top={"a": 10, "b": 50})
    run_factory.backend.queues = ["a", "b"]
    assert run_factory("--queue", "a,b", "--cap", "2") == 0
    pilots = run_factory.backend.query()
    assert sorted(p.queue for p in pilots) == ["a", "b"]
    queues = sorted(
        r["argv"][r["argv"].index("--queue") + 1] for r in started_pilots(fake_pilot, 2)
    )
    assert queues == ["a", "b"]


class BrokenBatch:
    """A batch system whose queue cannot be read."""

    name = "broken"
    submitted = 0

    def query(self):
        raise BackendError("condor_schedd unreachable")

    def submit(self, n, spec):
        self.submitted += n
        return [str(i) for i in range(n)]

    def remove(self, ids):
        pass

    def describe(self, n, spec):
        return ""


def test_unreadable_batch_queue_means_no_submission_and_exit_4(
    run_factory, fake_server, monkeypatch, caplog
):
    broken = BrokenBatch()
    monkeypatch.setattr("factory.cli.make_backend", lambda *a, **kw: broken)
    fake_server.answer = summary(claimable={"default": 4})
    assert run_factory() == 4
    assert broken.submitted == 0
    assert "no pilots submitted: condor_schedd unreachable" in caplog.text
