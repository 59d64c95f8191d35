"""The ADC+FFT code of an earlier commit, importable next to today's in one process.

``load(commit)`` extracts ``payloads/`` of ``commit`` from this repository (``git archive``)
into a cache directory under ``var/`` (or ``$P3S_REFERENCE_DIR``), renames the package to
``payloads_ref_<commit[:8]>`` (every ``payloads`` import rewritten) and imports it. The
regression test (``tests/payloads/test_adcfft_matches_reference.py``) compares today's results
with it on a generated APA-event, and ``scripts/bench_payloads.py --ab COMMIT`` times the two
alternately in one process. Needs ``git`` and a checkout holding ``commit``.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
#: the last commit before the ADC+FFT speed work (issue 12): the reference of its results
BASELINE = "8e51643"


def available(commit: str = BASELINE) -> bool:
    """Whether ``git`` can show ``commit`` here."""
    try:
        subprocess.run(
            ["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def load(commit: str = BASELINE, module: str = "stages.adcfft") -> ModuleType:
    """``payloads.<module>`` as it was at ``commit`` (a renamed copy, imported)."""
    full = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", f"{commit}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    name = f"payloads_ref_{full[:8]}"
    base = Path(os.environ.get("P3S_REFERENCE_DIR", ROOT / "var" / "reference"))
    dest = base / full[:8]
    if not (dest / name / "__init__.py").exists():
        blob = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", full, "payloads"],
            check=True,
            capture_output=True,
        ).stdout
        tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(tmp, filter="data")
        imports = re.compile(r"^(\s*)(from|import) payloads\b", flags=re.M)
        for py in (tmp / "payloads").rglob("*.py"):
            py.write_text(imports.sub(rf"\1\2 {name}", py.read_text()))
        (tmp / "payloads").rename(tmp / name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.rename(dest)
        except OSError:  # another process got there first
            pass
    if str(dest) not in sys.path:
        sys.path.insert(0, str(dest))
    return importlib.import_module(f"{name}.{module}")
