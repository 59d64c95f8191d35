"""API tokens on command lines: the launchers hand them over in the environment, never as
``--token``, and a new key never starts with "-".

A token on a command line shows in every process listing, and one that starts with "-" (a
URL-safe token does, one time in 64) is taken by argparse for an option: the demo failed so in CI.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCHERS = sorted(
    [*ROOT.glob("scripts/*.py"), *ROOT.glob("factory/**/*.py"), *ROOT.glob("pilot/**/*.py")]
)


def token_options(path: Path) -> list[int]:
    """Lines where a string constant "--token" sits in a list, tuple or call argument."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        items = []
        if isinstance(node, (ast.List, ast.Tuple)):
            items = node.elts
        elif isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"
        ):
            items = node.args
        lines += [
            item.lineno
            for item in items
            if isinstance(item, ast.Constant) and item.value == "--token"
        ]
    return lines


def test_no_launcher_puts_a_token_on_a_command_line():
    assert LAUNCHERS, "no launcher found"
    found = {str(p.relative_to(ROOT)): token_options(p) for p in LAUNCHERS}
    assert {p: lines for p, lines in found.items() if lines} == {}


def test_the_check_sees_a_token_on_a_command_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('subprocess.run(["p3s-daqsim", "--announce", "--token", token])\n')
    assert token_options(bad) == [1]


def test_a_new_key_never_starts_like_an_option(monkeypatch):
    from p3s.accounts import models

    drawn = iter(["-looks-like-an-option", "Ab3-rest"])
    monkeypatch.setattr(models.secrets, "token_urlsafe", lambda n: next(drawn))
    assert models.new_key() == "Ab3-rest"
