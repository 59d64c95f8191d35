"""The circuit breaker: a stage whose jobs keep failing is paused, not fed more data.

After each failure of a job, :func:`check_stage` counts the stage's failures and successes
within ``P3S_BREAKER_WINDOW`` seconds (default one hour); more than ``P3S_BREAKER_FAILURES``
failures (default 10) that also outnumber the successes pause the stage: its waiting jobs are
no longer claimed (``p3s.jobs.claim``), the reason is stored on the stage and recorded as a
template event. An operator resumes it with :func:`resume` (``POST
/api/v1/dags/{name}/resume/``). Failures with an exit code of ``P3S_NO_RETRY_EXIT_CODES``
(2: the payload refused its input; 127: no such payload) are deterministic and never retried.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from p3s.jobs.models import Job, JobEvent
from p3s.jobs.states import JobState


def deterministic(job: Job) -> bool:
    """Whether the job's failure cannot go away by running it again."""
    return job.exit_code is not None and job.exit_code in settings.P3S["NO_RETRY_EXIT_CODES"]


def check_stage(job: Job, actor: str = "breaker") -> bool:
    """Pause the job's stage when its recent failures trip the breaker; returns whether it did.

    Runs in the caller's transaction (the failed report), so the pause and the failure that
    caused it commit together.
    """
    from p3s.dags.models import StageSettings, TemplateEvent

    threshold = settings.P3S["BREAKER_FAILURES"]
    if threshold <= 0:
        return False
    window = settings.P3S["BREAKER_WINDOW"]
    since = timezone.now() - timedelta(seconds=window)
    counts = {
        row["to_state"]: row["n"]
        for row in JobEvent.objects.filter(
            to_state__in=[JobState.FAILED, JobState.FINISHED],
            at__gte=since,
            job__settings_id=job.settings_id,
        )
        .values("to_state")
        .annotate(n=Count("id"))
    }
    failures, successes = counts.get(JobState.FAILED, 0), counts.get(JobState.FINISHED, 0)
    if failures <= threshold or failures <= successes:
        return False
    reason = (
        f"paused automatically: {failures} failures against {successes} successes in the "
        f"last {window / 3600:g} h (limit {threshold}); last: {job.message[:300]}"
    )
    paused = StageSettings.objects.filter(pk=job.settings_id, paused=False).update(
        paused=True, paused_reason=reason, paused_at=timezone.now()
    )
    if paused:
        TemplateEvent.objects.create(
            template_id=job.settings.template_id,
            actor=actor,
            action="stage-paused",
            detail=f"stage {job.stage}: {reason}",
        )
    return bool(paused)


def resume(template, stages: list[str] | None, actor: str) -> list[str]:
    """Resume paused stages of a template (all of them when ``stages`` is None)."""
    from p3s.dags.models import TemplateEvent
    from p3s.jobs import wakeup

    qs = template.stage_settings.filter(paused=True)
    if stages is not None:
        qs = qs.filter(stage__in=stages)
    names = sorted(qs.values_list("stage", flat=True))
    qs.update(paused=False, paused_reason="", paused_at=None)
    for name in names:
        TemplateEvent.objects.create(
            template=template, actor=actor, action="stage-resumed", detail=f"stage {name}"
        )
    if names:
        wakeup.notify_claimable()
    return names
