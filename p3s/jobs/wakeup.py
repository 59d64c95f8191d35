"""Wake long-polling claims the moment a job becomes claimable.

PostgreSQL: ``NOTIFY p3s_claimable`` inside the transaction that made the job waiting
(delivered at commit), and one ``LISTEN`` thread per server process.
SQLite (the embedded default): after commit the writer sends a datagram to every server
process's Unix socket in ``var/run/wakeup/``; each process has a thread reading its own.
Either way waiters block on a condition variable; a slow safety re-check covers a lost
signal. Nothing here sleeps in a loop.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

log = logging.getLogger(__name__)
CHANNEL = "p3s_claimable"
CONDITIONS = "p3s_conditions"  # a condition version was written (p3s.conditions.current)

_cond = threading.Condition()
_generation = 0
_listener_lock = threading.Lock()
_listener: threading.Thread | None = None
_listener_pid: int | None = None
_listener_ok = threading.Event()
_stop = threading.Event()
_listener_conn = None


def _bump() -> None:
    global _generation
    with _cond:
        _generation += 1
        _cond.notify_all()


def generation() -> int:
    return _generation


def notify_claimable() -> None:
    """Call inside the transaction that makes a job claimable."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_notify(%s, '')", [CHANNEL])
        transaction.on_commit(_bump)
    else:
        transaction.on_commit(_signal_sockets)


def notified_in_statement() -> None:
    """The caller's own statement ran ``pg_notify(CHANNEL, '')`` in this transaction (one
    round trip less): wake this process's waiting claims too when it commits."""
    transaction.on_commit(_bump)


def notify_conditions() -> None:
    """Call inside the transaction that writes a condition: every server process drops its
    copy of the current versions (:mod:`p3s.conditions.current`) when it commits."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_notify(%s, %s)", [CONDITIONS, str(os.getpid())])
    else:
        transaction.on_commit(lambda: _signal_sockets(b"c%d" % os.getpid()))


def listening() -> bool:
    """Whether this process hears the others' notices (its listener is connected)."""
    ensure_listener()
    return _listener_ok.is_set()


def _forget_conditions() -> None:
    from p3s.conditions import current

    current.forget()


def wait_for_change(since: int, timeout: float) -> bool:
    """Block until a job may have become claimable after generation ``since``, or timeout."""
    ensure_listener()
    recheck = settings.P3S["WAKEUP_RECHECK"] if _listener_ok.is_set() else 0.25
    with _cond:
        return _cond.wait_for(lambda: _generation != since, timeout=min(timeout, recheck))


# -- the listener thread ------------------------------------------------------------------


def ensure_listener() -> None:
    global _listener, _listener_pid
    if _listener is not None and _listener.is_alive() and _listener_pid == os.getpid():
        return
    with _listener_lock:
        if _listener is not None and _listener.is_alive() and _listener_pid == os.getpid():
            return
        _listener_ok.clear()
        target = _listen_postgres if connection.vendor == "postgresql" else _listen_socket
        _listener = threading.Thread(target=target, name="p3s-wakeup", daemon=True)
        _listener_pid = os.getpid()
        _listener.start()
        _listener_ok.wait(2.0)


def stop_listener() -> None:
    """Stop this process's listener (tests do, before dropping their database)."""
    global _listener
    _stop.set()
    conn = _listener_conn
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass
    if _listener is not None:
        _listener.join(5)
    _listener = None
    _stop.clear()


def _listen_postgres() -> None:
    global _listener_conn
    import psycopg2

    db = settings.DATABASES["default"]
    backoff = 0.5
    while not _stop.is_set():
        try:
            conn = _listener_conn = psycopg2.connect(
                dbname=connection.settings_dict["NAME"],
                user=db.get("USER") or None,
                password=db.get("PASSWORD") or None,
                host=db.get("HOST") or None,
                port=db.get("PORT") or None,
            )
            conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}; LISTEN {CONDITIONS}")
            # anything committed while we were not listening
            _forget_conditions()
            _listener_ok.set()
            backoff = 0.5
            _bump()
            while not _stop.is_set():
                if select.select([conn], [], [], 30.0) != ([], [], []):
                    conn.poll()
                    notices = {(n.channel, n.payload) for n in conn.notifies}
                    conn.notifies.clear()
                    if any(c == CONDITIONS and p != str(os.getpid()) for c, p in notices):
                        _forget_conditions()  # another process wrote a condition
                    if any(c == CHANNEL for c, _ in notices):
                        _bump()
        except Exception as exc:  # reconnect: the database may restart under us
            _listener_ok.clear()
            if _stop.is_set():
                return
            log.warning(
                "wake-up listener lost its connection (%s); retrying in %.1fs", exc, backoff
            )
            threading.Event().wait(backoff)
            backoff = min(backoff * 2, 10.0)


def _socket_dir() -> Path:
    name = Path(str(connection.settings_dict["NAME"])).name
    path = Path(settings.VAR_DIR) / "run" / f"wakeup-{name}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _listen_socket() -> None:
    path = _socket_dir() / f"{os.getpid()}-{threading.get_ident()}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        path.unlink(missing_ok=True)
        sock.bind(str(path))
    except OSError as exc:
        log.warning("no wake-up socket at %s (%s): claims re-check every 0.25 s", path, exc)
        return
    _forget_conditions()  # what was written before this process listened
    _listener_ok.set()
    while True:
        try:
            data = sock.recv(64)
        except OSError:
            continue
        if data.startswith(b"c"):
            if data != b"c%d" % os.getpid():
                _forget_conditions()  # another process wrote a condition
        else:
            _bump()


def _signal_sockets(what: bytes = b"1") -> None:
    """After commit: tell every server process (b"1": a job is claimable, b"c<pid>": process
    pid wrote a condition; it dropped its own copy already, p3s.conditions.current)."""
    if not what.startswith(b"c"):
        _bump()
    try:
        folder = _socket_dir()
    except OSError:
        return
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.setblocking(False)
    try:
        for sock_path in folder.glob("*.sock"):
            try:
                sender.sendto(what, str(sock_path))
            except (ConnectionRefusedError, FileNotFoundError):
                sock_path.unlink(missing_ok=True)  # its process is gone
            except BlockingIOError:
                pass  # its queue is full: it has wake-ups pending anyway
            except OSError:
                pass
    finally:
        sender.close()
