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
    status: int = 0

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Gone(ApiError):
    pass


class Invalid(ApiError):
    pass


class Forbidden(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


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
