"""Early outputs: hand a job's data outputs to its children while its payload makes plots.

A payload that has written its data outputs may say so before it ends
(:func:`payloads.jobio.release_outputs`): it writes ``outputs.json`` (``P3S_OUTPUTS``) in
its work directory and goes on with its products. The pilot, which polls the payload
anyway, sees the file, publishes those outputs to the staging area as it would at the end
(:func:`pilot.transfer.publish_outputs`) and tells the server (``POST jobs/{id}/outputs/``),
which makes the children claimable at once. That is what lets RECO start while SIG still
draws its event displays.

All of it is an optimisation that never costs the job: it runs in a thread of its own (the
poll loop keeps its time limit and its kill), a release that cannot be read, published or
sent is logged and dropped, and the job's ``finished`` report carries the outputs as before,
which makes any children the release did not. What was published is written to
``released.json`` so that the end of the job does not copy the same files again.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from pilot.errors import TransportError
from pilot.transport import Transport

log = logging.getLogger(__name__)

OUTPUTS_NAME = "outputs.json"  # written by the payload (P3S_OUTPUTS)
RELEASED_NAME = "released.json"  # written by the pilot: {local URL: published URL}


class Release:
    """Watches one job's work dir for released outputs; :meth:`check` is cheap (one stat)."""

    def __init__(self, transport: Transport, spec: dict[str, Any], jobdir: Path) -> None:
        self.transport = transport
        self.spec = spec
        self.jobdir = jobdir
        self.sent: list[str] | None = None  # the published URLs, once the server has them
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        """Start the release when the payload has written its outputs (once per job)."""
        if self._thread is not None or not (self.jobdir / OUTPUTS_NAME).is_file():
            return
        self._thread = threading.Thread(target=self._release, name="p3s-release", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a release in progress (before the job's results are read)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _release(self) -> None:
        from pilot.runner import ResultError, as_url
        from storage import StorageError

        job_id = int(self.spec["id"])
        try:
            outputs = read_outputs(self.jobdir)
            local = [as_url(o, self.jobdir) for o in outputs]
            from pilot import transfer

            published = transfer.publish_outputs(self.spec, local, self.jobdir)
        except (OSError, ValueError, ResultError, StorageError) as exc:
            log.warning(
                "job %d: outputs not released early (%s); they go with its end", job_id, exc
            )
            return
        (self.jobdir / RELEASED_NAME).write_text(
            json.dumps(dict(zip(local, published, strict=True))), encoding="utf-8"
        )
        attempt = self.spec.get("attempt")
        try:
            answer = self.transport.release_outputs(
                job_id, published, attempt if isinstance(attempt, int) else None
            )
        except TransportError as exc:
            log.warning("job %d: the server did not take the early outputs: %s", job_id, exc)
            return
        self.sent = published
        children = answer.get("children") if isinstance(answer, dict) else None
        log.info(
            "job %d: released %d output(s) early; the server made %s",
            job_id,
            len(published),
            f"{len(children)} child job(s)" if isinstance(children, list) else "no answer",
        )


def read_outputs(jobdir: Path) -> list[str]:
    """The outputs a payload released (``{"outputs": [url or path, ...]}``, non-empty)."""
    data = json.loads((jobdir / OUTPUTS_NAME).read_text(encoding="utf-8"))
    outputs = data.get("outputs") if isinstance(data, dict) else None
    if not isinstance(outputs, list) or not outputs:
        raise ValueError(f"{OUTPUTS_NAME}: 'outputs' must be a non-empty list")
    if not all(isinstance(o, str) and o for o in outputs):
        raise ValueError(f"{OUTPUTS_NAME}: every output must be a URL or a path")
    return outputs


def already_published(jobdir: Path) -> dict[str, str]:
    """``{local URL: published URL}`` of the outputs released early (empty when none)."""
    try:
        data = json.loads((jobdir / RELEASED_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
