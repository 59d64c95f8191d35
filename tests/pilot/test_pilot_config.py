"""The command line, the environment fallbacks and batch-system detection."""

from __future__ import annotations

import os

import pytest

from pilot.config import detect_batch, make_config
from pilot.errors import ConfigError


def config_from(argv, env):
    config, hints, _ = make_config(argv, env)
    return config


def test_server_and_token_fall_back_to_the_environment():
    config = config_from([], {"P3S_SERVER": "https://p3s.example.org", "P3S_TOKEN": "abc\n"})

    assert config.server == "https://p3s.example.org"
    assert config.token == "abc"
    assert config.queues == ["default"]


def test_token_file_is_read_from_flag_or_environment(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")

    assert config_from(["--token-file", str(token_file)], {}).token == "from-file"
    assert config_from([], {"P3S_TOKEN_FILE": str(token_file)}).token == "from-file"
    assert config_from(["--token", "flag"], {"P3S_TOKEN": "env"}).token == "flag"


def test_missing_token_is_a_config_error_that_says_what_to_set():
    with pytest.raises(ConfigError, match="P3S_TOKEN"):
        config_from([], {})


def test_queue_may_repeat_or_be_a_comma_list():
    config = config_from(
        ["--token", "t", "--queue", "tpc,crt", "--queue", "bi", "--queue", "tpc"], {}
    )

    assert config.queues == ["tpc", "crt", "bi"]


def test_once_means_one_job_and_wait_must_fit_the_long_poll_limit():
    assert config_from(["--token", "t", "--once"], {}).max_jobs == 1
    with pytest.raises(ConfigError, match="0 to 60"):
        config_from(["--token", "t", "--wait", "90"], {})


def test_workdir_defaults_to_condor_scratch_then_tmpdir(tmp_path):
    env = {"P3S_TOKEN": "t", "TMPDIR": str(tmp_path / "tmp")}
    assert config_from([], env).workdir == tmp_path / "tmp"
    env["_CONDOR_SCRATCH_DIR"] = str(tmp_path / "scratch")
    assert config_from([], env).workdir == tmp_path / "scratch"
    assert config_from(["--workdir", str(tmp_path / "w")], env).workdir == tmp_path / "w"


def test_htcondor_job_ad_gives_the_batch_id_and_granted_resources(tmp_path):
    ad = tmp_path / ".job.ad"
    ad.write_text(
        'ClusterId = 1234\nProcId = 7\nRequestCpus = 4\nRequestMemory = 8000\nOwner = "dqm"\n'
    )

    system, batch_id, hints = detect_batch({"_CONDOR_JOB_AD": str(ad)})

    assert (system, batch_id) == ("htcondor", "1234.7")
    assert hints == {"cores": "4", "memory_mb": "8000"}


def test_slurm_lsf_and_local_are_detected():
    assert detect_batch({"SLURM_JOB_ID": "99", "SLURM_CPUS_ON_NODE": "2"})[:2] == ("slurm", "99")
    assert detect_batch({"LSB_JOBID": "5", "LSB_JOBINDEX": "3"})[:2] == ("lsf", "5[3]")
    assert detect_batch({})[:2] == ("local", str(os.getpid()))
    assert detect_batch({"CONDOR_ID": "12.0"})[:2] == ("htcondor", "12.0")


def test_batch_identity_can_be_overridden_by_environment_and_flags():
    env = {"SLURM_JOB_ID": "99", "P3S_BATCH_SYSTEM": "pbs", "P3S_BATCH_ID": "x1", "P3S_TOKEN": "t"}
    assert detect_batch(env)[:2] == ("pbs", "x1")
    config = config_from(["--batch-system", "lsf", "--batch-id", "42"], env)
    assert (config.batch_system, config.batch_id) == ("lsf", "42")


def test_lifetime_reserve_is_a_minute_or_a_tenth_of_a_short_lifetime():
    assert config_from(["--token", "t", "--lifetime", "86400"], {}).lifetime_reserve == 60.0
    assert config_from(["--token", "t", "--lifetime", "120"], {}).lifetime_reserve == 12.0
    argv = ["--token", "t", "--lifetime", "120", "--lifetime-reserve", "0"]
    assert config_from(argv, {}).lifetime_reserve == 0.0
