"""The report of `make bench` (scripts/bench.py): var/bench/report.json and report.md, one
section per part that ran; the parts with their own module write their own lines."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(data: dict, out: Path) -> None:
    """report.json and report.md of one bench run (the parts present in ``data``)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(data, indent=2))
    lines = ["# p3s benchmark report", "", f"{data['when']} on {data['machine']}", ""]
    if "bench_seconds" in data:  # issue 12: make bench under 10 minutes
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in data.get("part_seconds", {}).items())
        lines += [
            f"The bench took {data['bench_seconds']:.0f} s (goal at most 600 s): {parts}.",
            "",
        ]
    if "claim" in data:
        c = data["claim"]
        lines += [
            "## The claim on PostgreSQL (raw limit)",
            "",
            f"Queue depth {c['queue_depth']:,} waiting jobs.",
            "",
            "| what | connections | claims/s |",
            "|---|---|---|",
        ]
        lines += [f"| {r['what']} | {r['connections']} | {r['per_s']:,} |" for r in c["runs"]]
        lines.append("")
    if "http" in data:
        h = data["http"]
        lines += [
            "## Through real gunicorn",
            "",
            f"{h['pilots']} concurrent simulated pilots, each claim + report running + report finished on diag jobs, "
            f"{h['seconds']} s.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| jobs dispatched and completed per second | {h['jobs_per_s']:,} |",
            f"| HTTP requests per second | {h['requests_per_s']:,} |",
            f"| errors | {h['errors']} |",
            f"| ratio to the raw full claim, 8 connections | {data.get('ratio_http_to_raw', 'n/a')} |",
            f"| per day at this rate (one server node) | {int(h['jobs_per_s'] * 86400):,} |",
            f"| PanDA anchor: dispatches/s per server node | ~2 (ratio {data.get('ratio_to_panda_node', 'n/a')}x) |",
            f"| wake-up: file announced -> idle long-polling pilot holds the job, median / max | "
            f"{h['wakeup']['median_ms']} ms / {h['wakeup']['max_ms']} ms (original p3s polled every 40 s) |",
            "",
        ]
    if "payloads" in data:
        p = data["payloads"]
        lines += [
            "## Payloads (one synthetic 2,560 x 6,000 APA-event, one core)",
            "",
            "| figure | value | baseline or goal |",
            "|---|---|---|",
        ]
        if "adcfft_seconds" in p:
            lines += [
                f"| ADC+FFT (stats, spectra, averages) | {p['adcfft_seconds'] * 1000:.1f} ms, "
                f"{p['adcfft_mb_per_s']:.0f} MB/s of raw int16 | bare float32 rfft of the same array "
                f"{p['rfft_seconds'] * 1000:.1f} ms ({p['rfft_mb_per_s']:.0f} MB/s): ratio "
                f"{p['adcfft_over_rfft']:.2f} (goal {p['adcfft_goal_ratio']:.2f}) |",
                f"| ADC+FFT against scipy's rfft of the int16 array as given | ratio "
                f"{p['adcfft_over_rfft_int16_as_given']:.2f} | rfft {p['rfft_int16_as_given_seconds'] * 1000:.1f} ms |",
            ]
        if "sig_seconds_per_apa_event" in p:
            lines.append(
                f"| SIG (noise filter, deconvolution, ROIs) | {p['sig_seconds_per_apa_event']:.2f} s per APA-event | "
                f"goal {p['sig_goal_seconds']} s; Wire-Cell ~{p['wirecell_seconds_per_apa_event']:.0f} s "
                f"({p['wirecell_seconds_per_apa_event'] / p['sig_seconds_per_apa_event']:.0f}x) |"
            )
        if "reco_seconds_per_apa_event" in p:
            lines.append(
                f"| RECO (hits, clusters, tracks) | {p['reco_seconds_per_apa_event']:.2f} s per APA-event | |"
            )
        lines.append("")
    if "hotpath" in data or "warm" in data:
        import bench_hotpath  # type: ignore[import-not-found]
        import bench_warm  # type: ignore[import-not-found]

        lines += bench_hotpath.report_lines(data["hotpath"]) if "hotpath" in data else []
        lines += bench_warm.report_lines(data["warm"]) if "warm" in data else []
    if "storage" in data:
        import bench_storage  # type: ignore[import-not-found]

        lines += bench_storage.markdown(data["storage"])
    if "prune" in data:
        import bench_prune  # type: ignore[import-not-found]

        lines += bench_prune.markdown(data["prune"])
    (out / "report.md").write_text("\n".join(lines))
