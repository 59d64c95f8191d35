"""Input limits in one place: text that the database can store and a reader can trust,
JSON and YAML documents bounded in depth and size, finite numbers only.

Serializers, parsers and the request-size middleware (:mod:`p3s.api.middleware`) call these;
every refusal says what was wrong, quoting at most a short excerpt of the input.
"""

from __future__ import annotations

import math
import re
from typing import Any

from rest_framework.exceptions import ParseError, ValidationError

# NUL and C0/C1 controls (tab, newline and carriage return allowed) and lone surrogates: the
# database refuses NUL and surrogates; controls in names and labels only confuse readers.
BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
BAD_FREE_TEXT = re.compile(r"[\x00\ud800-\udfff]")
SURROGATE = re.compile(r"[\ud800-\udfff]")  # no encoding can store these: refused anywhere
EXCERPT = 40
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000  # JSON has no aliases: the body-size limit bounds it already
LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,49}$")


def excerpt(value: Any, limit: int = EXCERPT) -> str:
    """A short, printable excerpt of some input, for error messages."""
    text = value if isinstance(value, str) else repr(value)
    text = BAD_TEXT.sub("?", text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def check_text(value: str, what: str = "text") -> str:
    """Refuse NUL, control characters and lone surrogates in a name, label or title."""
    found = BAD_TEXT.search(value)
    if found:
        raise ValidationError(
            f"{what} contains a control character (U+{ord(found.group()):04X}) at position "
            f"{found.start()}: only printable text is accepted"
        )
    return value


def clean_free_text(value: str) -> str:
    """Free text (messages, log tails) keeps what it can: NUL and surrogates become U+FFFD."""
    return BAD_FREE_TEXT.sub("\ufffd", value)


def check_labels(value: Any, max_labels: int = 20, value_chars: int = 100) -> dict[str, str]:
    """Labels: a flat object of at most ``max_labels`` short, printable keys and values."""
    if not isinstance(value, dict) or len(value) > max_labels:
        raise ValidationError(f"must be a JSON object of at most {max_labels} labels")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not LABEL_KEY.match(key):
            raise ValidationError(
                f"label name {excerpt(key)!s} is not a name (letters, digits, _.:-; at most 50)"
            )
        if isinstance(item, dict | list) or item is None:
            raise ValidationError(f"label {key}: the value must be a string or a number")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValidationError(f"label {key}: the value must be finite")
        text = str(item)
        if len(text) > value_chars:
            raise ValidationError(f"label {key}: at most {value_chars} characters")
        out[key] = check_text(text, f"label {key}")
    return out


def check_document(
    data: Any,
    max_depth: int = MAX_DEPTH,
    max_items: int = MAX_ITEMS,
    error: type[Exception] = ParseError,
) -> Any:
    """Walk a parsed JSON/YAML document (without recursion): bounded depth and size (YAML
    aliases count as often as they are used, so an alias bomb is refused), finite numbers,
    no NUL or lone surrogate in any string. Raises ``error`` (ParseError: a 400)."""
    ParseError = error  # noqa: N806 - the exception raised below
    stack: list[tuple[Any, int]] = [(data, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > max_items:
            raise ParseError(f"the document has more than {max_items} values")
        if depth > max_depth:
            raise ParseError(f"the document nests deeper than {max_depth} levels")
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str) or BAD_FREE_TEXT.search(key):
                    raise ParseError(f"key {excerpt(key)} is not text without NUL or surrogates")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise ParseError("NaN and infinities are not numbers this API accepts")
        elif isinstance(node, str) and SURROGATE.search(node):
            raise ParseError(f"string {excerpt(node)} contains a lone surrogate")
    return data


def loads_json(text: str | bytes, what: str = "the body") -> Any:
    """``json.loads`` that refuses NaN/Infinity and turns over-deep nesting into a 400."""
    import json

    def refuse(constant: str) -> Any:
        raise ParseError(f"{what}: {constant} is not a number this API accepts")

    try:
        data = json.loads(text, parse_constant=refuse)
    except RecursionError:
        raise ParseError(f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise ParseError(f"{what} is not valid JSON: {excerpt(str(exc), 120)}") from None
    return check_document(data)


def bounded_json(value: Any, what: str, max_bytes: int = 8192, max_depth: int = 6) -> Any:
    """A small free-form JSON object (pilot resources, heartbeat progress)."""
    import json

    check_document(value, max_depth=max_depth, max_items=1000, error=ValidationError)
    stack = [value]
    while stack:  # PostgreSQL's JSONB refuses NUL: refuse it on every database
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and "\x00" in node:
            raise ValidationError(f"{what} contains a NUL character")
    size = len(json.dumps(value, default=str))
    if size > max_bytes:
        raise ValidationError(f"{what} is {size} bytes of JSON; at most {max_bytes}")
    return value


def form_json(value: Any, what: str) -> Any:
    """A form field's JSON text parsed (a field error when it is not JSON), or a value that
    came parsed (a JSON body) as it is."""
    if not isinstance(value, str | bytes):
        return value
    try:
        return loads_json(value, what)
    except ParseError as exc:
        raise ValidationError(str(exc.detail)) from None
