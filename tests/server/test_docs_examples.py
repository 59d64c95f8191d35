"""Every example in the docs works (issue 14: the operator guide's YAML was refused by the
server): each fenced YAML block parses, and each that is a DAG template passes the server's
validation; each shell/cron command names a real make target, manage.py command, console
script option or repository file."""

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from p3s.dags import spec

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)
BIN = Path(sys.executable).parent


def blocks(kinds):
    for doc in DOCS:
        for m in FENCE.finditer(doc.read_text()):
            if m.group(1) in kinds:
                line = doc.read_text()[: m.start()].count("\n") + 1
                yield pytest.param(m.group(2), id=f"{doc.name}:{line}")


@pytest.mark.parametrize("text", list(blocks({"yaml", "yml"})))
def test_each_yaml_example_loads_and_templates_validate(text):
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "stages" in data:
        spec.load(text)  # raises InvalidDag with the reason


def commands(text: str):
    text = text.replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        if re.match(r"^[\d*/,-]+$", words[0]):  # a cron line: five fields and a user
            words = words[6:]
        while words and ("=" in words[0] or words[0] in ("export", "sudo", "-u", "postgres")):
            words = words[1:]
        if words:
            yield words


@cache
def help_of(program: str) -> str:
    return subprocess.run(
        [str(BIN / program), "--help"], capture_output=True, text=True, timeout=120
    ).stdout


@cache
def manage_commands() -> set[str]:
    from django.core.management import get_commands

    return set(get_commands())


@pytest.mark.parametrize("text", list(blocks({"sh", "cron", "bash"})))
def test_each_command_example_names_real_things(text):
    makefile = (ROOT / "Makefile").read_text()
    for words in commands(text):
        prog = Path(words[0]).name
        if prog == "make":
            for target in words[1:]:
                if "=" not in target:
                    assert re.search(rf"^{re.escape(target)}:", makefile, re.M), target
        elif prog == "p3s-manage" or words[:2] == ["python", "manage.py"]:
            cmd = words[1] if prog == "p3s-manage" else words[2]
            assert cmd in manage_commands(), f"no manage.py command {cmd!r}"
        elif prog.startswith("p3s-"):
            options = help_of(prog)
            for w in words[1:]:
                if w.startswith("--"):
                    assert re.search(rf"{re.escape(w.split('=')[0])}\b", options), (prog, w)
        for w in words[1:]:
            if re.match(r"^[\w.-]+/[\w./-]+\.(py|txt|toml|yaml|sh)$", w) and not w.startswith("/"):
                assert (ROOT / w).exists(), f"no file {w}"
