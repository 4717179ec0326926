"""The only module that talks HTTP to the API server.

kubernetes_asyncio is used for what it does well, loading a kubeconfig or the in-cluster
config (client certs, tokens, exec plugins); requests go out on our own aiohttp sessions with
orjson bodies, because its generated models cost 40-50x a plain parse and its PATCH defaults
are not server-side apply (shared/reference/ecosystem-notes.md §0). Watches and writes use
separate sessions so a burst of applies never waits behind long-lived watch connections.

Errors are translated here, once, into :mod:`errors`; nothing above this module sees aiohttp.
Paths come from the table of kinds in :mod:`kinds`.
"""

from __future__ import annotations

import asyncio
import builtins
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from cloudpods_operator import errors, kinds
from cloudpods_operator.kinds import JSON, Resource

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_CONTENT_TYPE = "application/merge-patch+json"
JSON_PATCH_CONTENT_TYPE = "application/json-patch+json"


@dataclass
class RequestCounter:
    """Every request by verb and status code, and which of them were writes (for metrics and benchmarks)."""

    on_request: Callable[[str, int], None] | None = None

    def record(self, method: str, status: int) -> None:
        """Pass one request on to ``on_request``, if set; ``status`` 0 means no response arrived."""
        if self.on_request is not None:
            self.on_request(method, status)


