"""Split stages: one stage of a DAG run as N parallel jobs, by APA or by event range.

A stage's ``split`` tunable (``StageSettings.split``, live like ``prescale``) is ``""`` (one
job, the default), ``"apa:N"`` or ``"events:N"``. A split stage becomes N jobs of the same
stage, each with its ``part`` (``"apa:K/N"``, K = 0..N-1), and ``--split apa:K/N`` appended
to its arguments. The payload takes its share of the file (:func:`payloads.stages.common.
apply_split`): APAs ``apas[K::N]`` of the file, or the K-th of N contiguous event ranges. The
server therefore needs to know neither the APAs nor the events of a file; a part whose share
is empty (N larger than the file's APAs) succeeds with no output.

The stage's children join on ALL its parts: a child is created when every part of every
parent has finished, with all the parts' outputs as that parent's outputs. The join runs under
the DAG run's row lock (``flow.on_job_finished``), and ``(dagrun, stage, part)`` is unique, so
two parts finishing at the same instant start the children exactly once.

Prescale is decided per file, before the split: a prescaled-out stage is one dropped job, not
N. Timeouts, retries and the prompt policy apply to each part as to any job.
"""

from __future__ import annotations

import re
from typing import Any

from p3s.exceptions import InvalidDag
from p3s.jobs.states import JobState

SPLIT_RE = re.compile(r"^(apa|events):([1-9][0-9]?)\Z")
PART_RE = re.compile(r"^(apa|events):([0-9]{1,2})/([1-9][0-9]?)\Z")
MAX_PARTS = 99


def check(where: str, value: Any) -> str:
    """A ``split`` value from a template or the admin, normalised; InvalidDag if bad."""
    if value is None or value == "" or value is False:
        return ""
    if not isinstance(value, str) or not SPLIT_RE.match(value.strip()):
        raise InvalidDag(
            f"{where}.split = {value!r}: expected 'apa:N' or 'events:N' with 1 <= N <= "
            f"{MAX_PARTS} (or nothing for one job)"
        )
    value = value.strip()
    return "" if value.endswith(":1") else value


def parts(split: str) -> list[str]:
    """The parts of a split: ``["apa:0/3", "apa:1/3", "apa:2/3"]``, or ``[""]`` for none."""
    m = SPLIT_RE.match(split or "")
    if not m:
        return [""]
    by, n = m.group(1), int(m.group(2))
    if n == 1:
        return [""]
    return [f"{by}:{k}/{n}" for k in range(n)]


def part_args(part: str) -> list[str]:
    """Arguments telling the payload its share (empty for an unsplit stage)."""
    return ["--split", part] if part else []


def parse_part(part: str) -> tuple[str, int, int]:
    """``"apa:2/6"`` -> ``("apa", 2, 6)``; ValueError when malformed."""
    m = PART_RE.match(part)
    if not m or int(m.group(2)) >= int(m.group(3)):
        raise ValueError(f"split part {part!r}: expected apa:K/N or events:K/N with 0 <= K < N")
    return m.group(1), int(m.group(2)), int(m.group(3))


def _part_key(part: str) -> tuple[int, str]:
    m = PART_RE.match(part)
    return (int(m.group(2)), part) if m else (-1, part)


def join_rows(
    rows: list[tuple[str, str, str, list[str], str]],
) -> dict[str, tuple[str, list[str], str]]:
    """Per stage, from its jobs' ``(stage, part, state, outputs, drop_reason)``: one
    ``(state, outputs, drop_reason)``.

    The state is ``finished`` only when every part has finished; otherwise that of the first
    unfinished part (in part order). Outputs are all the parts' outputs, in part order.
    """
    by_stage: dict[str, list[tuple[str, str, list[str], str]]] = {}
    for stage, part, state, outputs, reason in rows:
        by_stage.setdefault(stage, []).append((part, state, outputs, reason))
    out: dict[str, tuple[str, list[str], str]] = {}
    for stage, jobs in by_stage.items():
        jobs.sort(key=lambda j: _part_key(j[0]))
        urls = [u for _, _, outputs, _ in jobs for u in (outputs or [])]
        pending = [j for j in jobs if j[1] != JobState.FINISHED]
        if pending:
            out[stage] = (pending[0][1], urls, pending[0][3])
        else:
            out[stage] = (JobState.FINISHED, urls, "")
    return out
