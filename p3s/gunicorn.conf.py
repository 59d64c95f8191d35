"""gunicorn settings for p3s (override any of them with GUNICORN_CMD_ARGS).

Threads, not processes, carry the long-poll claims: a waiting pilot holds a thread, not a
worker. Keep workers x threads below PostgreSQL's max_connections (default 100).
"""

import os

bind = os.environ.get("P3S_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("P3S_WORKERS", "4"))
worker_class = "gthread"
threads = int(os.environ.get("P3S_THREADS", "20"))
# The app (Django, DRF, the page code with bokeh) is imported once in the master and the
# workers fork from it: on 2 cores, four workers importing it each took seconds of CPU from
# the first requests (a third of a worker's samples in py-spy during make bench).
# Connections, the wake-up listener and the beacon are per process and made after the fork.
preload_app = os.environ.get("P3S_PRELOAD_APP", "1") != "0"
timeout = 120
graceful_timeout = 10
keepalive = 75
accesslog = os.environ.get("P3S_ACCESS_LOG") or None
errorlog = "-"


def post_worker_init(worker):
    """Each worker keeps the server beacon fresh while it takes requests (p3s.pilots.beacon):
    ``worker.alive`` turns false as soon as the worker is told to stop.

    The URLconf (every view, serializer and what they import) is loaded first: loaded by the
    first requests instead, under the import lock, it held every request thread of a freshly
    started worker on a loaded machine while its beacon said 'up', and heartbeats answered
    late could make a starting pilot lost."""
    from django.urls import get_resolver

    from p3s.pilots import beacon

    get_resolver().url_patterns  # noqa: B018 - imports the URLconf now
    beacon.start_thread(lambda: worker.alive)
