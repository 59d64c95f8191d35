"""Failure triage: failures grouped by template, stage and normalised error message.

A failure is a ``JobEvent`` into ``failed`` or ``timeout`` (each attempt counts, retried or
not; its reason is the pilot's message). Messages are normalised so that the same error on
different files, channels or hosts falls in one group: URLs, paths, hex ids (UUIDs, hashes,
0x...) and numbers become ``<url>``, ``<path>``, ``<hex>`` and ``<n>``. Each error is classed
with the rule the queue itself applies (:func:`p3s.jobs.breaker.deterministic`): an exit code
in ``P3S_NO_RETRY_EXIT_CODES`` (2: the payload refused its input, e.g. a bad raw file; 127: no
such payload) is never retried, a timeout is set aside for triage, the rest is retried while
attempts are left.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from p3s.jobs.models import JobEvent
from p3s.jobs.states import JobState

MAX_EVENTS = 50_000
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)
_PATH = re.compile(r"(?<![\w<])(?:~|\.{1,2})?/(?:[\w.@%+=:,-]+/?)+")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_HEX = re.compile(r"\b(?:0x[0-9a-f]+|(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{6,})\b", re.I)
_NUM = re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w>])", re.I)
_SPACE = re.compile(r"\s+")


def normalise(message: str) -> str:
    """The message with its variable parts replaced, first line only, at most 300 chars."""
    text = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    text = _URL.sub("<url>", text)
    text = _UUID.sub("<hex>", text)
    text = _PATH.sub("<path>", text)
    text = _HEX.sub("<hex>", text)
    text = _NUM.sub("<n>", text)
    text = _SPACE.sub(" ", text).strip()
    return text[:300] or "(no message)"


def classify(state: str, exit_code: int | None) -> str:
    """``not retriable`` / ``timeout`` / ``retriable``, as the queue treats the failure."""
    if state == JobState.TIMEOUT:
        return "timeout"
    if exit_code is not None and exit_code in settings.P3S["NO_RETRY_EXIT_CODES"]:
        return "not retriable"
    return "retriable"


def explain(cls: str, exit_code: int | None) -> str:
    return {
        "timeout": "set aside for triage, not retried",
        "not retriable": f"exit code {exit_code}: deterministic (bad input or no such payload), "
        "never retried",
        "retriable": "retried while attempts are left",
    }[cls]


@dataclass
class Group:
    template: str
    stage: str
    pattern: str
    cls: str
    exit_codes: set = field(default_factory=set)
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    jobs: set = field(default_factory=set)
    files: dict = field(default_factory=dict)
    example: str = ""

    @property
    def key(self) -> str:
        raw = f"{self.template}\0{self.stage}\0{self.pattern}\0{self.cls}"
        return hashlib.sha1(raw.encode()).hexdigest()[:12]

    def row(self) -> dict:
        return {
            "key": self.key,
            "template": self.template,
            "stage": self.stage,
            "error": self.pattern,
            "class": self.cls,
            "exit_codes": sorted(c for c in self.exit_codes if c is not None),
            "failures": self.count,
            "jobs": len(self.jobs),
            "files": len(self.files),
            "first_seen": self.first.isoformat() if self.first else "",
            "last_seen": self.last.isoformat() if self.last else "",
            "example": self.example,
            "job_ids": sorted(self.jobs),
            "file_names": sorted(self.files.values())[:20],
        }


def groups(
    since: datetime, until: datetime, template: str = "", stage: str = ""
) -> tuple[list[Group], bool]:
    """Failures between ``since`` and ``until`` grouped, biggest first; and whether the
    window held more than MAX_EVENTS failures (then only the newest are grouped)."""
    qs = JobEvent.objects.filter(
        to_state__in=[JobState.FAILED, JobState.TIMEOUT], at__gte=since, at__lt=until
    )
    if template:
        qs = qs.filter(job__dagrun__template__name=template)
    if stage:
        qs = qs.filter(job__stage=stage)
    rows = list(
        qs.order_by("-id").values_list(
            "at",
            "to_state",
            "reason",
            "job_id",
            "job__stage",
            "job__exit_code",
            "job__dagrun__template__name",
            "job__dagrun__file_id",
            "job__dagrun__file__name",
        )[: MAX_EVENTS + 1]
    )
    truncated = len(rows) > MAX_EVENTS
    out: dict[tuple, Group] = {}
    for at, state, reason, job_id, stg, code, tname, file_id, fname in rows[:MAX_EVENTS]:
        cls = classify(state, code)
        pattern = normalise(reason)
        g = out.get((tname, stg, pattern, cls))
        if g is None:
            g = out[(tname, stg, pattern, cls)] = Group(tname, stg, pattern, cls, example=reason)
        g.count += 1
        g.exit_codes.add(code)
        g.jobs.add(job_id)
        g.files[file_id] = fname
        g.first = at if g.first is None or at < g.first else g.first
        g.last = at if g.last is None or at > g.last else g.last
    return sorted(out.values(), key=lambda g: (-g.count, g.template, g.stage, g.pattern)), truncated
