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
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp
import aiohttp.helpers
import orjson
import yarl

from cloudpods_operator import __version__, errors, kinds
from cloudpods_operator.kinds import JSON, Resource

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_CONTENT_TYPE = "application/merge-patch+json"
JSON_PATCH_CONTENT_TYPE = "application/json-patch+json"
USER_AGENT = f"cloudpods-operator/{__version__}"
EXPIRY_SKEW = timedelta(seconds=10)
"""A token this close to its ``expirationTimestamp`` is refreshed before use, as client-go does."""
KEEPALIVE = 60.0
"""Seconds an idle write connection is kept. aiohttp's default, 15 s, closed every connection between
two bumps a quiet spell apart, so a version bump opened 32 TLS connections before its applies (~45 ms on
2 cores, measured); the API server keeps idle connections 90 s (k8s.io/apiserver secure_serving.go,
``IdleTimeout``), so 60 s reuses them without racing its close."""


@dataclass
class RequestCounter:
    """Every request by verb and status code, and which of them were writes (for metrics and benchmarks)."""

    on_request: Callable[[str, int], None] | None = None
    on_latency: Callable[[str, float], None] | None = None

    def record(self, method: str, status: int) -> None:
        """Pass one request on to ``on_request``, if set; ``status`` 0 means no response arrived."""
        if self.on_request is not None:
            self.on_request(method, status)

    def latency(self, method: str, seconds: float) -> None:
        """Pass one request's latency (sent to body read, or to the error) on to ``on_latency``, if set."""
        if self.on_latency is not None:
            self.on_latency(method, seconds)


class TokenSource(Protocol):
    """Where bearer tokens come from: ``fetch(force)`` returns the header value (or None) and its expiry."""

    async def fetch(self, force: bool) -> tuple[str | None, datetime | None]:
        """The current token; ``force`` after a 401: do not return the one already handed out."""


class Credentials:
    """The ``authorization`` header, cached until its expiry or a 401, then fetched again.

    Exec plugins (EKS, GKE) print short-lived tokens with an ``expirationTimestamp``: without a refresh
    every request would get 401 once it passes. A token without an expiry is kept until a 401.
    """

    def __init__(self, source: TokenSource) -> None:
        self._source = source
        self._token: str | None = None
        self._expiry: datetime | None = None
        self._loaded = False

    async def headers(self) -> dict[str, str]:
        """The header to send now (an expired token is refreshed first)."""
        expired = self._expiry is not None and datetime.now(UTC) >= self._expiry - EXPIRY_SKEW
        if not self._loaded or expired:
            self._token, self._expiry = await self._source.fetch(expired)
            self._loaded = True
        return {"authorization": self._token} if self._token else {}

    async def rejected(self, sent: dict[str, str]) -> bool:
        """A 401 for the ``sent`` headers: fetch a new token; True if it differs (a retry may pass)."""
        if sent.get("authorization") != self._token:
            return True  # another request refreshed it meanwhile
        token, self._expiry = await self._source.fetch(True)
        changed = token != self._token
        self._token = token
        return changed


class _KubeconfigUser:
    """A kubeconfig user's token: exec plugin, OIDC or GCP auth-provider, token or tokenFile.

    Uses the loader kubernetes_asyncio returned; it never writes back (``persist_config=False``).
    """

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    async def fetch(self, force: bool) -> tuple[str | None, datetime | None]:
        loader, user = self._loader, self._loader._user  # the loader keeps the user private
        if user is None:
            return None, None
        if loader.provider in ("oidc", "gcp"):
            config = user["auth-provider"].value.setdefault("config", {})
            if force:  # the provider refreshes what it no longer has (the refresh-token, the ADC)
                config.pop("id-token" if loader.provider == "oidc" else "access-token", None)
            await loader._load_authentication()  # it refreshes an expired token itself
            return getattr(loader, "token", None), datetime.now(UTC)  # cheap to re-check on every request
        if "exec" in user:
            if force or not hasattr(loader, "token"):  # else the token it got when loading the kubeconfig
                if hasattr(loader, "exec_plugin_expiry"):
                    del loader.exec_plugin_expiry  # run the plugin again, whatever it said before
                await loader.load_from_exec_plugin()
            expiry = getattr(loader, "exec_plugin_expiry", None)
            if expiry is not None and expiry.tzinfo is None:
                expiry = expiry.replace(tzinfo=UTC)
            return getattr(loader, "token", None), expiry
        loader._load_user_token() or loader._load_user_pass_token()  # re-reads a tokenFile
        return getattr(loader, "token", None), None


