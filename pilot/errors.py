"""Exceptions of the pilot: one base class, one subclass per way a call can end badly."""

from __future__ import annotations


class PilotError(Exception):
    """Base class of every error the pilot raises on purpose."""


class ConfigError(PilotError):
    """The command line or the environment is wrong; the message says what to set."""


class TransportError(PilotError):
    """A call to the server did not succeed."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class Unreachable(TransportError):
    """The server did not answer, or answered 5xx (worth retrying later).

    ``answered`` tells an answer (a 5xx) from silence (no connection, no reply)."""

    answered: bool = False


class ClientError(TransportError):
    """The server refused the request with a 4xx: retrying the same request cannot help."""


class ServerFault(ClientError):
    """The server answered the same 5xx (not 502/503/504) to every try: a deterministic
    fault of the server with this request, which retrying until the give-up time cannot fix.
    Handled like a refusal: the pilot skips the action instead of waiting."""


class Conflict(ClientError):
    """409: the job is no longer this pilot's (lost and re-queued, or cancelled). Drop it."""

    status = 409


class Forbidden(ClientError):
    """403 (or 401): not this pilot's job, or the token is not a pilot token."""

    status = 403


class NotFound(ClientError):
    """404: no such pilot or job on the server."""

    status = 404


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """Raised from the signal handler to abandon a blocking call (the claim's long poll).

    A BaseException so that no ``except Exception`` in a library swallows it.
    """
