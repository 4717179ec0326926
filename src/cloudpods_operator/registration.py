"""The reconciler's keystone step: the region, services, endpoints and service accounts of each cluster.

Once ``<cluster>-keystone`` is available, :meth:`Registrar.ensure` logs in as ``sysadmin`` (project
``system``, domain ``Default``) with the credentials' ``sysadmin-password``, reads what keystone holds
(a handful of GETs) and writes only the difference to :func:`keystonecatalog.desired`. The token is
reused until it nears expiry; an account's password is tried by a login only the first time this
process meets the account, and set when its key in the credentials changes. What it reports, the
accounts ensured, reaches the planner as ``Observed.accounts``: a component waits for its account,
and a rotated password holds its components back until keystone has it. A pass whose wanted state
is the one last ensured skips the reads for ``recheck`` seconds.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from cloudpods_operator import certificates, credentials, errors, keystonecatalog, kinds, planner
from cloudpods_operator.keystone import (
    Keystone,
    KeystoneRefused,
    KeystoneUnavailable,
    LoginRefused,
    Token,
)
from cloudpods_operator.kube.client import Kube
from cloudpods_operator.observed import ClusterKey, password_digest

log = logging.getLogger(__name__)

NOT_MANAGED_STATE = "NotManaged"


@dataclass(frozen=True)
class Report:
    """One cluster's registration after a pass: ``accounts`` is None when keystone is not managed."""

    state: str
    accounts: Mapping[str, str] | None
    error: str | None = None
    reason: str = "KeystoneUnavailable"
    writes: int = 0
    warning: str | None = None
    """Worth a Warning Event once (a certificate used unverified)."""


NOT_MANAGED = Report(NOT_MANAGED_STATE, None)


@dataclass
class _Held:
    """What the registrar keeps per cluster between passes."""

    target: tuple[str, bytes | None] | None = None
    client: Keystone | None = None
    token: Token | None = None
    verified: dict[str, str] = field(default_factory=dict)
    """user -> digest of the password keystone is known to hold (set, or tried by a login)."""
    ensured: dict[str, str] = field(default_factory=dict)
    """user -> digest, for accounts that exist with their role: the planner's gate."""
    fingerprint: str | None = None
    checked: float = 0.0
    sysadmin: str | None = None
    warned: bool = False


@dataclass
class _Pass:
    """One sync's tally."""

    writes: int = 0
    refusals: list[str] = field(default_factory=list)


