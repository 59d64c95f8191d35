"""Errors of the p3s server. Every message says what was wrong and what to do."""


class P3SError(Exception):
    """Base class of all p3s server errors."""


class ConfigurationError(P3SError):
    """A setting from the environment is missing or malformed."""


class InvalidDag(P3SError):
    """A DAG template is not acceptable (cycle, unknown payload, bad number...)."""


class IllegalTransition(P3SError):
    """A job or DAG run was asked to move to a state it cannot reach from where it is."""


class NotYours(P3SError):
    """A pilot asked about a job or pilot record that belongs to someone else."""


class Conflict(P3SError):
    """The request is valid but the object moved on (e.g. the job was re-queued)."""