class _ConfigurationToken:
    """In-cluster: the ServiceAccount token, which kubernetes_asyncio's refresh hook re-reads each minute."""

    def __init__(self, cfg: Any) -> None:
        self._cfg = cfg

    async def fetch(self, force: bool) -> tuple[str | None, datetime | None]:
        settings = await self._cfg.auth_settings()
        token = settings.get("BearerToken")
        return (str(token["value"]) if token else None), datetime.now(UTC) + timedelta(seconds=60)


class Kube:
    """A client for one API server: raw JSON in and out, typed errors, separate watch and write sessions."""

    def __init__(self, host: str, ssl_context: ssl.SSLContext, credentials: Credentials, limit: int) -> None:
        self.host = host.rstrip("/")
        self._ssl = ssl_context
        self._credentials = credentials
        self._limit = limit
        self.proxy: str | None = None
        """The kubeconfig's ``proxy-url``, else the environment's proxy for the API server's address
        (``HTTPS_PROXY`` unless ``NO_PROXY`` names it), resolved once at connect."""
        self.proxy_auth: aiohttp.BasicAuth | None = None
        self.tls_server_name: str | None = None
        """The kubeconfig's ``tls-server-name``: the name sent in SNI and checked in the serving cert."""
        self._write: aiohttp.ClientSession | None = None
        self._watch: aiohttp.ClientSession | None = None
        self.counter = RequestCounter()

    @classmethod
    async def connect(cls, kubeconfig: str | None = None, *, limit: int = 64) -> Kube:
        """A client from ``kubeconfig``, else the in-cluster config, else ``$KUBECONFIG`` or ~/.kube/config.

        ``limit`` caps the write session's connections; watches are never limited (each holds one open).
        The kubeconfig is never written back (``persist_config=False``: a refreshed token stays in memory);
        its ``proxy-url`` and ``tls-server-name`` are honoured, and without ``proxy-url`` so are
        ``HTTPS_PROXY``/``NO_PROXY``.
        """
        kconfig, Configuration = _config_loader()

        cfg = Configuration()
        credentials: Credentials
        if kubeconfig:
            loader = await kconfig.load_kube_config(
                config_file=kubeconfig, client_configuration=cfg, persist_config=False
            )
            credentials = Credentials(_KubeconfigUser(loader))
        else:
            try:
                kconfig.load_incluster_config(client_configuration=cfg)
                credentials = Credentials(_ConfigurationToken(cfg))
            except kconfig.ConfigException:
                loader = await kconfig.load_kube_config(client_configuration=cfg, persist_config=False)
                credentials = Credentials(_KubeconfigUser(loader))
        context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
        if cfg.cert_file:
            context.load_cert_chain(cfg.cert_file, keyfile=cfg.key_file)
        if not cfg.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        client = cls(str(cfg.host), context, credentials, limit)
        client.proxy = cfg.proxy or None
        if client.proxy is None:
            client.proxy, client.proxy_auth = _env_proxy(client.host)
        client.tls_server_name = cfg.tls_server_name or None
        return client

    def _session(self, *, watch: bool) -> aiohttp.ClientSession:
        current = self._watch if watch else self._write
        if current is None or current.closed:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl, limit=0 if watch else self._limit, keepalive_timeout=KEEPALIVE
            )
            current = aiohttp.ClientSession(
                connector=connector, read_bufsize=2**21, headers={"user-agent": USER_AGENT}
            )
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
        data = None if body is None else orjson.dumps(body)
        for attempt in (1, 2):
            headers = {"accept": "application/json", **(await self._credentials.headers())}
            if data is not None:
                headers["content-type"] = content_type
            session = self._session(watch=False)
            started = time.perf_counter()
            try:
                async with session.request(
                    method,
                    self.host + path,
                    params=query,
                    data=data,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=request_timeout),
                    **self._route(),
                ) as resp:
                    raw = await resp.read()
                    self.counter.latency(method, time.perf_counter() - started)
                    self.counter.record(method, resp.status)
                    if resp.status == 401 and attempt == 1 and await self._credentials.rejected(headers):
                        continue
                    if resp.status >= 400:
                        raise _error(resp.status, raw, resp.headers.get("Retry-After"))
                    return orjson.loads(raw) if raw else {}
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                self.counter.latency(method, time.perf_counter() - started)
                self.counter.record(method, 0)
                raise errors.TransientError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _route(self) -> dict[str, Any]:
        """The per-request proxy and TLS server name from the kubeconfig (aiohttp keyword arguments)."""
        route: dict[str, Any] = {}
        if self.proxy:
            route["proxy"] = self.proxy
            if self.proxy_auth is not None:
                route["proxy_auth"] = self.proxy_auth
        if self.tls_server_name:
            route["server_hostname"] = self.tls_server_name
        return route

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

    async def replace(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: JSON,
        *,
        field_manager: str,
        request_timeout: float = 60.0,
    ) -> JSON:
        """PUT a whole object; its ``metadata.resourceVersion`` makes it conditional (Conflict when stale)."""
        return await self.request(
            "PUT",
            resource.path(namespace, name),
            query={"fieldManager": field_manager},
            body=body,
            request_timeout=request_timeout,
        )

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
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=inactivity)
        try:
            for attempt in (1, 2):
                headers = {"accept": "application/json", **(await self._credentials.headers())}
                session = self._session(watch=True)
                async with session.get(
                    self.host + resource.path(namespace),
                    params=query,
                    headers=headers,
                    timeout=timeout,
                    **self._route(),
                ) as resp:
                    self.counter.record("WATCH", resp.status)
                    if resp.status == 401 and attempt == 1 and await self._credentials.rejected(headers):
                        continue
                    if resp.status >= 400:
                        raise _error(resp.status, await resp.read(), None)
                    async for line in resp.content:
                        if line.strip():
                            yield orjson.loads(line)
                    return
        except (aiohttp.ClientError, TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            raise errors.TransientError(f"watch {resource.plural}: {type(exc).__name__}: {exc}") from exc


def _env_proxy(host: str) -> tuple[str | None, aiohttp.BasicAuth | None]:
    """The environment's proxy for ``host`` (``HTTPS_PROXY``/``HTTP_PROXY``, ``NO_PROXY``), or None.

    Once, here: a session with ``trust_env`` looks it (and ~/.netrc) up again in a worker thread for every
    request, two thread hops per apply that a fleet-wide bump paid 2,500 times.
    """
    try:
        proxy, auth = aiohttp.helpers.get_env_proxy_for_url(yarl.URL(host))
    except LookupError:
        return None, None
    return str(proxy), auth


def _config_loader() -> tuple[Any, Any]:
    """kubernetes_asyncio's kubeconfig and in-cluster loaders and its ``Configuration``, without its models.

    ``import kubernetes_asyncio`` runs the package's ``__init__``, which imports its generated client: 859
    modules, 34 MiB of resident memory and 0.18 s of start-up that this process never uses (it parses JSON
    itself). The config package needs only ``client.configuration`` (and ``ApiClient``, for helpers we do not
    call), so the two parent packages are entered as bare namespaces while it loads, then taken out of
    ``sys.modules`` again: a later ordinary import (the demo's) gets the whole library, and the
    ``ApiClient`` the loader's helpers name imports the real one when called.
    """
    import importlib
    import importlib.util
    import sys
    import types

    if "kubernetes_asyncio.config.kube_config" not in sys.modules:
        spec = importlib.util.find_spec("kubernetes_asyncio")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("kubernetes_asyncio is not installed")
        root = next(iter(spec.submodule_search_locations))
        bare = {}
        for name, path in (("kubernetes_asyncio", root), ("kubernetes_asyncio.client", f"{root}/client")):
            if name not in sys.modules:
                module = types.ModuleType(name)
                module.__path__ = [path]
                bare[name] = sys.modules[name] = module
        try:
            configuration = importlib.import_module("kubernetes_asyncio.client.configuration")
            client = sys.modules["kubernetes_asyncio.client"]
            if client is bare.get("kubernetes_asyncio.client"):
                client.Configuration = configuration.Configuration  # type: ignore[attr-defined]
                client.ApiClient = _real_api_client  # type: ignore[attr-defined]
            importlib.import_module("kubernetes_asyncio.config")
        finally:
            for name, module in bare.items():
                if sys.modules.get(name) is module:
                    del sys.modules[name]
    kube_config = sys.modules["kubernetes_asyncio.config.kube_config"]
    config = sys.modules["kubernetes_asyncio.config"]
    return config, kube_config.Configuration


def _real_api_client(*args: Any, **kwargs: Any) -> Any:
    """Stands in for ``kubernetes_asyncio.client.ApiClient`` in the config loader (:func:`_config_loader`)."""
    from kubernetes_asyncio.client.api_client import ApiClient

    return ApiClient(*args, **kwargs)


def _error(status: int, raw: bytes, retry_after: str | None) -> errors.OperatorError:
    reason, message = "", raw[:500].decode(errors="replace")
    try:
        doc = orjson.loads(raw)
        reason, message = str(doc.get("reason", "")), str(doc.get("message", message))
    except orjson.JSONDecodeError:
        pass
    delay = float(retry_after) if retry_after and retry_after.isdigit() else None
    return errors.api_error(status, reason, message, delay)
