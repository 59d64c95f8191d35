"""Errors of the pilot factory. Each message says what was wrong and what to do."""

from __future__ import annotations


class FactoryError(Exception):
    """Base class; ``exit_code`` is what ``p3s-factory`` returns when it stops on this error."""

    exit_code = 1


class ConfigError(FactoryError):
    """A bad option, environment variable or config file value."""

    exit_code = 2


class ServerError(FactoryError):
    """The p3s server could not be reached or gave an answer we cannot use."""

    exit_code = 3


class BackendError(FactoryError):
    """The batch system refused a command or its output could not be read."""

    exit_code = 4