class Registrar:
    """Keystone registration for every cluster; ``url``: every cluster's keystone (None: in the cluster)."""

    def __init__(
        self,
        kube: Kube,
        *,
        url: str | None = None,
        recheck: float = 300.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.url = url
        self.recheck = recheck
        self.timeout = timeout
        self._clock = clock
        self._held: dict[ClusterKey, _Held] = {}

    def observed(self, key: ClusterKey) -> Mapping[str, str]:
        """The accounts ensured in this process (the planner's keystone gate)."""
        held = self._held.get(key)
        return dict(held.ensured) if held else {}

    def sysadmin_password(self, key: ClusterKey) -> str | None:
        """The bootstrap password that last logged in (to restore it when its key is deleted)."""
        held = self._held.get(key)
        return held.sysadmin if held else None

    async def ensure(
        self, key: ClusterKey, plan: planner.Plan, secrets: Mapping[str, str], available: bool
    ) -> Report:
        """Register the plan; never raises for keystone's trouble (it is the Report's ``error``)."""
        held = self._held.setdefault(key, _Held())
        if not available:
            return Report("Waiting", dict(held.ensured))
        desired = keystonecatalog.desired(plan)
        fingerprint = _fingerprint(desired, secrets)
        if held.fingerprint == fingerprint and self._clock() - held.checked < self.recheck:
            return Report("Ready", dict(held.ensured))
        warning = None
        tally = _Pass()
        try:
            client, warning = await self._client(key, plan, held)
            token = await self._token(client, held, secrets)
            await _sync(client, token, desired, secrets, held, tally)
        except KeystoneUnavailable as exc:
            if isinstance(exc, LoginRefused) or "token refused" in exc.reason:
                held.token = None
            held.fingerprint = None
            return Report("Unavailable", dict(held.ensured), str(exc), writes=tally.writes, warning=warning)
        if tally.writes:
            log.info("%s/%s: keystone at %s: %s writes", *key, client.url, tally.writes)
        if tally.refusals:
            held.fingerprint = None
            message = "; ".join(tally.refusals)
            return Report(
                "Unavailable", dict(held.ensured), message, "KeystoneRefused", tally.writes, warning
            )
        held.fingerprint, held.checked = fingerprint, self._clock()
        return Report("Ready", dict(held.ensured), writes=tally.writes, warning=warning)

    async def forget(self, key: ClusterKey) -> None:
        held = self._held.pop(key, None)
        if held is not None and held.client is not None:
            await held.client.close()

    async def close(self) -> None:
        for key in list(self._held):
            await self.forget(key)

    # ---- internals --------------------------------------------------------------------------

    async def _client(self, key: ClusterKey, plan: planner.Plan, held: _Held) -> tuple[Keystone, str | None]:
        url = self.url or keystonecatalog.admin_url(plan)
        warning = None
        ca: bytes | None = None
        context: ssl.SSLContext | bool = True
        if urlsplit(url).scheme == "https":
            ca, context, warning = await self._tls(key, url)
        target = (url, ca)
        if held.client is None or held.target != target:
            if held.client is not None:
                await held.client.close()
            held.client, held.target, held.token = (
                Keystone(url, ssl_context=context, timeout=self.timeout),
                target,
                None,
            )
            held.warned = False
        if warning and held.warned:
            warning = None
        held.warned = held.warned or warning is not None
        return held.client, warning

    async def _tls(self, key: ClusterKey, url: str) -> tuple[bytes | None, ssl.SSLContext | bool, str | None]:
        """Verify with the CA of ``<cluster>-certs`` when its certificate names the host; else unverified."""
        namespace, name = key
        secret_name = f"{name}-certs"
        host = urlsplit(url).hostname or ""
        try:
            secret = await self.kube.get(kinds.RESOURCES["Secret"], namespace, secret_name)
        except errors.NotFound:
            return None, False, f"Secret {secret_name} does not exist: keystone at {url} is used unverified"
        data = secret.get("data") or {}
        ca, cert = certificates.decoded(data, "ca.crt"), certificates.decoded(data, "service.crt")
        if ca is None or cert is None or host not in certificates.dns_names(cert):
            note = (
                f"the certificate in {secret_name} does not name {host}: keystone at {url} is used unverified"
            )
            return ca, False, note
        context = ssl.create_default_context(cadata=ca.decode())
        return ca, context, None

    async def _token(self, client: Keystone, held: _Held, secrets: Mapping[str, str]) -> Token:
        password = secrets.get(credentials.SYSADMIN_KEY, "")
        if held.token is not None and held.token.fresh(datetime.now(UTC)) and held.sysadmin == password:
            return held.token
        held.token = await client.login(keystonecatalog.SYSADMIN, password, project=keystonecatalog.PROJECT)
        held.sysadmin = password
        return held.token


def _fingerprint(desired: keystonecatalog.Desired, secrets: Mapping[str, str]) -> str:
    accounts = [(a.name, password_digest(secrets.get(a.password_key, ""))) for a in desired.accounts]
    body = orjson.dumps([desired.region, [_service_tuple(s) for s in desired.services], accounts])
    return hashlib.sha256(body + secrets.get(credentials.SYSADMIN_KEY, "").encode()).hexdigest()


def _service_tuple(s: keystonecatalog.Service) -> list[Any]:
    return [s.name, s.type, s.enabled, [[e.interface, e.url, e.enabled] for e in s.endpoints]]


async def _write(client: Keystone, token: Token, tally: _Pass, method: str, path: str, body: Any) -> Any:
    """One write; a refusal is tallied (the rest of the sync goes on), keystone's trouble raises."""
    try:
        result = await client.send(method, path, token, body)
    except KeystoneRefused as exc:
        tally.refusals.append(str(exc))
        return None
    tally.writes += 1
    return result


async def _sync(
    client: Keystone,
    token: Token,
    desired: keystonecatalog.Desired,
    secrets: Mapping[str, str],
    held: _Held,
    tally: _Pass,
) -> None:
    await _region(client, token, desired.region, tally)
    await _services(client, token, desired, tally)
    await _accounts(client, token, desired, secrets, held, tally)


async def _region(client: Keystone, token: Token, region: str, tally: _Pass) -> None:
    if await client.get(f"/regions/{region}", token) is None:
        await _write(client, token, tally, "POST", "/regions", {"region": {"id": region}})


def _list(body: Mapping[str, Any] | None, key: str) -> list[dict[str, Any]]:
    items = (body or {}).get(key)
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


async def _services(client: Keystone, token: Token, desired: keystonecatalog.Desired, tally: _Pass) -> None:
    live: dict[str, dict[str, Any]] = {}
    for svc in _list(await client.get("/services", token), "services"):
        live.setdefault(str(svc.get("name")), svc)
    endpoints: dict[tuple[str, str], dict[str, Any]] = {}
    for item in _list(await client.get("/endpoints", token), "endpoints"):
        if item.get("region_id") == desired.region:
            endpoints.setdefault((str(item.get("service_id")), str(item.get("interface"))), item)
    for want in desired.services:
        have = live.get(want.name)
        if have is None:
            if not want.enabled:
                continue
            body = {"service": {"name": want.name, "type": want.type, "enabled": True}}
            created = await _write(client, token, tally, "POST", "/services", body)
            if created is None:
                continue
            have = created["service"]
        else:
            patch = {k: v for k, v in (("type", want.type), ("enabled", want.enabled)) if have.get(k) != v}
            if patch:
                await _write(client, token, tally, "PATCH", f"/services/{have['id']}", {"service": patch})
        for ep in want.endpoints:
            await _endpoint(client, token, desired.region, str(have["id"]), ep, endpoints, tally)


async def _endpoint(
    client: Keystone,
    token: Token,
    region: str,
    service_id: str,
    want: keystonecatalog.Endpoint,
    live: Mapping[tuple[str, str], dict[str, Any]],
    tally: _Pass,
) -> None:
    have = live.get((service_id, want.interface))
    if have is None:
        if want.enabled:
            body = {
                "endpoint": {
                    "service_id": service_id,
                    "region_id": region,
                    "interface": want.interface,
                    "url": want.url,
                    "enabled": True,
                }
            }
            await _write(client, token, tally, "POST", "/endpoints", body)
        return
    patch: dict[str, Any] = {}
    if want.enabled and have.get("url") != want.url:
        patch["url"] = want.url
    if bool(have.get("enabled", True)) != want.enabled:
        patch["enabled"] = want.enabled
    if patch:
        await _write(client, token, tally, "PATCH", f"/endpoints/{have['id']}", {"endpoint": patch})


async def _accounts(
    client: Keystone,
    token: Token,
    desired: keystonecatalog.Desired,
    secrets: Mapping[str, str],
    held: _Held,
    tally: _Pass,
) -> None:
    if not desired.accounts:
        return
    domain = keystonecatalog.DOMAIN
    project = _list(
        await client.get("/projects", token, {"name": keystonecatalog.PROJECT, "domain_id": domain}),
        "projects",
    )
    role = _list(await client.get("/roles", token, {"name": keystonecatalog.ROLE}), "roles")
    if not project or not role:
        tally.refusals.append(
            f"keystone has no project {keystonecatalog.PROJECT} or no role {keystonecatalog.ROLE}"
        )
        return
    project_id, role_id = str(project[0]["id"]), str(role[0]["id"])
    users = {
        str(u.get("name")): u
        for u in _list(await client.get("/users", token, {"domain_id": domain}), "users")
    }
    assignments = await client.get(
        "/role_assignments", token, {"scope.project.id": project_id, "role.id": role_id}
    )
    assigned = {str((a.get("user") or {}).get("id")) for a in _list(assignments, "role_assignments")}
    for account in desired.accounts:
        password = secrets.get(account.password_key)
        if password is None:
            continue
        digest = password_digest(password)
        user = users.get(account.name)
        if user is None:
            body = {
                "user": {
                    "name": account.name,
                    "password": password,
                    "domain_id": domain,
                    "enabled": True,
                    "is_system_account": True,
                    "allow_web_console": False,
                }
            }
            created = await _write(client, token, tally, "POST", "/users", body)
            if created is None:
                continue
            user = created["user"]
            held.verified[account.name] = digest
        elif held.verified.get(account.name) != digest:
            known = account.name in held.verified
            if known or not await client.password_works(account.name, password):
                path = f"/users/{user['id']}"
                if (
                    await _write(client, token, tally, "PATCH", path, {"user": {"password": password}})
                    is None
                ):
                    continue
                log.info(
                    "keystone account %s: password set (its key in the credentials changed)", account.name
                )
            held.verified[account.name] = digest
        user_id = str(user["id"])
        if user_id not in assigned:
            path = f"/projects/{project_id}/users/{user_id}/roles/{role_id}"
            if await _write(client, token, tally, "PUT", path, None) is None:
                continue
        held.ensured[account.name] = digest
