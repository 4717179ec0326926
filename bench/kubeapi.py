"""A plain asyncio client of the API server (aiohttp + orjson): the benchmark's own eyes and hands.

It is deliberately not the operator's client (cloudpods_operator.kube): the floor must measure the API server,
and the watchers must see what the API server holds, whatever the operator believes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from cloudpods_operator import kinds
from cloudpods_operator.kinds import Resource

JSON = dict[str, Any]
FIELD_MANAGER = "cloudpods-operator"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


class ApiError(Exception):
    def __init__(self, status: int, method: str, path: str, text: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {text[:400]}")
        self.status = status


# The operator's own REST table, plus the two kinds only the benchmark reads.
RESOURCES: dict[str, Resource] = {
    **kinds.RESOURCES,
    "Namespace": Resource("Namespace", "v1", "namespaces", namespaced=False),
    "Pod": Resource("Pod", "v1", "pods"),
}
WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet")


class Api:
    """One aiohttp session per instance; ``limit`` caps its connections (0: no cap)."""

    def __init__(self, host: str, context: ssl.SSLContext, headers: Mapping[str, str], limit: int = 0):
        self.host = host.rstrip("/")
        self._ssl = context
        self._headers = {"accept": "application/json", **headers}
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    async def connect(cls, kubeconfig: str, limit: int = 0) -> Api:
        from kubernetes_asyncio import config as kconfig
        from kubernetes_asyncio.client import Configuration

        cfg = Configuration()
        await kconfig.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
        if cfg.cert_file:
            context.load_cert_chain(cfg.cert_file, keyfile=cfg.key_file)
        if not cfg.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        auth = await cfg.auth_settings()
        token = auth.get("BearerToken")
        headers = {"authorization": token["value"]} if token else {}
        return cls(str(cfg.host), context, headers, limit)

    def clone(self, limit: int) -> Api:
        """Another client on the same credentials with its own connection pool."""
        return Api(self.host, self._ssl, self._headers, limit)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=self._limit)
            self._session = aiohttp.ClientSession(connector=connector, read_bufsize=2**21)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def raw(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        within: float = 120.0,
    ) -> tuple[int, bytes]:
        headers = dict(self._headers)
        if body is not None:
            headers["content-type"] = content_type
        async with self.session.request(
            method,
            self.host + path,
            params=dict(query or {}),
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=within),
        ) as resp:
            return resp.status, await resp.read()

    async def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        ok: tuple[int, ...] = (),
    ) -> JSON:
        data = orjson.dumps(body) if body is not None else None
        status, raw = await self.raw(method, path, query=query, body=data, content_type=content_type)
        if status >= 400 and status not in ok:
            raise ApiError(status, method, path, raw.decode(errors="replace"))
        if not raw:
            return {}
        loaded: JSON = orjson.loads(raw)
        return loaded

    async def text(self, path: str) -> str:
        status, raw = await self.raw("GET", path)
        if status >= 400:
            raise ApiError(status, "GET", path, raw.decode(errors="replace"))
        return raw.decode()

    async def get(self, kind: str, namespace: str | None, name: str) -> JSON:
        return await self.call("GET", RESOURCES[kind].path(namespace, name))

    async def list(self, kind: str, namespace: str | None = None, selector: str | None = None) -> list[JSON]:
        query = {"labelSelector": selector} if selector else {}
        items: list[JSON] = (await self.call("GET", RESOURCES[kind].path(namespace), query=query))["items"]
        return items

    async def apply(self, body: JSON, *, field_manager: str = FIELD_MANAGER, sub: str | None = None) -> JSON:
        """Server-side apply with force, as the operator sends it."""
        meta = body["metadata"]
        path = RESOURCES[body["kind"]].path(meta.get("namespace"), meta["name"], sub)
        query = {"fieldManager": field_manager, "force": "true"}
        return await self.call("PATCH", path, query=query, body=body, content_type=APPLY)

    async def merge_patch(self, kind: str, namespace: str | None, name: str, patch: JSON) -> JSON:
        return await self.call("PATCH", RESOURCES[kind].path(namespace, name), body=patch, content_type=MERGE)

    async def create(self, kind: str, namespace: str | None, body: JSON) -> JSON:
        return await self.call("POST", RESOURCES[kind].path(namespace), body=body, ok=(409,))

    async def delete(self, kind: str, namespace: str | None, name: str) -> None:
        await self.call("DELETE", RESOURCES[kind].path(namespace, name), ok=(404,))

    async def watch(
        self, path: str, query: Mapping[str, str], *, read_timeout: float | None = 120.0
    ) -> AsyncIterator[JSON]:
        """One watch connection's events until the server ends it (``read_timeout``: longest silence)."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=read_timeout)
        async with self.session.get(
            self.host + path, params=dict(query), headers=self._headers, timeout=timeout
        ) as resp:
            if resp.status >= 400:
                raise ApiError(resp.status, "WATCH", path, (await resp.read()).decode(errors="replace"))
            async for line in resp.content:
                if line.strip():
                    yield orjson.loads(line)


async def wait_namespace_gone(api: Api, name: str, within: float = 300.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        status, _ = await api.raw("GET", RESOURCES["Namespace"].path(None, name))
        if status == 404:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"namespace {name} still there after {within:.0f}s")


async def ensure_namespace(api: Api, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await api.create("Namespace", None, body)
