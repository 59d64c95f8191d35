"""The contract between the pilot and a payload process.

The pilot starts a payload as ``python -m pilot.launch NAME ARGS...`` in an empty work
directory, with two environment variables:

``P3S_JOB``
    path of a JSON file describing the job (see :class:`JobSpec`).
``P3S_RESULT``
    path where the payload writes its result JSON (see :class:`Result`).
``P3S_OUTPUTS``
    path where the payload may say, before it ends, that its data outputs are written and
    final (:func:`release_outputs`): the children start while it makes its plots.

Exit code 0 means success; any other code fails the job, and the last lines of stderr go
to the server as the job's message. A payload runs fine by hand too: without ``P3S_JOB`` it
gets an empty spec whose output directory is the current directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass
class JobSpec:
    """What a payload is asked to do.

    Attributes
    ----------
    id : int
        Job id on the server.
    stage : str
        Stage name in the DAG (``adc``, ``sig``...).
    payload : str
        Registered payload name.
    args : list of str
        Command-line arguments from the DAG template (also passed as argv).
    file : dict
        The data file that started the DAG run: ``url``, ``stream``, ``run``, ``subrun``,
        ``timestamp`` (ISO 8601), ``events``.
    inputs : list of str
        Input URLs: the data file first, then every parent's outputs.
    parents : dict
        Parent stage name -> that parent's output URLs.
    output_dir : str
        Absolute directory (under the staging area) where outputs must be written.
    event_fraction : float
        Fraction of the file's events to process (0 < f <= 1).
    timeout : float
        Seconds the job may run before the pilot kills it.
    attempt : int
        1 for the first try.
    conditions : dict
        Condition name (``channel-map``, ``bad-channels``, ``bands``, ...) -> local path of
        its JSON (the server's answer: ``{"name", "version", ..., "data": {...}}``), written
        by the pilot's conditions cache. Empty when the job runs without them: payloads then
        use their built-in defaults.
    """

    id: int = 0
    stage: str = ""
    payload: str = ""
    args: list[str] = field(default_factory=list)
    file: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    parents: dict[str, list[str]] = field(default_factory=dict)
    output_dir: str = "."
    event_fraction: float = 1.0
    timeout: float = 0.0
    attempt: int = 1
    conditions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Result:
    """What a payload hands back to the pilot.

    ``outputs`` are URLs or absolute paths of files for the next stages; ``metrics`` are
    ``{"name", "value", "labels"}`` dicts; ``products`` are ``{"path", "kind", "title",
    "labels"}`` dicts with ``path`` absolute or relative to the work directory and ``kind``
    one of ``png``, ``bokeh`` (the JSON of ``bokeh.embed.json_item``, embedded by the pages
    with locally served BokehJS), ``json``.
    """

    outputs: list[str] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)

    def add_metric(self, name: str, value: float, **labels: Any) -> None:
        self.metrics.append(
            {"name": name, "value": float(value), "labels": {k: str(v) for k, v in labels.items()}}
        )

    def add_product(self, path: str | Path, kind: str, title: str, **labels: Any) -> None:
        self.products.append(
            {
                "path": str(path),
                "kind": kind,
                "title": title,
                "labels": {k: str(v) for k, v in labels.items()},
            }
        )

    def add_output(self, path: str | Path) -> None:
        self.outputs.append(Path(path).resolve().as_uri())


def load_job() -> JobSpec:
    """Read the job spec the pilot wrote, or an empty one when run by hand."""
    path = os.environ.get("P3S_JOB")
    if not path:
        return JobSpec(output_dir=os.getcwd())
    with open(path, encoding="utf-8") as fh:
        return JobSpec.from_dict(json.load(fh))


def write_result(result: Result) -> Path:
    """Write the result where the pilot expects it (``P3S_RESULT`` or ``result.json``)."""
    path = Path(os.environ.get("P3S_RESULT", "result.json"))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(result), indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def release_outputs(result: Result) -> Path | None:
    """Hand the outputs added so far to the next stages now, before the payload ends.

    Call it once the data outputs are closed and complete: the pilot publishes them and the
    server starts the children while this payload goes on with its products and metrics
    (``pilot.release``). They must not change afterwards, and the result still lists them.
    Without ``P3S_OUTPUTS`` (run by hand, an older pilot) it does nothing.
    """
    target = os.environ.get("P3S_OUTPUTS")
    if not target or not result.outputs:
        return None
    path = Path(target)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"outputs": list(result.outputs)}), encoding="utf-8")
    tmp.replace(path)  # the pilot never sees half a file
    return path


def url_to_path(url: str) -> Path:
    """Local path of a ``file://`` URL or a plain path."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else url)
    raise ValueError(f"cannot read {url!r}: only file:// URLs and local paths are supported")
