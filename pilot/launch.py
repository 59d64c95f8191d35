"""Run one registered payload: ``python -m pilot.launch NAME ARGS...``.

The pilot starts every payload this way, so that only names registered under the
``p3s.payloads`` entry-point group can run. Exit code 127 means "no such payload".
"""

from __future__ import annotations

import sys

from pilot.registry import GROUP, find_payload


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m pilot.launch NAME [ARGS...]", file=sys.stderr)
        return 2
    name, args = argv[0], argv[1:]
    entry_point = find_payload(name)
    if entry_point is None:
        print(f"pilot.launch: no payload {name!r} is registered in {GROUP}", file=sys.stderr)
        return 127
    payload_main = entry_point.load()
    sys.argv = [name, *args]
    code = payload_main(args)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
