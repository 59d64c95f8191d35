"""What can go wrong when reading or writing by URL, sorted by what the caller should do."""

from __future__ import annotations


class StorageError(OSError):
    """A storage operation failed and retrying it will not help (the base of the others)."""

    retriable = False

    def __init__(self, url: str, message: str):
        super().__init__(f"{url}: {message}")
        self.url = url
        self.reason = message


class NotFound(StorageError):
    """The file (or a directory on its path) does not exist. Not retried."""


class PermissionRefused(StorageError):
    """The storage refused the operation (permission, authentication). Not retried."""


class UnsupportedScheme(StorageError, ValueError):
    """No backend handles the URL's scheme."""


class Transient(StorageError):
    """A failure that may go away: connection refused or reset, timeout, server busy, 5xx.

    Retried with back-off by :func:`storage.retry.call`; raised to the caller only once the
    attempts are used up."""

    retriable = True
