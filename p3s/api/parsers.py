"""Request parsers: JSON and YAML bounded in depth and size, finite numbers only (see
:mod:`p3s.api.limits`); DAG templates may be sent as YAML."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser

from p3s.api import limits
from p3s.dags import spec
from p3s.exceptions import InvalidDag


class SafeJSONParser(JSONParser):
    """JSON without NaN/Infinity, nesting at most ``limits.MAX_DEPTH`` levels."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read() if stream is not None else b""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("the body is not UTF-8") from None
        return limits.loads_json(text)


class YAMLParser(BaseParser):
    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        text = stream.read().decode("utf-8", errors="replace")
        try:
            data = spec.safe_yaml(text)
        except InvalidDag as exc:
            raise ParseError(str(exc)) from None
        return {"_source": text, "_data": data}


class TextYAMLParser(YAMLParser):
    media_type = "text/yaml"


class PlainYAMLParser(YAMLParser):
    media_type = "text/plain"
