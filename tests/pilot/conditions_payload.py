"""A test-only payload, ``condread``, that reports which conditions its job.json gave it:
one ``condition_version`` metric per name (the version in the local file) and the count."""

from __future__ import annotations

from pathlib import Path

SOURCE = """
import json
from payloads.jobio import Result, load_job, write_result

def condread(argv):
    job = load_job()
    result = Result()
    for name, path in sorted(job.conditions.items()):
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        result.add_metric("condition_version", doc["version"], condition=name)
    result.add_metric("conditions_given", len(job.conditions))
    write_result(result)
    return 0
"""


def write_payload_dist(site: Path) -> Path:
    """Write the module and its dist-info (entry point ``condread``) into ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "p3s_condpayload.py").write_text(SOURCE)
    info = site / "p3s_condpayload-0.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: p3s-condpayload\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text("[p3s.payloads]\ncondread = p3s_condpayload:condread\n")
    return site
