"""The heartbeat's own lane: a plainly valid beat answered before the rest of the stack.

Heartbeats are most of a pilot fleet's requests and the cheapest in the database (one
prepared statement, :mod:`p3s.pilots.beat`), so their cost was the stack around them: the
session, CSRF, authentication and message middleware, URL resolution, and DRF's request,
authentication, permission, negotiation and rendering. This middleware sits after the
size limits, the bound on active requests and Django's security middleware (so TLS
redirects and HSTS apply as to any request) and answers ``POST /api/v1/pilots/<id>/heartbeat/``
itself when everything about it is plain: PostgreSQL, a JSON body that
:func:`p3s.api.pilot_views.lean_beat` accepts, ``Authorization: Token``, the pilot key, and
a statement that found the pilot, the key, a live pilot token and recorded the beat.

Anything else (SQLite, an odd body or header, an unknown pilot, a wrong key, a revoked or
non-pilot token, a database error) goes on down the stack unchanged and the API view
answers it as before, with its own message; the lane wrote nothing then. The answer is
the view's answer byte for byte. ``P3S_BEAT_LANE=0`` turns the lane off.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse
from rest_framework.exceptions import ParseError

from p3s.accounts.models import hash_key
from p3s.api import limits
from p3s.api.pilot_views import lean_beat
from p3s.pilots import beat as beats

PATH = re.compile(r"/api/v1/pilots/([0-9]{1,19})/heartbeat/")
MAX_BODY = 4096  # a plain beat is tens of bytes; a bigger one takes the view's checks
_ACCEPTS = ("", "*/*", "application/json")


class BeatLane:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and settings.P3S["BEAT_LANE"]:
            match = PATH.fullmatch(request.path_info)
            if match is not None:
                answer = _answer(request, int(match[1]))
                if answer is not None:
                    return answer
        return self.get_response(request)


def _answer(request, pilot_id: int) -> HttpResponse | None:
    meta = request.META
    if connection.vendor != "postgresql":
        return None
    if meta.get("CONTENT_TYPE", "").split(";")[0].strip() != "application/json":
        return None
    if meta.get("HTTP_ACCEPT", "").split(";")[0].strip() not in _ACCEPTS:
        return None  # an HTML or YAML client gets the view's renderers
    try:
        if not 0 < int(meta.get("CONTENT_LENGTH") or 0) <= MAX_BODY:
            return None
    except ValueError:
        return None
    auth = meta.get("HTTP_AUTHORIZATION", "").split()
    key = meta.get("HTTP_X_P3S_PILOT_KEY")
    if len(auth) != 2 or auth[0] != "Token" or not auth[1].isascii() or not key:
        return None
    try:  # as the API's parser reads it: UTF-8, finite numbers, bounded depth
        lean = lean_beat(limits.loads_json(request.body.decode("utf-8")))
    except (UnicodeDecodeError, ParseError):
        return None
    if lean is None:
        return None
    try:
        done = beats.beat(pilot_id, hash_key(auth[1]), hash_key(key), *lean)
    except DatabaseError:
        return None  # the view meets the same error and answers it (503)
    if done is None:
        request.beat_missed = True  # the view goes straight to its checks, no second try
        return None
    body = json.dumps({"command": done[0], "heartbeat_interval": done[1]}, separators=(",", ":"))
    response = HttpResponse(body, content_type="application/json")
    # What the view's answer carries besides the security middleware's headers.
    response["Vary"] = "Accept"
    response["Allow"] = "POST, OPTIONS"
    response["X-Frame-Options"] = settings.X_FRAME_OPTIONS
    return response
