"""The replay's figures (scripts/replay.py): per segment statistics from the database, and
the report as markdown, JSON and a PNG plot (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
from pathlib import Path


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, max(0, math.ceil(p * len(values)) - 1))], 2)


def newest_first(jobs: list[dict]) -> tuple[int, int]:
    """(dispatches that took the newest waiting job of their stage, dispatches).

    A dispatch at time t of a job on data d is "newest first" when no job of the same stage
    with newer data was waiting at t (created before t, not yet dispatched nor dropped)."""
    good = total = 0
    for j in jobs:
        t = j["dispatched_at"]
        if t is None:
            continue
        total += 1
        newer_waiting = any(
            k["stage"] == j["stage"]
            and k["data_ts"] > j["data_ts"]
            and k["created"] < t
            and (k["dispatched_at"] is None or k["dispatched_at"] > t)
            and not (k["state"] == "dropped" and k["ended_at"] and k["ended_at"] <= t)
            for k in jobs
        )
        good += not newer_waiting
    return good, total


def segment_stats(run: int, budget: float) -> dict:
    """Latency, completeness, drops and ordering of the files of one run number."""
    from django.db.models import Count

    from p3s.dags.models import DagRun, DataFile
    from p3s.jobs.models import Job

    files = DataFile.objects.filter(run=run).count()
    runs = list(
        DagRun.objects.filter(file__run=run).values(
            "state", "ended", "file__created", "file__data_ts"
        )
    )
    ended = [r for r in runs if r["ended"] is not None and r["state"] in ("succeeded", "partial")]
    latencies = [(r["ended"] - r["file__created"]).total_seconds() for r in ended]
    t0 = min((r["file__created"] for r in runs), default=None)
    points = [
        ((r["file__created"] - t0).total_seconds(), round(lat, 2), r["state"])
        for r, lat in zip(ended, latencies, strict=True)
    ]
    drops = {
        row["drop_reason"]: row["n"]
        for row in Job.objects.filter(dagrun__file__run=run, state="dropped")
        .values("drop_reason")
        .annotate(n=Count("id"))
    }
    jobs = list(
        Job.objects.filter(dagrun__file__run=run).values(
            "stage", "data_ts", "created", "dispatched_at", "ended_at", "state"
        )
    )
    good, total = newest_first(jobs)
    return {
        "run": run,
        "files": files,
        "runs_by_state": {
            s: sum(1 for r in runs if r["state"] == s) for s in sorted({r["state"] for r in runs})
        },
        "fully_processed": (sum(1 for r in runs if r["state"] == "succeeded") / files)
        if files
        else 0.0,
        "latency_p50_s": _pct(latencies, 0.5),
        "latency_p90_s": _pct(latencies, 0.9),
        "latency_p99_s": _pct(latencies, 0.99),
        "latency_max_s": _pct(latencies, 1.0),
        "within_budget": bool(latencies) and max(latencies) <= budget,
        "p99_within_budget": bool(latencies) and _pct(latencies, 0.99) <= budget,
        "drops": drops,
        "dropped_behind": sum(
            n for r, n in drops.items() if r in ("too-old", "queue-depth", "adaptive-prescale")
        ),
        "prescaled": drops.get("prescaled", 0),
        "newest_first": f"{good}/{total}",
        "newest_first_fraction": round(good / total, 3) if total else None,
        "latency_points": points,
    }


def write(data: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "replay.json").write_text(json.dumps(data, indent=1, default=str))
    lines = [
        "# p3s replay",
        "",
        f"{data['when']} on {data['machine']} (load after: {data.get('load_after')}); "
        f"{data['pilots']} pilot(s), {data['apas']} APA(s) x 1 event per file, database "
        f"{data['db']}; template tpc-dqm with max_age {0.6 * data['budget_s']:g} s and "
        f"{'the adaptive prescale of sig' if data['adaptive'] else 'no adaptive prescale'}, "
        f"DQM latency budget {data['budget_s']:g} s.",
        "",
        f"Measured capacity of the pilots: **{data.get('capacity_files_per_s', 0):.3f} files/s** "
        "(a burst of files, timed to the end of the last run).",
        "",
        "| rate | files/s | files | latency p50 / p90 / p99 (s) | p99 within budget | fully "
        "processed | prescaled | dropped because behind (by reason) | newest first | "
        "max waiting |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in data.get("segments", []):
        behind = ", ".join(f"{r} {n}" for r, n in sorted(s["drops"].items()) if r != "prescaled")
        depth = max((x["waiting"] for x in s["samples"]), default=0)
        lines.append(
            f"| {s['factor']:g}x | {s['rate_per_s']:.3f} | {s['files']} | "
            f"{s['latency_p50_s']} / {s['latency_p90_s']} / {s['latency_p99_s']} | "
            f"{'yes' if s['p99_within_budget'] else 'NO'} | {s['fully_processed']:.0%} | "
            f"{s['prescaled']} | {s['dropped_behind']} ({behind or 'none'}) | "
            f"{s['newest_first']} | {depth} |"
        )
    lines += [
        "",
        "Latency: file arrival to the end of its DAG run (its last product). Fully processed: "
        "runs that succeeded (the expert's prescale counts as done) over files announced. "
        "Newest first: dispatches that took the newest waiting job of their stage. "
        "Plot: replay.png (queue depth, latency per file, adaptive factor of sig).",
        "",
    ]
    (out / "replay.md").write_text("\n".join(lines))
    plot(data, out / "replay.png")


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    segs = data.get("segments", [])
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for s in segs:
        label = f"{s['factor']:g}x ({s['rate_per_s']:.2f}/s)"
        t = [x["t"] for x in s["samples"]]
        axes[0].plot(t, [x["waiting"] for x in s["samples"]], label=label)
        pts = s["latency_points"]
        axes[1].scatter([p[0] for p in pts], [p[1] for p in pts], s=10, label=label)
        axes[2].plot(t, [x["factor"] if x["factor"] is not None else 1 for x in s["samples"]])
    axes[1].axhline(data["budget_s"], color="red", linestyle="--", label="budget")
    axes[0].set_ylabel("waiting jobs")
    axes[1].set_ylabel("DQM latency (s)")
    axes[2].set_ylabel("adaptive factor (sig)")
    axes[2].set_xlabel("seconds since the segment's first file")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.suptitle(
        f"p3s replay: {data['pilots']} pilots, capacity "
        f"{data.get('capacity_files_per_s', 0):.3f} files/s"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
