"""The reconciler's MySQL step: each cluster's databases, users and grants, over one kept connection.

With ``spec.mysql.host`` set, :meth:`Provisioner.ensure` logs in as the administrator (its password from
``spec.mysql.passwordSecret``, read with a GET each pass, else ``spec.mysql.password``, else the
credentials' ``mysql-root-password``) and calls :meth:`mysql.MySQL.ensure` for the components that are
not disabled and own a MySQL database (:func:`databases.desired`). The connection is kept for the next
pass and closed when the cluster goes away, its MySQL settings change, or it fails. What it reports
back, the databases ensured so far in this process, reaches the planner as ``Observed.databases``:
components whose database is missing wait, and nothing already running is touched.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from cloudpods_operator import catalog, credentials, databases, errors, kinds, mysql, planner
from cloudpods_operator.kube.client import Kube
from cloudpods_operator.model import OnecloudCluster
from cloudpods_operator.observed import ClusterKey

log = logging.getLogger(__name__)

Connect = Callable[..., Awaitable[mysql.MySQL]]


@dataclass(frozen=True)
class Target:
    """Where and as whom one cluster's MySQL is reached."""

    host: str
    port: int
    user: str
    password: str


@dataclass(frozen=True)
class Report:
    """One cluster's provisioning after a pass: ``ensured`` is None when not managed."""

    ensured: frozenset[str] | None
    error: str | None = None
    statements: int = 0

    @property
    def state(self) -> str:
        if self.ensured is None:
            return "NotManaged"
        return "Unavailable" if self.error else "Ready"


NOT_MANAGED = Report(None)


def service_host(host: str, namespace: str) -> str:
    """A host without a dot (and not an IP literal) is a Service of the cluster's namespace."""
    if "." in host or ":" in host:
        return host
    return f"{host}.{namespace}.svc"


def components_with_databases(plan: planner.Plan) -> list[tuple[str, catalog.Component]]:
    """The components not disabled whose database is MySQL (not dameng)."""
    spec = plan.cluster.spec
    return [
        (c.name, c.component)
        for c in plan.components
        if c.state is not planner.State.DISABLED and planner.mysql_database(spec, c.component)
    ]


class Provisioner:
    """One MySQL connection per cluster, kept across passes, and what each has ensured."""

    def __init__(
        self,
        kube: Kube,
        *,
        address: tuple[str, int] | None = None,
        timeout: float = 10.0,
        connect: Connect = mysql.connect,
    ) -> None:
        self.kube = kube
        self.address = address
        self.timeout = timeout
        self._connect = connect
        self._held: dict[ClusterKey, tuple[Target, mysql.MySQL]] = {}
        self._ensured: dict[ClusterKey, frozenset[str]] = {}

    def observed(self, key: ClusterKey, cluster: OnecloudCluster) -> frozenset[str] | None:
        """What the planner's gate reads before this pass's ensure: None when not managed."""
        if not self.managed(cluster):
            return None
        return self._ensured.get(key, frozenset())

    @staticmethod
    def managed(cluster: OnecloudCluster) -> bool:
        """With ``spec.mysql.host`` set and the cluster on MySQL: ``db_engine: dameng`` is not provisioned,
        so its status says ``NotManaged`` (a single component on dameng only does not wait)."""
        spec = cluster.spec.mysql
        return spec is not None and bool(spec.host) and cluster.spec.db_engine != "dameng"

    async def ensure(self, key: ClusterKey, plan: planner.Plan, secrets: Mapping[str, str]) -> Report:
        """Ensure the plan's databases; never raises for MySQL's trouble (it is the Report's ``error``)."""
        if not self.managed(plan.cluster):
            await self.forget(key)
            return NOT_MANAGED
        ensured = self._ensured.get(key, frozenset())
        rows_of = components_with_databases(plan)
        try:
            rows = databases.desired(rows_of, secrets)
            target = await self._target(key, plan.cluster, secrets)
            db = await self._connection(key, target)
            result = await db.ensure(rows, secrets)
        except (mysql.DatabaseUnavailable, mysql.DatabaseRefused, databases.MissingPassword) as exc:
            await self.forget(key, keep_ensured=True)
            return Report(ensured, str(exc))
        ensured = ensured | {row.database for row in rows}
        self._ensured[key] = ensured
        if result.statements:
            log.info("%s/%s: MySQL at %s: sent %s", *key, db.address, _counts(result.counts))
        return Report(ensured, None, result.statements)

    async def forget(self, key: ClusterKey, *, keep_ensured: bool = False) -> None:
        """Close the cluster's connection (the cluster is gone, unmanaged, or the connection failed)."""
        held = self._held.pop(key, None)
        if not keep_ensured:
            self._ensured.pop(key, None)
        if held is not None:
            await held[1].close()

    async def close(self) -> None:
        for key in list(self._held):
            await self.forget(key)

    # ---- internals --------------------------------------------------------------------------

    async def _connection(self, key: ClusterKey, target: Target) -> mysql.MySQL:
        held = self._held.get(key)
        if held is not None and held[0] == target and not held[1].closed:
            return held[1]
        await self.forget(key, keep_ensured=True)
        db = await self._connect(target.host, target.port, target.user, target.password, timeout=self.timeout)
        self._held[key] = (target, db)
        return db

    async def _target(self, key: ClusterKey, cluster: OnecloudCluster, secrets: Mapping[str, str]) -> Target:
        spec = cluster.spec.mysql
        assert spec is not None and spec.host
        if self.address is not None:
            host, port = self.address
        else:
            host, port = service_host(spec.host, key[0]), spec.port or 3306
        where = f"{host}:{port}"
        if spec.password_secret is not None:
            password = await self._secret_value(
                key[0], spec.password_secret.name, spec.password_secret.key, where
            )
        else:
            password = spec.password or secrets.get(credentials.MYSQL_ROOT_KEY, "")
        return Target(host, port, spec.username or "root", password)

    async def _secret_value(self, namespace: str, name: str, field: str, where: str) -> str:
        what = f"spec.mysql.passwordSecret: Secret {name}"
        try:
            secret = await self.kube.get(kinds.RESOURCES["Secret"], namespace, name)
        except errors.NotFound:
            raise mysql.DatabaseUnavailable(where, f"{what} does not exist") from None
        encoded = (secret.get("data") or {}).get(field)
        if encoded is None:
            raise mysql.DatabaseUnavailable(where, f"{what} has no key {field!r}")
        try:
            return base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise mysql.DatabaseUnavailable(where, f"{what}: key {field!r} is not UTF-8 text") from None


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
