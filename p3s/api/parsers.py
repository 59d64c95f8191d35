"""Request parsers: DAG templates may be sent as YAML."""

import yaml
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class YAMLParser(BaseParser):
    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        text = stream.read().decode("utf-8", errors="replace")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ParseError(f"not valid YAML: {exc}") from None
        return {"_source": text, "_data": data}


class TextYAMLParser(YAMLParser):
    media_type = "text/yaml"


class PlainYAMLParser(YAMLParser):
    media_type = "text/plain"
