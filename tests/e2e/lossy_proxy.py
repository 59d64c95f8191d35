"""A TCP proxy in front of the live server that loses answers: it relays a request, lets the
server answer (and commit), then closes the client's connection instead of relaying the
answer. The client sees a dropped connection, exactly as when a network dies mid-answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    lines = [
        line
        for line in head.split(b"\r\n")
        if not line.lower().startswith((b"connection:", b"keep-alive:"))
    ]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


class LossyProxy:
    """``drop(request_line) -> bool`` decides which answers are lost."""

    def __init__(self, upstream_port: int, drop: Callable[[str], bool]) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.drop = drop
        self.dropped: list[str] = []
        self.relayed: list[str] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            if not request:
                return
            line = request.split(b"\r\n", 1)[0].decode("latin-1")
            with socket.create_connection(self.upstream) as up:
                up.sendall(request)
                answer = b""
                while chunk := up.recv(65536):
                    answer += chunk
            with self._lock:
                lose = self.drop(line)
                (self.dropped if lose else self.relayed).append(line)
            if not lose:
                conn.sendall(answer)

    def close(self) -> None:
        self.sock.close()
