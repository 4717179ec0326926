"""Database provisioning in the reconcile pass: the real MariaDB (tests/integration/mariadb.py) and the
real API server, with the Reconciler in-process as in test_reconciler.py.

The example cluster's ``spec.mysql`` points at the session's MariaDB, root's password in a Secret
(``passwordSecret``). A pass ensures every enabled component's database before its workload is applied;
each config Secret's ``sql_connection`` then logs in; passes at rest send no DDL (the server's ``Com_*``
counters); a MySQL that refuses the login, or stops (a server of the test's own), degrades the cluster
and leaves every workload as it is; without ``spec.mysql.host`` nothing is provisioned nor held back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncmy
import pytest
import yaml

from cloudpods_operator import catalog, databases, kinds, planner, provisioning, render
from cloudpods_operator.kinds import JSON
from cloudpods_operator.kube.client import Kube
from cloudpods_operator.model import OnecloudCluster
from cloudpods_operator.observed import Observed
from cloudpods_operator.outcome import Outcome
from cloudpods_operator.reconciler import Result, settle
from cloudpods_operator.workqueue import WorkQueue

from . import conftest
from .cloud import EXAMPLE
from .helpers import eventually
from .mariadb import (
    MariaDB,
    mariadb_fixture,  # noqa: F401  (registers the session fixture `mariadb`)
    start,
)
from .test_reconciler import Harness, conditions, new_reconciler, open_harness

pytestmark = pytest.mark.integration
ROOT_SECRET = "mysql-root"
WRONG = "not-the-root-password"


def _provisioner(client: Kube) -> provisioning.Provisioner:
    return provisioning.Provisioner(client, timeout=5.0)


@pytest.fixture
async def harness(kube: conftest.Kube, crd: None, namespace: str) -> AsyncIterator[Harness]:
    async with open_harness(kube.kubeconfig, namespace, _provisioner) as opened:
        yield opened


def _manifest(namespace: str, mysql: dict[str, Any] | None) -> JSON:
    doc: JSON = yaml.safe_load(EXAMPLE.read_text())
    doc["metadata"]["namespace"] = namespace
    if mysql is None:
        doc["spec"].pop("mysql", None)
    else:
        doc["spec"]["mysql"] = mysql
    return doc


async def _root_secret(harness: Harness, password: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": ROOT_SECRET, "namespace": harness.namespace},
        "data": {"password": base64.b64encode(password.encode()).decode()},
    }
    await harness.kube.apply(body, field_manager="test")


async def _managed_cluster(harness: Harness, mariadb: MariaDB) -> JSON:
    await _root_secret(harness, mariadb.root_password)
    mysql = {
        "host": mariadb.host,
        "port": mariadb.port,
        "username": "root",
        "passwordSecret": {"name": ROOT_SECRET, "key": "password"},
    }
    return await harness.kube.apply(_manifest(harness.namespace, mysql), field_manager="test")


def _now(harness: Harness, cr: JSON, databases: frozenset[str] | None) -> planner.Plan:
    seen = harness.cache.observed(harness.key)
    return planner.plan(
        OnecloudCluster.model_validate(cr), Observed(seen.workloads, seen.node_labels, databases)
    )


async def _quiet(harness: Harness, cr: JSON) -> Outcome:
    """Passes until one sends nothing and no component waits any more (keystone's availability releases
    the rest, as in test_reconciler.py)."""

    async def quiet_pass() -> Outcome:
        await harness.sync_nodes()
        done = await harness.reconcile()
        assert (done.created, done.updated, done.drifted, done.failures) == ([], [], [], [])
        assert done.database_error is None
        assert harness.reconciler.provisioner is not None
        ensured = harness.reconciler.provisioner.observed(harness.key, OnecloudCluster.model_validate(cr))
        now = _now(harness, cr, ensured)
        assert [c.name for c in now.components if c.state is planner.State.WAITING] == []
        return done

    return await eventually(quiet_pass, timeout=90)


def _with_databases(plan: planner.Plan) -> list[planner.ComponentPlan]:
    spec = plan.cluster.spec
    return [
        c
        for c in plan.components
        if c.state is not planner.State.DISABLED and planner.mysql_database(spec, c.component)
    ]


async def _log_in(url: str) -> str:
    """Connect as the URL says and return the database the session is in."""
    parts = urlsplit(url)
    assert parts.scheme == "mysql+pymysql" and parts.hostname and parts.port
    conn = await asyncmy.connect(
        host=parts.hostname,
        port=parts.port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/"),
        connect_timeout=5,
    )
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("SELECT DATABASE()")
            (name,) = await cursor.fetchone()
            return str(name)
    finally:
        await conn.ensure_closed()


async def test_every_database_is_ensured_once_and_each_config_logs_in(
    harness: Harness, mariadb: MariaDB
) -> None:
    cr = await _managed_cluster(harness, mariadb)
    first = await harness.reconcile()
    assert first.database_error is None and first.failures == []
    # The first pass ensured before applying: keystone (a database, no other gate) was not held back.
    identity = next(
        o
        for o in _now(harness, cr, None).objects
        if o.component == catalog.IDENTITY and o.kind in kinds.WORKLOAD_KINDS
    )
    assert f"{identity.kind}/{identity.name}" in first.created
    await _quiet(harness, cr)

    async def ready() -> dict[str, Any]:
        await harness.sync_nodes()
        await harness.reconcile()
        cluster = await harness.get(kinds.CLUSTER_KIND, "default")
        assert conditions(cluster)["Ready"]["status"] == "True", conditions(cluster)["Ready"]
        return cluster

    live = await eventually(ready, timeout=120)  # every component rolled out on KWOK
    assert live["status"]["database"] == "Ready"
    assert conditions(live)["Degraded"]["status"] == "False"

    plan = _now(harness, cr, None)
    components = _with_databases(plan)
    assert components
    for comp in components:
        secret = await harness.get("Secret", render.config_secret_name(comp.workloads[0]))
        config = json.loads(base64.b64decode(secret["data"]["config"]))
        database = await _log_in(config["sql_connection"])
        assert database == urlsplit(config["sql_connection"]).path.lstrip("/"), comp.name

    for _ in range(2):  # no DDL, and no new connection: the first pass's is reused
        before = await mariadb.ddl()
        connections = await mariadb.status("Connections")
        outcome = await harness.reconcile()
        assert await mariadb.status("Connections") == connections + 1  # this query's own
        assert (outcome.created, outcome.updated, outcome.failures, outcome.database_error) == (
            [],
            [],
            [],
            None,
        )
        assert await mariadb.ddl() == before


async def test_a_refused_login_degrades_and_touches_no_workload(harness: Harness, mariadb: MariaDB) -> None:
    cr = await _managed_cluster(harness, mariadb)
    await _quiet(harness, cr)
    versions = await harness.workload_versions()
    assert versions

    await _root_secret(harness, WRONG)
    outcome = await harness.reconcile()
    assert outcome.database_error is not None and "1045" in outcome.database_error
    assert (outcome.created, outcome.updated, outcome.deleted) == ([], [], [])
    assert settle(WorkQueue(), ("x", "y"), outcome) is Result.ERROR
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    degraded = conditions(live)["Degraded"]
    assert (degraded["status"], degraded["reason"]) == ("True", "DatabaseUnavailable")
    assert live["status"]["database"] == "Unavailable"
    for text in (degraded["message"], json.dumps(live["status"])):
        assert WRONG not in text and mariadb.root_password not in text
    warnings = [e for e in await harness.events() if e["reason"] == "DatabaseUnavailable"]
    assert len(warnings) == 1 and WRONG not in warnings[0]["note"]
    assert await harness.workload_versions() == versions

    # A restarted operator has ensured nothing yet: the database components wait, their workloads kept.
    harness.reconciler = new_reconciler(harness.kube, harness.cache, _provisioner(harness.kube))
    restarted = await harness.reconcile()
    assert restarted.database_error is not None and restarted.deleted == []
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    waiting = {n: c["message"] for n, c in live["status"]["components"].items() if c["phase"] == "Waiting"}
    assert waiting and all(m.startswith("waiting for database ") for m in waiting.values())
    assert await harness.workload_versions() == versions

    await _root_secret(harness, mariadb.root_password)
    await _quiet(harness, cr)
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    assert live["status"]["database"] == "Ready"
    assert conditions(live)["Degraded"]["status"] == "False", conditions(live)["Degraded"]


async def test_a_stopped_server_degrades_and_touches_no_workload(harness: Harness) -> None:
    """The kept connection breaks under the pass: Degraded, retried with backoff, nothing applied."""
    async with start() as server:
        cr = await _managed_cluster(harness, server)
        await _quiet(harness, cr)
        versions = await harness.workload_versions()
        assert server.process is not None
        server.process.terminate()
        await server.process.wait()
        outcome = await harness.reconcile()
        assert outcome.database_error is not None and "unavailable" in outcome.database_error
        assert (outcome.created, outcome.updated, outcome.deleted) == ([], [], [])
        assert settle(WorkQueue(), ("x", "y"), outcome) is Result.ERROR
        live = await harness.get(kinds.CLUSTER_KIND, "default")
        degraded = conditions(live)["Degraded"]
        assert (degraded["status"], degraded["reason"], live["status"]["database"]) == (
            "True",
            "DatabaseUnavailable",
            "Unavailable",
        )
        assert server.root_password not in json.dumps(live["status"])
        assert await harness.workload_versions() == versions

        await server.restart()  # back, with its data: the next passes recover

        async def recovered() -> None:
            again = await harness.reconcile()
            assert (again.database_error, again.failures) == (None, [])
            cluster = await harness.get(kinds.CLUSTER_KIND, "default")
            assert cluster["status"]["database"] == "Ready"
            assert conditions(cluster)["Degraded"]["status"] == "False"

        await eventually(recovered, timeout=60)
        assert await harness.workload_versions() == versions


async def test_without_a_mysql_host_nothing_is_provisioned_nor_held_back(harness: Harness) -> None:
    cr = await harness.kube.apply(
        _manifest(harness.namespace, {"port": 3306, "username": "root"}), field_manager="test"
    )
    outcome = await harness.reconcile()
    assert (outcome.failures, outcome.database_error) == ([], None)
    planned = planner.plan(OnecloudCluster.model_validate(cr), Observed())
    assert set(outcome.created) == {f"{o.kind}/{o.name}" for o in planned.objects}
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    assert live["status"]["database"] == "NotManaged"
    messages = [c.get("message", "") for c in live["status"]["components"].values()]
    assert not any(m.startswith("waiting for database") for m in messages)


async def _sql_connection(harness: Harness, workload: str) -> str:
    secret = await harness.get("Secret", render.config_secret_name(workload))
    url: str = json.loads(base64.b64decode(secret["data"]["config"]))["sql_connection"]
    return url


async def test_a_deleted_db_password_is_regenerated_altered_and_rolls_only_its_users(
    harness: Harness, mariadb: MariaDB
) -> None:
    key = "glance.db-password"
    cr = await _managed_cluster(harness, mariadb)
    await _quiet(harness, cr)
    credentials_name = f"{harness.key[1]}-credentials"
    before_secret = await harness.get("Secret", credentials_name)
    old = base64.b64decode(before_secret["data"][key]).decode()
    old_url = await _sql_connection(harness, "default-glance")
    assert unquote(urlsplit(old_url).password or "") == old
    hashes = await harness.config_hashes()
    assert hashes
    ddl = await mariadb.ddl()

    await harness.kube.json_patch(
        kinds.RESOURCES["Secret"],
        harness.namespace,
        credentials_name,
        [{"op": "remove", "path": f"/data/{key}"}],
        field_manager="test",
    )
    assert key not in (await harness.get("Secret", credentials_name))["data"]
    await _quiet(harness, cr)

    after_secret = await harness.get("Secret", credentials_name)
    new = base64.b64decode(after_secret["data"][key]).decode()
    assert new and new != old
    # Every other key is as it was.
    assert {k: v for k, v in after_secret["data"].items() if k != key} == {
        k: v for k, v in before_secret["data"].items() if k != key
    }

    # One ALTER USER per host entry of the glance user, nothing else.
    expected = dict(ddl, Com_alter_user=ddl["Com_alter_user"] + len(databases.HOSTS))
    assert await mariadb.ddl() == expected

    new_url = await _sql_connection(harness, "default-glance")
    assert unquote(urlsplit(new_url).password or "") == new
    assert await _log_in(new_url) == "glance"
    with pytest.raises(asyncmy.errors.OperationalError) as refused:
        await _log_in(old_url)
    assert refused.value.args[0] == 1045

    # Exactly the workloads of the components on the glance account rolled.
    plan = _now(harness, cr, None)
    users = {
        f"{o.kind}/{o.name}"
        for c in plan.components
        if c.component.account == "glance" and c.state is not planner.State.DISABLED
        for o in c.objects
        if o.kind in kinds.WORKLOAD_KINDS
        and o.body["spec"]["template"]["metadata"].get("annotations", {}).get(render.CONFIG_HASH_ANNOTATION)
    }
    assert users == {"Deployment/default-glance"}
    now = await harness.config_hashes()
    assert set(now) == set(hashes)
    changed = {name for name in now if now[name] != hashes[name]}
    assert changed == users


async def test_a_database_with_rows_survives_disabling_its_component_and_deleting_the_cluster(
    harness: Harness, mariadb: MariaDB
) -> None:
    cr = await _managed_cluster(harness, mariadb)
    await _quiet(harness, cr)
    table = f"survivor_{harness.namespace.replace('-', '_')}"
    await mariadb.query(f"CREATE TABLE glance.`{table}` (id INT PRIMARY KEY, note VARCHAR(64))")
    try:
        await mariadb.query(f"INSERT INTO glance.`{table}` VALUES (1, 'kept')")

        cr = await harness.patch_spec({"glance": {"disable": True}})
        await _quiet(harness, cr)
        assert "default-glance" not in await harness.names("Deployment")

        await harness.kube.delete(kinds.RESOURCES[kinds.CLUSTER_KIND], harness.namespace, "default")
        await harness.sync()
        assert await harness.reconciler.reconcile(harness.key) is None

        assert await mariadb.query("SHOW DATABASES LIKE 'glance'") == [("glance",)]
        assert await mariadb.query(f"SELECT id, note FROM glance.`{table}`") == [(1, "kept")]
    finally:
        await mariadb.query(f"DROP TABLE IF EXISTS glance.`{table}`")
