"""A thin typed client of the Keystone v3 identity API, the handful of calls registration needs.

Cloudpods' keystone serves the standard v3 API (tokens, regions, services, endpoints, users, projects,
roles, role assignments); so does OpenStack Keystone, which the tests run. One aiohttp session per
keystone address. Trouble is one of two exceptions, never a secret in its message: the server could not
be used (:class:`KeystoneUnavailable`: no answer, a timeout, a 5xx, the operator's login refused), or it
refused one request (:class:`KeystoneRefused`: a 4xx).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

JSON = dict[str, Any]


class KeystoneError(Exception):
    """Keystone could not do what was asked."""


class KeystoneUnavailable(KeystoneError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"keystone at {url}: {reason}")
        self.url = url
        self.reason = reason


class LoginRefused(KeystoneUnavailable):
    """The operator's own login (sysadmin) was refused: nothing can be registered."""


class KeystoneRefused(KeystoneError):
    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"keystone refused {method} {path}: {status} {message}"[:512])
        self.status = status


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: datetime

    def fresh(self, now: datetime, margin: float = 300.0) -> bool:
        """Still good for ``margin`` seconds: reused until then, so a pass at rest logs in not at all."""
        return (self.expires_at - now).total_seconds() > margin


def _auth_body(user: str, password: str, project: str | None, domain: str) -> JSON:
    identity = {
        "methods": ["password"],
        "password": {"user": {"name": user, "domain": {"name": domain}, "password": password}},
    }
    auth: JSON = {"identity": identity}
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"name": domain}}}
    return {"auth": auth}


def _message(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("title") or "")
    return ""


class Keystone:
    """Requests to one keystone v3 address (``url`` ends in ``/v3``)."""

    def __init__(self, url: str, *, ssl_context: ssl.SSLContext | bool = True, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        token: Token | None = None,
        body: JSON | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        headers = {"X-Auth-Token": token.value} if token is not None else {}
        try:
            async with self._http().request(
                method, self.url + path, json=body, params=params, headers=headers, ssl=self._ssl
            ) as resp:
                text = await resp.text()
                data: Any = None
                if text and resp.content_type == "application/json":
                    data = await resp.json(content_type=None)
                if resp.status >= 500:
                    raise KeystoneUnavailable(self.url, f"{method} {path}: {resp.status} {_message(data)}")
                return resp.status, data, dict(resp.headers)
        except (TimeoutError, aiohttp.ClientError, ssl.SSLError, OSError) as exc:
            raise KeystoneUnavailable(self.url, f"{type(exc).__name__}: {exc}") from None

    async def login(self, user: str, password: str, *, project: str, domain: str = "Default") -> Token:
        """A project-scoped token; a refused login raises :class:`LoginRefused`."""
        status, data, headers = await self._call(
            "POST", "/auth/tokens", body=_auth_body(user, password, project, domain)
        )
        if status != 201:
            raise LoginRefused(self.url, f"login as {user} refused: {status} {_message(data)}")
        expires = datetime.fromisoformat(str(data["token"]["expires_at"]).replace("Z", "+00:00"))
        return Token(headers["X-Subject-Token"], expires.astimezone(UTC))

    async def password_works(self, user: str, password: str, *, domain: str = "Default") -> bool:
        """Whether ``user`` logs in with ``password`` (an unscoped token; the role is not needed)."""
        status, _, _ = await self._call("POST", "/auth/tokens", body=_auth_body(user, password, None, domain))
        return status == 201

    async def get(self, path: str, token: Token, params: dict[str, str] | None = None) -> JSON | None:
        """The body of a GET; None for a 404."""
        status, data, _ = await self._call("GET", path, token=token, params=params)
        if status == 401:
            raise KeystoneUnavailable(self.url, f"GET {path}: token refused")
        if status == 404:
            return None
        if status != 200 or not isinstance(data, dict):
            raise KeystoneRefused("GET", path, status, _message(data))
        return data

    async def send(self, method: str, path: str, token: Token, body: JSON | None = None) -> JSON:
        """POST, PATCH or PUT; anything but 2xx raises :class:`KeystoneRefused`."""
        status, data, _ = await self._call(method, path, token=token, body=body)
        if status == 401:
            raise KeystoneUnavailable(self.url, f"{method} {path}: token refused")
        if not 200 <= status < 300:
            raise KeystoneRefused(method, path, status, _message(data))
        return data if isinstance(data, dict) else {}