class Kube:
    """A client for one API server: raw JSON in and out, typed errors, separate watch and write sessions."""

    def __init__(self, host: str, ssl_context: ssl.SSLContext, auth: Callable[[], Any], limit: int) -> None:
        self.host = host.rstrip("/")
        self._ssl = ssl_context
        self._auth = auth
        self._limit = limit
        self._write: aiohttp.ClientSession | None = None
        self._watch: aiohttp.ClientSession | None = None
        self.counter = RequestCounter()

    @classmethod
    async def connect(cls, kubeconfig: str | None = None, *, limit: int = 64) -> Kube:
        """A client from ``kubeconfig``, else the in-cluster config, else ``$KUBECONFIG`` or ~/.kube/config.

        ``limit`` caps the write session's connections; watches are never limited (each holds one open).
        """
        from kubernetes_asyncio import config as kconfig  # the one import of kubernetes_asyncio
        from kubernetes_asyncio.client import Configuration

        cfg = Configuration()
        if kubeconfig:
            await kconfig.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        else:
            try:
                kconfig.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            except kconfig.ConfigException:
                await kconfig.load_kube_config(client_configuration=cfg)
        context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
        if cfg.cert_file:
            context.load_cert_chain(cfg.cert_file, keyfile=cfg.key_file)
        if not cfg.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE

        async def auth() -> dict[str, str]:
            settings = await cfg.auth_settings()
            token = settings.get("BearerToken")
            return {"authorization": token["value"]} if token else {}

        return cls(str(cfg.host), context, auth, limit)

    def _session(self, *, watch: bool) -> aiohttp.ClientSession:
        current = self._watch if watch else self._write
        if current is None or current.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=0 if watch else self._limit)
            current = aiohttp.ClientSession(connector=connector, read_bufsize=2**21)
            if watch:
                self._watch = current
            else:
                self._write = current
        return current

    async def close(self) -> None:
        """Close both sessions; a later request opens a fresh one."""
        for session in (self._write, self._watch):
            if session is not None:
                await session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: JSON | builtins.list[JSON] | None = None,
        content_type: str = "application/json",
        request_timeout: float = 60.0,
    ) -> JSON:
        """One request on the write session; the decoded body back, ``{}`` when it is empty.

        Raises the typed ApiError for a 4xx (NotFound, Conflict, ...), TransientError for a 5xx, a
        connection error or no answer within ``request_timeout`` seconds. Every attempt is counted.
        """
        headers = {"accept": "application/json", **(await self._auth())}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["content-type"] = content_type
        session = self._session(watch=False)
        try:
            async with session.request(
                method,
                self.host + path,
                params=query,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=request_timeout),
            ) as resp:
                raw = await resp.read()
                self.counter.record(method, resp.status)
                if resp.status >= 400:
                    raise _error(resp.status, raw, resp.headers.get("Retry-After"))
                return orjson.loads(raw) if raw else {}
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            self.counter.record(method, 0)
            raise errors.TransientError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JSON:
        """One object; NotFound when it does not exist."""
        return await self.request("GET", resource.path(namespace, name))

    async def list(self, resource: Resource, namespace: str | None, **query: str) -> JSON:
        """One page of a list; ``limit``, ``continue`` and ``labelSelector`` go in ``query``."""
        return await self.request("GET", resource.path(namespace), query=query, request_timeout=120.0)

    async def apply(self, body: JSON, *, field_manager: str, subresource: str | None = None) -> JSON:
        """Server-side apply: the body is our whole intent for the fields we own; force takes them back."""
        resource = kinds.RESOURCES[body["kind"]]
        meta = body["metadata"]
        path = resource.path(meta.get("namespace"), meta["name"], subresource)
        query = {"fieldManager": field_manager, "force": "true"}
        return await self.request("PATCH", path, query=query, body=body, content_type=APPLY_CONTENT_TYPE)

    async def create(
        self, resource: Resource, namespace: str | None, body: JSON, *, field_manager: str
    ) -> JSON:
        """POST a new object; Conflict (AlreadyExists) when the name is taken."""
        return await self.request(
            "POST", resource.path(namespace), query={"fieldManager": field_manager}, body=body
        )

    async def replace(self, resource: Resource, namespace: str | None, name: str, body: JSON) -> JSON:
        """PUT a whole object; its ``metadata.resourceVersion`` makes it conditional (Conflict when stale)."""
        return await self.request("PUT", resource.path(namespace, name), body=body)

    async def merge_patch(
        self, resource: Resource, namespace: str | None, name: str, body: JSON, *, field_manager: str
    ) -> JSON:
        """A JSON merge patch (RFC 7386): adds or changes only the keys it names."""
        query = {"fieldManager": field_manager}
        path = resource.path(namespace, name)
        return await self.request("PATCH", path, query=query, body=body, content_type=MERGE_CONTENT_TYPE)

    async def json_patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        ops: builtins.list[JSON],
        *,
        field_manager: str,
    ) -> JSON:
        """A JSON patch (RFC 6902); a ``test`` op on ``/metadata/resourceVersion`` makes it conditional."""
        path = resource.path(namespace, name)
        query = {"fieldManager": field_manager}
        return await self.request("PATCH", path, query=query, body=ops, content_type=JSON_PATCH_CONTENT_TYPE)

    async def delete(
        self, resource: Resource, namespace: str | None, name: str, *, uid: str | None = None
    ) -> None:
        """Delete with background propagation; an object already gone counts as deleted.

        With ``uid``, only that incarnation: a newer object of the same name raises Conflict and stays.
        """
        options: JSON = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            await self.request("DELETE", resource.path(namespace, name), body=options)
        except errors.NotFound:
            return

    async def stream(
        self, resource: Resource, namespace: str | None, query: dict[str, str], *, inactivity: float
    ) -> AsyncIterator[JSON]:
        """One watch connection: yields events until the server closes it; raises on errors and silence."""
        headers = {"accept": "application/json", **(await self._auth())}
        session = self._session(watch=True)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=inactivity)
        try:
            async with session.get(
                self.host + resource.path(namespace), params=query, headers=headers, timeout=timeout
            ) as resp:
                self.counter.record("WATCH", resp.status)
                if resp.status >= 400:
                    raise _error(resp.status, await resp.read(), None)
                async for line in resp.content:
                    if line.strip():
                        yield orjson.loads(line)
        except (aiohttp.ClientError, TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            raise errors.TransientError(f"watch {resource.plural}: {type(exc).__name__}: {exc}") from exc


def _error(status: int, raw: bytes, retry_after: str | None) -> errors.OperatorError:
    reason, message = "", raw[:500].decode(errors="replace")
    try:
        doc = orjson.loads(raw)
        reason, message = str(doc.get("reason", "")), str(doc.get("message", message))
    except orjson.JSONDecodeError:
        pass
    delay = float(retry_after) if retry_after and retry_after.isdigit() else None
    return errors.api_error(status, reason, message, delay)
