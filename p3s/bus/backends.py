"""Broker connections behind one small interface: STOMP (``stomp.py``) and AMQP 0-9-1
(``pika``). ``P3S_BUS_URL``: ``stomp://user:pass@host:port`` or ``amqp://user:pass@host:port``.

Queue names are plain (``p3s.files``); STOMP sends them as ``/queue/<name>`` (RabbitMQ's
durable queues), AMQP through the default exchange to a durable queue of that name.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from urllib.parse import urlparse


@dataclass
class Message:
    body: bytes
    headers: dict
    token: object  # what ack() needs


class Backend:
    def send(self, name: str, body: bytes, headers: dict | None = None) -> None: ...
    def get(self, name: str, timeout: float) -> Message | None: ...
    def ack(self, msg: Message) -> None: ...
    def close(self) -> None: ...


def connect(url: str) -> Backend:
    u = urlparse(url)
    if u.scheme == "stomp":
        return StompBackend(
            u.hostname or "127.0.0.1", u.port or 61613, u.username or "guest", u.password or "guest"
        )
    if u.scheme == "amqp":
        return AmqpBackend(
            u.hostname or "127.0.0.1", u.port or 5672, u.username or "guest", u.password or "guest"
        )
    raise ValueError(f"P3S_BUS_URL {url!r}: the scheme must be stomp:// or amqp://")


class StompBackend(Backend):
    def __init__(self, host: str, port: int, user: str, password: str):
        import stomp

        self._frames: dict[str, queue.Queue] = {}
        self._receipts: dict[str, threading.Event] = {}
        self._subs: dict[str, str] = {}
        outer = self

        class Listener(stomp.ConnectionListener):
            def on_message(self, frame):
                outer._frames[frame.headers["subscription"]].put(frame)

            def on_receipt(self, frame):
                ev = outer._receipts.get(frame.headers.get("receipt-id", ""))
                if ev:
                    ev.set()

        self.conn = stomp.Connection([(host, port)], heartbeats=(0, 0))
        self.conn.set_listener("p3s", Listener())
        self.conn.connect(user, password, wait=True)
        self._n = 0

    def send(self, name, body, headers=None):
        self._n += 1
        rid = f"r{self._n}"
        ev = self._receipts[rid] = threading.Event()
        h = dict(headers or {}, persistent="true", receipt=rid)
        self.conn.send(f"/queue/{name}", body, headers=h)
        if not ev.wait(30):  # the broker has the message only once it says so
            raise ConnectionError(f"no receipt from the broker for a message to {name}")
        del self._receipts[rid]

    def get(self, name, timeout):
        if name not in self._subs:
            sid = str(len(self._subs) + 1)
            self._frames[sid] = queue.Queue()
            self.conn.subscribe(
                f"/queue/{name}", id=sid, ack="client-individual", headers={"prefetch-count": "10"}
            )
            self._subs[name] = sid
        try:
            frame = self._frames[self._subs[name]].get(timeout=timeout)
        except queue.Empty:
            return None
        body = frame.body.encode() if isinstance(frame.body, str) else frame.body
        return Message(
            body, dict(frame.headers), (frame.headers["message-id"], frame.headers["subscription"])
        )

    def ack(self, msg):
        self.conn.ack(*msg.token)

    def close(self):
        try:
            self.conn.disconnect()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass


class AmqpBackend(Backend):
    def __init__(self, host: str, port: int, user: str, password: str):
        import pika

        self._pika = pika
        params = pika.ConnectionParameters(
            host, port, credentials=pika.PlainCredentials(user, password), heartbeat=0
        )
        self.conn = pika.BlockingConnection(params)
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()  # basic_publish returns once the broker has the message
        self._declared: set[str] = set()

    def _declare(self, name):
        if name not in self._declared:
            self.ch.queue_declare(queue=name, durable=True)
            self._declared.add(name)

    def send(self, name, body, headers=None):
        self._declare(name)
        props = self._pika.BasicProperties(
            delivery_mode=2,
            headers=dict(headers or {}),
            message_id=(headers or {}).get("p3s-event-id"),
        )
        self.ch.basic_publish("", name, body, properties=props, mandatory=True)

    def get(self, name, timeout):
        import time

        self._declare(name)
        end = time.monotonic() + timeout
        while True:
            method, props, body = self.ch.basic_get(name, auto_ack=False)
            if method is not None:
                return Message(body, dict(props.headers or {}), method.delivery_tag)
            if time.monotonic() >= end:
                return None
            self.conn.sleep(0.05)

    def ack(self, msg):
        self.ch.basic_ack(msg.token)

    def close(self):
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass
