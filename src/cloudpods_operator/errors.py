"""The operator's errors, one small tree (as httpx's ``_exceptions.py`` draws its own)::

    OperatorError
    ├── SpecError            the user must fix the OnecloudCluster; retrying will not help
    └── ApiError             the API server said no (status, reason, message, retry_after)
        ├── NotFound         404
        ├── Conflict         409 (SSA field conflicts, stale resourceVersion)
        ├── Gone             410 (watch resourceVersion too old: re-list)
        ├── Invalid          422
        ├── Forbidden        403
        └── TooManyRequests  429 (honour retry_after)
    TransientError           connection reset, timeout: retry with backoff

Foreign exceptions (aiohttp, kubernetes_asyncio) are translated once, in :mod:`kube`.
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every error the operator raises on purpose."""


class SpecError(OperatorError):
    """A spec that passes the CRD schema but cannot be planned; names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ApiError(OperatorError):
    """A 4xx from the API server, with its Status's ``reason``; unless a subclass says otherwise, back off."""

    status: int = 0

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class NotFound(ApiError):
    """404: no such object, or no such resource (the CRD not installed yet); a delete counts it as done."""


class Conflict(ApiError):
    """409: stale resourceVersion, failed uid precondition or a lost create race; re-read, then retry."""


class Gone(ApiError):
    """410: the watch's resourceVersion is older than the server keeps; list again and watch from there."""


class Invalid(ApiError):
    """422: the server refused the body itself; resending it fails alike, so report the message."""


class Forbidden(ApiError):
    """403: RBAC does not grant the request; the operator's Role needs fixing, not the spec."""


class TooManyRequests(ApiError):
    """429: the server is shedding load; wait ``retry_after`` seconds (when set) before the next try."""


class TransientError(OperatorError):
    """The request may succeed if sent again later (connection errors, timeouts, 5xx)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def api_error(status: int, reason: str, message: str, retry_after: float | None = None) -> OperatorError:
    """The typed error for an HTTP status; 5xx are transient."""
    if status >= 500:
        return TransientError(f"{status} {reason}: {message}")
    return _BY_STATUS.get(status, ApiError)(status, reason, message, retry_after)
