"""Errors raised by localcluster."""

from __future__ import annotations


class LocalClusterError(RuntimeError):
    """Base class of every localcluster error."""


class BinariesMissingError(LocalClusterError):
    """The control-plane binaries are not built (run `make controlplane`)."""


class AlreadyRunningError(LocalClusterError):
    """A cluster already runs from this run directory."""


class StartError(LocalClusterError):
    """A component failed to start; the message ends with the tail of its log."""

    def __init__(self, message: str, component: str | None = None, log_tail: str = "") -> None:
        full = message if not log_tail else f"{message}\n--- last lines of {component} log ---\n{log_tail}"
        super().__init__(full)
        self.component = component
        self.log_tail = log_tail
