"""The short replay in `make bench` (scripts/replay.py --short, in its own process and
database): one 2x-capacity segment with the adaptive prescale; its table joins report.md and
its plot is var/bench/replay.png."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(out: Path, quick: bool = False) -> dict:
    argv = [sys.executable, str(ROOT / "scripts" / "replay.py"), "--short", "--out", str(out)]
    if quick:
        argv += ["--seconds", "15", "--pilots", "1"]
    subprocess.run(argv, cwd=ROOT, check=True)
    return json.loads((out / "replay.json").read_text())


def markdown(out: Path) -> list[str]:
    """The replay's table, as a section of report.md."""
    text = (out / "replay.md").read_text().splitlines()
    return ["## Replay (short form: 2x the pilots' capacity)", "", *text[2:], ""]
