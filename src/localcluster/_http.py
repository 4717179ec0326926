"""A tiny stdlib HTTP(S) client: enough for health checks and a few admin API calls during start-up."""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def client_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def insecure_context() -> ssl.SSLContext:
    """For the loopback health endpoints of controller-manager and scheduler (self-signed serving certs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def request(
    method: str,
    url: str,
    *,
    context: ssl.SSLContext | None = None,
    body: Any = None,
    content_type: str = "application/json",
    timeout: float = 10.0,
) -> Response:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {"Accept": "application/json, */*"}
    payload: bytes | None = None
    if body is not None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    try:
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        return Response(resp.status, resp.read())
    finally:
        conn.close()


def probe(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> tuple[bool, str]:
    """(healthy?, short detail) for a health endpoint that answers 200 when healthy."""
    try:
        resp = request("GET", url, context=context, timeout=timeout)
    except (OSError, http.client.HTTPException) as exc:
        return False, type(exc).__name__ + (f": {exc}" if str(exc) else "")
    detail = resp.text.strip().splitlines()[-1] if resp.text.strip() else ""
    return resp.status == 200, f"{resp.status} {detail}"[:120]
