"""The pilot's hot path: the job report, and report-and-claim.

A pilot reporting ``finished`` may ask for its next job in the same request by adding
``"claim": {"time_left": S}`` (``time_left`` optional, as for the claim endpoint; the
claim does not long-poll). The answer is the usual report answer plus ``"next"``: the
job spec the claim endpoint would have sent, or null when nothing is waiting (the pilot
then long-polls the claim endpoint as before).

Never losing a job: the report commits, then the claim commits; if the answer is lost
after either, the pilot repeats the same request. The report is idempotent, and the claim
first hands back any job already dispatched to this pilot and not yet running (the one
whose answer was lost) before it claims another, so a repeated request never leaves a job
stranded on a pilot that does not know it holds it.

Views here read the pilot token through the short-lived token cache
(:mod:`p3s.accounts.token_cache`); their pilot lookup refuses a revoked token.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from p3s.api import limits
from p3s.api import schema_docs as sd
from p3s.api import serializers as s
from p3s.dqm import services as dqm
from p3s.jobs import actions, claim
from p3s.jobs.models import Job
from p3s.jobs.states import JobState
from p3s.pilots import services as pilots
from p3s.pilots.models import Pilot, PilotState

# Actions whose pilot lookup re-checks revocation: they may use the token cache.
PILOT_HOT_ACTIONS = (
    "heartbeat",
    "claim",
    "exit",
    "report",
    "outputs",
    "products",
    "products_batch",
    "metrics",
)


def lean_beat(data) -> tuple[int | None, dict | None] | None:
    """``(job, progress)`` of a heartbeat body that is plainly valid, else None: the
    serializer then reads it and answers anything wrong with its usual 400."""
    if not isinstance(data, dict):
        return None
    job, progress = data.get("job"), data.get("progress")
    if job is not None and type(job) is not int:
        return None
    if progress is not None:
        if type(progress) is not dict:
            return None
        try:
            limits.bounded_json(progress, "progress")
        except ValidationError:
            return None
    return job, progress


def next_job_spec(pilot: Pilot, reported: int, time_left: float | None, request) -> dict | None:
    """The pilot's next job: one already dispatched to it (a lost answer), else a claim.

    ``pilot`` is the row read before the report of job ``reported``. A claim binds the job
    to the pilot (``pilot.job``), so only a pilot bound to another job than the one it
    reports can hold one already: the repeat of a report-and-claim whose answer was lost.
    The others (nearly every call) skip that read."""
    from p3s.api.views import job_spec

    if pilot.job_id is not None and pilot.job_id != reported:
        held = (
            Job.objects.select_related("dagrun__file")
            .filter(pilot_id=pilot.pk, state=JobState.DISPATCHED)
            .order_by("dispatched_at", "id")
            .first()
        )
        if held is not None:
            return job_spec(held, request)
    if pilot.state not in (PilotState.IDLE, PilotState.BUSY):
        return None
    job = claim.claim_next(pilot.pk, pilot.queues, time_left, actor=f"pilot:{pilot.pk}")
    return job_spec(job, request) if job is not None else None


class ReportMixin:
    """``POST jobs/{id}/report/`` for :class:`p3s.api.views.JobViewSet`."""

    token_cache_actions = PILOT_HOT_ACTIONS

    @extend_schema(
        request=s.ReportSerializer,
        responses={200: s.ReportAnswerSerializer},
        parameters=[sd.PILOT_KEY],
    )
    @action(detail=True, methods=["post"])
    def report(self, request, pk=None):
        from p3s.api.views import _job_id, _pilot_key, _token

        pilot = pilots.by_key(_token(request), _pilot_key(request))
        ser = s.ReportSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        wanted = request.data.get("claim") if isinstance(request.data, dict) else None
        time_left = None
        if wanted is not None:
            if d["state"] != JobState.FINISHED:
                raise ValidationError({"claim": ["only a finished report may claim a job"]})
            claim_ser = s.ClaimSerializer(data=wanted)
            if not claim_ser.is_valid():
                raise ValidationError({"claim": claim_ser.errors})
            time_left = claim_ser.validated_data["time_left"]
        rep = actions.Report(
            state=d["state"],
            outputs=d["outputs"],
            exit_code=d["exit_code"],
            message=d["message"],
            log_tail=d["log_tail"],
            attempt=d["attempt"],
        )
        # The pilot's hot path: one locked read of the job, no pre-fetch, a compact answer.
        job = dqm.apply_report(_job_id(pk), pilot.pk, rep, d["metrics"], f"pilot:{pilot.pk}")
        answer = {"id": job.pk, "state": job.state, "attempt": job.attempt, "dagrun": job.dagrun_id}
        if wanted is not None:
            answer["next"] = next_job_spec(pilot, job.pk, time_left, request)
        return Response(answer)

    @extend_schema(
        request=s.ReleaseSerializer,
        responses={200: s.ReleaseAnswerSerializer},
        parameters=[sd.PILOT_KEY],
    )
    @action(detail=True, methods=["post"])
    def outputs(self, request, pk=None):
        """Early outputs: the running job's data outputs are written and final; its children
        whose parents are all ready become claimable now, while it makes its products
        (:func:`p3s.jobs.actions.release_outputs`)."""
        from p3s.api.views import _job_id, _pilot_key, _token

        pilot = pilots.by_key(_token(request), _pilot_key(request))
        ser = s.ReleaseSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        job, children = actions.release_outputs(
            _job_id(pk), pilot.pk, d["outputs"], d["attempt"], f"pilot:{pilot.pk}"
        )
        return Response(
            {
                "id": job.pk,
                "state": job.state,
                "attempt": job.attempt,
                "released_at": job.released_at,
                "children": [c.pk for c in children],
            }
        )
