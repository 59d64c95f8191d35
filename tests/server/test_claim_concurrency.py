"""Real parallel claimers on real PostgreSQL: disjoint jobs, none left behind."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from p3s.jobs.claim import claim_next
from p3s.jobs.models import Job

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N_JOBS = 2000
N_CLAIMERS = 16


def _fill(make_dag, n: int) -> None:
    from p3s.dags.models import DagRun, DataFile, StageSettings

    template = make_dag("""
name: bulk
trigger: {stream: bulk}
stages:
  only: {payload: diag}
""")
    st = StageSettings.objects.get(template=template)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    files = DataFile.objects.bulk_create(
        DataFile(
            url=f"file:///b/{i}.h5",
            name=f"{i}.h5",
            stream="bulk",
            run=1,
            subrun=i,
            data_ts=t0 + timedelta(seconds=i % 97),
        )
        for i in range(n)
    )
    runs = DagRun.objects.bulk_create(
        DagRun(template=template, version=template.current_version, file=f, data_ts=f.data_ts)
        for f in files
    )
    Job.objects.bulk_create(
        Job(dagrun=r, stage="only", settings=st, payload="diag", priority=i % 5, data_ts=r.data_ts)
        for i, r in enumerate(runs)
    )


def _pilots(n: int):
    from p3s.accounts.models import ApiToken
    from p3s.pilots import services

    token, _ = ApiToken.issue("claimers", "pilot")
    return [
        services.register(token, {"host": f"wn{i}", "queues": ["default"]})[0] for i in range(n)
    ]


def test_sixteen_claimers_draining_2000_jobs_never_get_the_same_job_twice(make_dag):
    _fill(make_dag, N_JOBS)
    pilots = _pilots(N_CLAIMERS)
    got: list[list[int]] = [[] for _ in range(N_CLAIMERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(N_CLAIMERS)

    def claimer(i: int) -> None:
        try:
            start.wait()
            while (job := claim_next(pilots[i].pk, ["default"])) is not None:
                got[i].append(job.pk)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(N_CLAIMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    claimed = [pk for g in got for pk in g]
    assert len(claimed) == len(set(claimed)), "a job was given to two claimers"
    assert len(claimed) == N_JOBS
    assert not Job.objects.filter(state="waiting").exists(), "jobs were left behind"
    assert sum(1 for g in got if g) > 1, "the claimers did not run in parallel"
    # Each job's pilot is the one that got it.
    owner = {pk: pilots[i].pk for i, g in enumerate(got) for pk in g}
    assert dict(Job.objects.values_list("id", "pilot_id")) == owner


def test_parallel_claimers_take_jobs_in_claim_order_per_claimer(make_dag):
    _fill(make_dag, 400)
    pilots = _pilots(4)
    got: list[list[tuple]] = [[] for _ in range(4)]

    def claimer(i: int) -> None:
        try:
            while (job := claim_next(pilots[i].pk, ["default"])) is not None:
                got[i].append((-job.priority, -job.data_ts.timestamp(), job.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for seq in got:
        # What one claimer sees is never out of order by priority.
        assert [p for p, _, _ in seq] == sorted(p for p, _, _ in seq)
