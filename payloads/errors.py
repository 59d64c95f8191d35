"""Exceptions of the payloads package; every message says what was wrong and what to do."""


class PayloadError(Exception):
    """Base class: a payload cannot do its job; the message goes to the job's log."""


class RawFileError(PayloadError):
    """A raw data file is unreadable, truncated or not in the expected layout."""


class InputError(PayloadError):
    """The job spec or a parent's output is missing or malformed."""
