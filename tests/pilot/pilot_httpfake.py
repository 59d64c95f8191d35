"""The fake server over real HTTP (``http.server``), for tests of the HTTP transport and
of the real ``p3s-pilot`` process. It routes the p3s API to a :class:`FakeServer`."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pilot.errors import TransportError, Unreachable
from pilot.fake import FakeServer

ROUTES = [
    (re.compile(r"^/api/v1/pilots/$"), "register"),
    (re.compile(r"^/api/v1/pilots/(\d+)/heartbeat/$"), "heartbeat"),
    (re.compile(r"^/api/v1/pilots/(\d+)/claim/$"), "claim"),
    (re.compile(r"^/api/v1/pilots/(\d+)/exit/$"), "exit"),
    (re.compile(r"^/api/v1/jobs/(\d+)/report/$"), "report"),
    (re.compile(r"^/api/v1/jobs/(\d+)/products/$"), "products"),
    (re.compile(r"^/api/v1/jobs/(\d+)/metrics/$"), "metrics"),
]


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a multipart body: name -> (filename, bytes)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename(), part.get_payload(decode=True))
    return fields


class HttpFake:
    """A FakeServer behind a real HTTP server on 127.0.0.1 (random port).

    ``fail_next`` is a list of HTTP statuses to answer, one per request, before serving
    normally; ``requests`` records ``(path, headers)`` of every request.
    """

    def __init__(self, fake: FakeServer, token: str = "pilot-token") -> None:
        self.fake = fake
        self.token = token
        self.fail_next: list[int] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.uploads = Path(tempfile.mkdtemp(prefix="p3s-httpfake-"))
        handler = self._handler_class()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.uploads, ignore_errors=True)

    def dispatch(self, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        self.requests.append((path, dict(headers)))
        if self.fail_next:
            return self.fail_next.pop(0), {"detail": "injected failure"}
        if headers.get("Authorization") != f"Token {self.token}":
            return 401, {"detail": "Invalid token."}
        found = [(name, m) for pattern, name in ROUTES if (m := pattern.match(path))]
        if not found:
            return 404, {"detail": f"no route {path}"}
        name, match = found[0]
        ident = int(match.group(1)) if match.groups() else 0
        fake = self.fake
        try:
            if name == "products":
                fields = parse_multipart(headers.get("Content-Type", ""), body)
                filename, content = fields["file"]
                target = self.uploads / (filename or "upload")
                target.write_bytes(content)
                fake.upload_product(
                    ident,
                    target,
                    fields["kind"][1].decode(),
                    fields["title"][1].decode(),
                    json.loads(fields["labels"][1]),
                )
                return 201, {"id": len(fake.calls.products)}
            data = json.loads(body or b"{}")
            if name == "register":
                return 201, fake.register(data)
            if name == "heartbeat":
                return 200, fake.heartbeat(ident, data.get("job"), data.get("progress", {}))
            if name == "claim":
                job = fake.claim(ident, float(data.get("wait", 0)), data.get("time_left"))
                return (204, None) if job is None else (200, job)
            if name == "exit":
                fake.exit(ident, data["reason"], data["ok"])
                return 200, {"id": ident, "state": "exited"}
            if name == "report":
                return 200, fake.report(ident, data)
            if name == "metrics":
                fake.post_metrics(ident, data["metrics"])
                return 201, {"count": len(data["metrics"])}
        except Unreachable as exc:
            return 503, {"detail": str(exc)}
        except TransportError as exc:
            return exc.status or 400, {"detail": str(exc)}
        return 500, {"detail": "unhandled"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, data = outer.dispatch(self.path, self.headers, body)
                payload = b"" if data is None else json.dumps(data).encode()
                self.send_response(status)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
