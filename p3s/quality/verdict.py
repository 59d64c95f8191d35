"""The run verdict: automatic (worst flag over the run's check results) and the sign-off."""

from __future__ import annotations

from django.db import transaction

from p3s.exceptions import P3SError
from p3s.quality import refs
from p3s.quality.models import FLAG_RANK, CheckResult, Flag, RunSignoff, RunTally, Verdict, worst


class BadSignoff(P3SError, ValueError):
    """A sign-off with a verdict other than good or bad."""


def _flag_row(r: CheckResult) -> dict:
    return {
        "element": r.element,
        "check": r.check_ref.name,
        "kind": r.check_ref.kind,
        "flag": r.flag,
        "value": r.value,
        "reference": r.reference,
        "statistic": r.statistic,
        "p_value": r.p_value,
        "detail": r.detail,
        "product": r.product_id,
        "job": r.job_id,
        "data_ts": r.data_ts.isoformat(),
    }


def _signoff_row(s: RunSignoff) -> dict:
    return {
        "verdict": s.verdict,
        "comment": s.comment,
        "by": s.actor,
        "at": s.signed_at.isoformat(),
        "automatic": s.automatic,
    }


def run_quality(run: int) -> dict:
    """The verdict and flags of a run (the body of ``GET /api/v1/runs/{run}/quality/``).

    ``automatic`` is the worst flag over the run's results (undefined when nothing was
    checked); ``flags`` lists, per check and element, the worst warning or bad result of the
    run; ``counts`` counts all results by flag and ``checks`` per check; ``verdict`` is the newest sign-off's verdict, or
    the automatic one. ``reference`` is the reference set current for the run's template and
    stream; when it has expired, ``notes`` says so (a comparison with a stale reference).
    """
    tallies = list(RunTally.objects.filter(run=run).select_related("check_ref"))
    counts = {f: sum(getattr(t, f) for t in tallies) for f in Flag.values}
    automatic = worst(f for f, n in counts.items() if n)
    failing: dict[tuple[int, str], CheckResult] = {}
    for r in (
        CheckResult.objects.filter(run=run, flag__in=[Flag.WARNING, Flag.BAD])
        .select_related("check_ref")
        .order_by("data_ts", "id")
    ):
        key = (r.check_ref_id, r.element_key)
        if key not in failing or FLAG_RANK[Flag(r.flag)] >= FLAG_RANK[Flag(failing[key].flag)]:
            failing[key] = r
    flags = sorted(
        failing.values(),
        key=lambda r: (-FLAG_RANK[Flag(r.flag)], r.check_ref.name, r.element_key),
    )
    signoffs = list(RunSignoff.objects.filter(run=run).order_by("-signed_at", "-id")[:20])
    origin = (
        CheckResult.objects.filter(run=run)
        .values_list("template", "stream")
        .order_by("-id")
        .first()
    )
    ref = refs.current_reference(*origin, run) if origin else None
    reference = refs.describe(ref)
    notes = []
    if reference and reference["expired"]:
        notes.append(f"reference {reference['name']!r} has expired: comparisons may mislead")
    if origin and ref is None:
        notes.append("no current reference: reference checks are undefined")
    return {
        "run": run,
        "verdict": signoffs[0].verdict if signoffs else automatic,
        "automatic": automatic,
        "signoff": _signoff_row(signoffs[0]) if signoffs else None,
        "signoffs": [_signoff_row(s) for s in signoffs],
        "counts": counts,
        "checks": [
            {"check": t.check_ref.name, **{f: getattr(t, f) for f in Flag.values}}
            for t in sorted(tallies, key=lambda t: t.check_ref.name)
        ],
        "flags": [_flag_row(r) for r in flags],
        "reference": reference,
        "notes": notes,
    }


def sign_off(
    run: int, user, verdict: str, comment: str = "", actor: str | None = None
) -> RunSignoff:
    """Record an operator's verdict on a run (kept beside earlier ones; the newest counts)."""
    if verdict not in Verdict.values:
        raise BadSignoff(f"verdict must be one of {', '.join(Verdict.values)}, not {verdict!r}")
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    who = actor or (f"user:{user.get_username()}" if user is not None else "unknown")
    seen = [
        f
        for row in RunTally.objects.filter(run=run).values(*Flag.values)
        for f, n in row.items()
        if n
    ]
    with transaction.atomic():
        row = RunSignoff.objects.create(
            run=run,
            verdict=verdict,
            comment=comment or "",
            automatic=worst(seen),
            user=user,
            actor=who[:200],
        )
        from p3s.bus import outbox  # the bus (off by default): in the sign-off's transaction

        outbox.emit(
            "run.verdict",
            {"run": run, "verdict": verdict, "automatic": row.automatic, "by": row.actor},
        )
        return row
