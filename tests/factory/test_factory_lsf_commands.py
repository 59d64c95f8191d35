"""LSF command lines and the parsing of their output, against documented formats.

LSF cannot run here (proprietary); these fixtures follow the IBM Spectrum LSF 10.1 command
reference: bsub ("Job <job_ID> is submitted to [default ]queue <queue>."),
https://www.ibm.com/docs/en/spectrum-lsf/10.1.0?topic=reference-bsub, and bjobs -o/-json
(https://www.ibm.com/docs/en/SSWRJV_10.1.0/lsf_command_ref/bjobs.o.1.html,
https://www.ibm.com/support/knowledgecenter/SSWRJV_10.1.0/lsf_command_ref/bjobs.json.1.html:
an object with COMMAND, JOBS and RECORDS, one record per job with the requested fields
upper-cased, all values strings).
"""

from pathlib import Path

import pytest

from factory.backends.base import PilotSpec
from factory.backends.lsf import LsfBackend, parse_bjobs_json, parse_bsub
from factory.errors import BackendError

BJOBS_JSON = """{
  "COMMAND":"bjobs",
  "JOBS":5,
  "RECORDS":[
    {
      "JOBID":"4711",
      "STAT":"RUN",
      "JOB_NAME":"p3s.f1.default"
    },
    {
      "JOBID":"4712",
      "STAT":"PEND",
      "JOB_NAME":"p3s.f1.default"
    },
    {
      "JOBID":"4713",
      "STAT":"PSUSP",
      "JOB_NAME":"p3s.f1.urgent"
    },
    {
      "JOBID":"4714",
      "STAT":"DONE",
      "JOB_NAME":"p3s.f1.default"
    },
    {
      "JOBID":"4715",
      "STAT":"PEND",
      "JOB_NAME":"p3s.other.default"
    }
  ]
}
"""

SPEC = PilotSpec(
    server="https://p3s.example.org",
    token_file=Path("/home/p3s/pilot.token"),
    queue="default",
    factory_id="f1",
    lifetime=3600,
    memory=3000,
    log_dir=Path("/home/p3s/logs"),
    pilot="/opt/p3s/bin/p3s-pilot",
    pilot_args=("--idle-exit", "600"),
    batch_queue="short",
)


class Recorder:
    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    def __call__(self, argv, **kw) -> str:
        self.calls.append(list(argv))
        return self.answers.pop(0)


def test_bsub_command_line_tags_the_pilot_and_passes_the_token_as_a_file(tmp_path):
    argv = LsfBackend("f1", ["default"]).bsub_argv(SPEC)
    assert argv[:3] == ["bsub", "-J", "p3s.f1.default"]
    opts = dict(zip(argv[1:-11:2], argv[2:-11:2], strict=False))
    assert opts["-q"] == "short"
    assert opts["-W"] == "65"  # (3600 s + 300 s grace) in minutes
    assert opts["-M"] == "3000MB"
    assert opts["-o"] == "/home/p3s/logs/lsf-%J.out"
    assert opts["-env"] == "all, P3S_SERVER=https://p3s.example.org, P3S_QUEUE=default"
    assert argv[-11:] == [
        "/opt/p3s/bin/p3s-pilot",
        "--server",
        "https://p3s.example.org",
        "--token-file",
        "/home/p3s/pilot.token",
        "--queue",
        "default",
        "--lifetime",
        "3600",
        "--idle-exit",
        "600",
    ]


def test_bsub_answers_are_parsed_for_the_job_id():
    assert parse_bsub("Job <1234> is submitted to default queue <normal>.\n") == "1234"
    assert parse_bsub("Job <98> is submitted to queue <short>.\n") == "98"
    with pytest.raises(BackendError, match="no job id"):
        parse_bsub("Bad resource requirement syntax. Job not submitted.")


def test_submit_runs_bsub_once_per_pilot(tmp_path):
    runner = Recorder(
        "Job <1> is submitted to queue <short>.", "Job <2> is submitted to queue <short>."
    )
    spec = PilotSpec(**{**SPEC.__dict__, "log_dir": tmp_path / "logs"})
    assert LsfBackend("f1", ["default"], runner=runner).submit(2, spec) == ["1", "2"]
    assert len(runner.calls) == 2 and (tmp_path / "logs").is_dir()


def test_bjobs_json_is_parsed_into_this_factorys_pilots_per_state():
    pilots = parse_bjobs_json(BJOBS_JSON, "f1")
    assert [(p.id, p.queue, p.state) for p in pilots] == [
        ("4711", "default", "running"),
        ("4712", "default", "queued"),
        ("4713", "urgent", "held"),
    ]


def test_query_selects_by_job_name_and_tolerates_no_jobs():
    runner = Recorder("")  # "No unfinished job found" goes to stderr, exit 255
    backend = LsfBackend("f1", ["default"], runner=runner)
    assert backend.query() == []
    assert runner.calls[0] == ["bjobs", "-o", "jobid stat job_name", "-json", "-J", "p3s.f1.*"]
    assert parse_bjobs_json('{"COMMAND":"bjobs","JOBS":0,"RECORDS":[]}', "f1") == []


def test_bjobs_records_of_unknown_jobs_are_skipped():
    out = '{"COMMAND":"bjobs","JOBS":1,"RECORDS":[{"JOBID":"9","ERROR":"Job <9> is not found"}]}'
    assert parse_bjobs_json(out, "f1") == []


def test_garbage_from_bjobs_is_an_error():
    with pytest.raises(BackendError, match="not JSON"):
        parse_bjobs_json("LSF is down", "f1")


def test_remove_calls_bkill_with_the_ids():
    runner = Recorder("")
    LsfBackend("f1", ["default"], runner=runner).remove(["4711", "4712"])
    assert runner.calls == [["bkill", "4711", "4712"]]
