"""What one reconcile pass did: for logs, metrics, Events, the worker's next step and tests. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    """What one pass did, for logs, metrics, Events, the worker's next step and tests."""

    spec_error: str | None = None
    """Set when the spec could not be planned: nothing was applied, a retry will not help."""
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    database_error: str | None = None
    """MySQL could not be used (or refused a statement): worth a retry with backoff."""
    keystone_error: str | None = None
    """Keystone could not be used or refused a write (``keystone_reason`` says which): retried."""
    keystone_reason: str = "KeystoneUnavailable"
    skipped: int = 0
    status_written: bool = False
    status_due: float | None = None
    """Seconds until a deferred status write is due (only progress changed, and the last write was less
    than ``status.STATUS_INTERVAL`` ago): the worker schedules a pass then."""

    @property
    def failed(self) -> bool:
        """Some object could not be applied or pruned, or MySQL or keystone failed: worth a retry."""
        return bool(self.failures or self.database_error or self.keystone_error)
