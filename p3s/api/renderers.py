"""YAML out: ``?format=yaml`` (or ``Accept: application/yaml``) on the DAG endpoints."""

import json

import yaml
from rest_framework.renderers import BaseRenderer
from rest_framework.utils.encoders import JSONEncoder


class YAMLRenderer(BaseRenderer):
    """A text body is sent as it is (a template's YAML as saved, comments kept); other data
    are dumped as YAML."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if isinstance(data, str):
            return data.encode("utf-8")
        # DRF's own types (ReturnDict, ErrorDetail of an error answer, datetimes, decimals) as
        # JSON would carry them: the safe dumper knows plain types only.
        plain = json.loads(json.dumps(data, cls=JSONEncoder))
        return yaml.safe_dump(plain, sort_keys=False, default_flow_style=False).encode("utf-8")
