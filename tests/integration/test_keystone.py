"""Keystone registration in the reconcile pass: a real Keystone v3 server (tests/integration/keystone.py:
OpenStack Keystone from PyPI) and the real API server, with the Reconciler in-process as in
test_reconciler.py.

The test plays Cloudpods keystone's first start: once the operator has written keystone's config, it
bootstraps ``sysadmin`` with that config's ``bootstrap_admin_user_password``. Then every service config
logs in, the live service catalog equals the fact table written from the Go operator
(tests/fixtures/go_keystone_catalog.yaml), resyncs send nothing but GETs (the server's access log), and
toggles, moved endpoints, rotations and a stopped server do what the issue asks.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import go_keystone_facts
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloudpods_operator import catalog, credentials, keystonecatalog, kinds, planner, registration, render
from cloudpods_operator.kinds import JSON
from cloudpods_operator.kube.client import Kube
from cloudpods_operator.model import OnecloudCluster
from cloudpods_operator.observed import Observed
from cloudpods_operator.reconciler import Result, settle
from cloudpods_operator.workqueue import WorkQueue
from localcluster import _keystone

from . import conftest
from .helpers import eventually
from .keystone import (
    V3,
    Server,
    bootstrap,
    keystone_fixture,  # noqa: F401  (registers the fixture `keystone`)
    keystone_template_fixture,  # noqa: F401
    resume,
    stop,
)
from .test_reconciler import Harness, conditions, open_harness

pytestmark = pytest.mark.integration
LB = "10.0.0.10"
Row = go_keystone_facts.Row


@pytest.fixture
async def harness(kube: conftest.Kube, crd: None, namespace: str, keystone: Server) -> AsyncIterator[Harness]:
    def registrar(client: Kube) -> registration.Registrar:
        return registration.Registrar(client, url=keystone.url, recheck=0.0, timeout=5.0)

    async with open_harness(kube.kubeconfig, namespace, register=registrar) as opened:
        yield opened


async def _config(harness: Harness, workload: str) -> dict[str, Any] | None:
    """A workload's service config, when it is a Cloudpods options file (JSON); None for nginx and such."""
    secret = await harness.get("Secret", render.config_secret_name(workload))
    try:
        loaded = json.loads(base64.b64decode(secret["data"]["config"]))
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


async def _bootstrap_password(harness: Harness) -> str:
    config = await _config(harness, f"default-{catalog.IDENTITY}")
    assert config is not None
    return str(config["bootstrap_admin_user_password"])


async def _ready(harness: Harness) -> JSON:
    async def ready() -> JSON:
        await harness.sync_nodes()
        await harness.reconcile()
        cluster = await harness.get(kinds.CLUSTER_KIND, "default")
        assert conditions(cluster)["Ready"]["status"] == "True", conditions(cluster)["Ready"]
        return cluster

    return await eventually(ready, timeout=180)


async def _bring_up(harness: Harness, keystone: Server) -> str:
    """Apply the example, reach keystone's availability, bootstrap it, and reach Ready: the password."""
    await harness.apply_cluster()

    async def keystone_available() -> None:
        await harness.reconcile()
        seen = harness.cache.observed(harness.key).workloads.get(f"default-{catalog.IDENTITY}")
        assert seen is not None and seen.available > 0

    await eventually(keystone_available, timeout=120)
    # Keystone answers but nobody is bootstrapped yet: refused, and every account's components wait.
    refused = await harness.reconcile()
    assert refused.keystone_error is not None and "login as sysadmin refused" in refused.keystone_error
    assert settle(WorkQueue(), ("x", "y"), refused) is Result.ERROR
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    assert live["status"]["keystoneRegistration"] == "Unavailable"
    assert (conditions(live)["Degraded"]["status"], conditions(live)["Degraded"]["reason"]) == (
        "True",
        "KeystoneUnavailable",
    )
    waiting = {n: c["message"] for n, c in live["status"]["components"].items() if c["phase"] == "Waiting"}
    accounts = {n for n, m in waiting.items() if m.startswith("waiting for keystone account ")}
    others = {m for n, m in waiting.items() if n not in accounts}
    assert all(m.endswith(tuple(f"with {i}" for i in _images(live))) for m in others), others  # OVS chain
    assert {"region", "glance", "apigateway", "host"} <= accounts and "keystone" not in waiting

    password = await _bootstrap_password(harness)
    bootstrap(keystone, password)
    live = await _ready(harness)
    assert live["status"]["keystoneRegistration"] == "Ready"
    assert conditions(live)["Degraded"]["status"] == "False"
    return password


def _images(live: JSON) -> set[str]:
    return {str(c.get("image")) for c in live["status"]["components"].values()}


def _plan(cr: JSON) -> planner.Plan:
    return planner.plan(OnecloudCluster.model_validate(cr), Observed())


def _live(keystone: Server, password: str) -> tuple[dict[str, JSON], list[JSON]]:
    api = V3(keystone.url)
    token = api.admin_token(password)
    status, services, _ = api.call("GET", "/services", token)
    assert status == 200
    status, endpoints, _ = api.call("GET", "/endpoints", token)
    assert status == 200
    return {s["id"]: s for s in services["services"]}, endpoints["endpoints"]


def _live_rows(keystone: Server, password: str) -> tuple[set[Row], set[tuple[str, str]], list[JSON]]:
    services, endpoints = _live(keystone, password)
    rows = {
        (services[e["service_id"]]["name"], services[e["service_id"]]["type"], e["interface"], e["url"])
        for e in endpoints
        if e["enabled"] and services[e["service_id"]]["enabled"] and e["region_id"] == "region0"
    }
    names = {(s["name"], s["type"]) for s in services.values() if s["enabled"]}
    return rows, names, endpoints


def _writes(keystone: Server, since: int) -> list[tuple[str, str, int]]:
    return [r for r in keystone.requests()[since:] if r[0] != "GET"]


async def test_registers_the_go_catalog_and_every_config_logs_in(harness: Harness, keystone: Server) -> None:
    password = await _bring_up(harness, keystone)
    cr = await harness.get(kinds.CLUSTER_KIND, "default")
    plan = _plan(cr)

    rows, services, endpoints = _live_rows(keystone, password)
    go_rows, go_services = go_keystone_facts.rows(plan, harness.namespace, LB)
    assert rows == go_rows
    # The keystone the tests run adds nothing of its own (bootstrap was given no endpoint URLs).
    assert services == go_services
    # Every internal endpoint names a Service of the cluster (but the external offlinecloudmeta).
    names = await harness.names("Service")
    for name, _, interface, url in rows:
        if interface == "internal" and name != "offlinecloudmeta":
            host = url.split("://")[1].split(":")[0].removesuffix(f".{harness.namespace}.svc")
            assert host in names, (name, url)
    assert all(e["interface"] != "slave" for e in endpoints)

    # Every workload's own config logs in, to project system with role admin.
    api = V3(keystone.url)
    logged_in = set()
    for comp in plan.components:
        if comp.state is planner.State.DISABLED or catalog.config_of(comp.component) is None:
            continue
        for workload in comp.workloads:
            if comp.component.config_from:
                continue
            config = await _config(harness, workload)
            # onecloud-service-operator's own options name the user admin_username
            user = (config or {}).get("admin_user") or (config or {}).get("admin_username")
            if config is None or user is None:
                continue
            status, body, _ = api.login(user, config["admin_password"], config["admin_project"])
            assert status == 201, (workload, user, status)
            assert {r["name"] for r in body["token"]["roles"]} >= {"admin"}
            assert config["admin_project"] == "system" and config["admin_domain"] == "Default"
            logged_in.add(user)
    wanted = {a.name for a in keystonecatalog.desired(plan).accounts}
    assert logged_in == wanted and len(wanted) > 20

    # At rest: three resyncs read, and write nothing (no login either: the token is reused).
    before = len(keystone.requests())
    for _ in range(3):
        outcome = await harness.reconcile()
        assert (outcome.keystone_error, outcome.created, outcome.updated) == (None, [], [])
    assert _writes(keystone, before) == []
    assert len(keystone.requests()) > before  # it did read (recheck 0 here)


def _service(keystone: Server, password: str, name: str) -> tuple[JSON, list[JSON]]:
    services, endpoints = _live(keystone, password)
    svc = next(s for s in services.values() if s["name"] == name)
    return svc, [e for e in endpoints if e["service_id"] == svc["id"]]


async def test_toggles_moved_endpoints_and_a_refused_slave(harness: Harness, keystone: Server) -> None:
    password = await _bring_up(harness, keystone)

    await harness.patch_spec({"cloudevent": {"disable": True}})
    await harness.reconcile()
    svc, eps = _service(keystone, password, "cloudevent")
    assert svc["enabled"] is False and eps and all(e["enabled"] is False for e in eps)
    before = len(keystone.requests())
    await harness.patch_spec({"cloudevent": {"disable": False}})
    await harness.reconcile()
    sent = _writes(keystone, before)  # before the test's own login below
    svc, eps = _service(keystone, password, "cloudevent")
    assert svc["enabled"] is True and all(e["enabled"] is True for e in eps)
    assert len(sent) == 1 + len(eps), sent  # the service and its endpoints, nothing else

    await harness.patch_spec({"loadBalancerEndpoint": "10.0.0.20"})
    await harness.reconcile()
    rows, _, _ = _live_rows(keystone, password)
    public = {
        url
        for name, _, interface, url in rows
        if interface in ("public", "admin") and name != "offlinecloudmeta"
    }
    assert public and all(url.split("://")[1].startswith("10.0.0.20:") for url in public), public
    assert not any(LB in url for _, _, _, url in rows)

    # OpenStack Keystone knows no `slave` interface (Cloudpods' does): refused, said, nothing broken.
    await harness.patch_spec({"regionServer": {"slave_replicas": 1}})
    refused = await harness.reconcile()
    assert refused.keystone_error is not None and "slave" in refused.keystone_error
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    assert (conditions(live)["Degraded"]["reason"], live["status"]["keystoneRegistration"]) == (
        "KeystoneRefused",
        "Unavailable",
    )
    await harness.patch_spec({"regionServer": {"slave_replicas": 0}})
    recovered = await harness.reconcile()
    assert recovered.keystone_error is None


async def test_a_stopped_keystone_degrades_touches_nothing_and_recovers(
    harness: Harness, keystone: Server
) -> None:
    password = await _bring_up(harness, keystone)
    versions = await harness.workload_versions()
    stop(Path(keystone.root))
    outcome = await harness.reconcile()
    assert outcome.keystone_error is not None and (outcome.created, outcome.updated, outcome.deleted) == (
        [],
        [],
        [],
    )
    assert settle(WorkQueue(), ("x", "y"), outcome) is Result.ERROR
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    degraded = conditions(live)["Degraded"]
    assert (degraded["status"], degraded["reason"], live["status"]["keystoneRegistration"]) == (
        "True",
        "KeystoneUnavailable",
        "Unavailable",
    )
    assert password not in json.dumps(live["status"])
    warnings = [e for e in await harness.events() if e["reason"] == "KeystoneUnavailable"]
    assert warnings and all(password not in e["note"] for e in warnings)
    assert await harness.workload_versions() == versions

    resume(keystone)

    async def recovered() -> None:
        again = await harness.reconcile()
        assert (again.keystone_error, again.failures) == (None, [])
        cluster = await harness.get(kinds.CLUSTER_KIND, "default")
        assert cluster["status"]["keystoneRegistration"] == "Ready"
        assert conditions(cluster)["Degraded"]["status"] == "False"

    await eventually(recovered, timeout=60)
    assert await harness.workload_versions() == versions


async def _credential(harness: Harness, key: str) -> str:
    secret = await harness.get("Secret", credentials.secret_name("default"))
    return base64.b64decode(secret["data"][key]).decode()


async def _drop_key(harness: Harness, key: str) -> None:
    await harness.kube.json_patch(
        kinds.RESOURCES["Secret"],
        harness.namespace,
        credentials.secret_name("default"),
        [{"op": "remove", "path": "/data/" + key.replace("~", "~0").replace("/", "~1")}],
        field_manager="test",
    )


async def test_rotations_a_service_password_moves_its_account_and_sysadmin_is_restored(
    harness: Harness, keystone: Server
) -> None:
    password = await _bring_up(harness, keystone)
    api = V3(keystone.url)
    key = "glance.keystone-password"
    old = await _credential(harness, key)
    hashes = await harness.config_hashes()
    await _drop_key(harness, key)

    before = len(keystone.requests())
    outcome = await harness.reconcile()
    assert outcome.keystone_error is None, outcome.keystone_error
    new = await _credential(harness, key)
    assert new != old
    patched = [r for r in _writes(keystone, before) if r[0] == "PATCH"]
    assert len(patched) == 1 and patched[0][1].startswith("/v3/users/"), _writes(keystone, before)
    assert api.login("glance", new)[0] == 201 and api.login("glance", old)[0] == 401
    config = await _config(harness, "default-glance")
    assert config is not None and config["admin_password"] == new
    after = await harness.config_hashes()
    assert {w for w in after if after[w] != hashes.get(w)} == {"Deployment/default-glance"}

    await _drop_key(harness, credentials.SYSADMIN_KEY)
    refused = await harness.reconcile()
    assert await _credential(harness, credentials.SYSADMIN_KEY) == password
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    assert conditions(live)["Degraded"]["reason"] == "BootstrapPasswordRotation"
    assert settle(WorkQueue(), ("x", "y"), refused) is Result.ERROR
    assert [e for e in await harness.events() if e["reason"] == "BootstrapPasswordRotation"]
    assert api.login("sysadmin", password)[0] == 201
    await harness.reconcile()
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    assert conditions(live)["Degraded"]["status"] == "False"


async def _write_pair(harness: Harness, directory: Path) -> tuple[str, str]:
    """The service certificate and key of ``default-certs`` as files, for the server to serve."""
    secret = await harness.get("Secret", "default-certs")
    cert, key = directory / "service.crt", directory / "service.key"
    cert.write_bytes(base64.b64decode(secret["data"]["service.crt"]))
    key.write_bytes(base64.b64decode(secret["data"]["service.key"]))
    return str(cert), str(key)


async def _tls_bring_up(harness: Harness, keystone_template: Path, tmp_path: Path) -> Server:
    """Keystone over https with the cluster's own service certificate, the registrar pointed at it."""
    server = _keystone.start(
        tmp_path / "tls-keystone", template=keystone_template, tls=await _write_pair(harness, tmp_path)
    )
    registrar = harness.reconciler.registrar
    assert registrar is not None
    registrar.url = server.url
    return server


async def test_tls_is_verified_against_the_clusters_ca(
    harness: Harness, keystone_template: Path, tmp_path: Path
) -> None:
    await harness.apply_cluster()
    await harness.reconcile()  # the Secrets, the certificates among them
    server = await _tls_bring_up(harness, keystone_template, tmp_path)
    try:
        assert server.url.startswith("https://127.0.0.1:")
        await _bring_up(harness, server)
        assert not [e for e in await harness.events() if e["reason"] == "KeystoneCertificateUnverified"]
    finally:
        stop(Path(server.root))


async def test_an_adopted_certificate_without_the_name_is_used_unverified_with_a_warning(
    harness: Harness, keystone_template: Path, tmp_path: Path
) -> None:
    # The Go operator's certificate, there before us: it names only "service" (not 127.0.0.1).
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "go-operator-ca")])

    def cert(subject: x509.Name, public: Any, sans: list[str] | None) -> bytes:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if sans is None:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
            )
        return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def pem_key(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    svc = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "service")])
    data = {
        "ca.crt": cert(name, ca_key.public_key(), None),
        "ca.key": pem_key(ca_key),
        "service.crt": cert(svc, key.public_key(), ["service"]),
        "service.key": pem_key(key),
    }
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "default-certs", "namespace": harness.namespace},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    await harness.kube.apply(body, field_manager="go-operator")
    await harness.apply_cluster()
    await harness.reconcile()
    server = await _tls_bring_up(harness, keystone_template, tmp_path)
    try:
        await _bring_up(harness, server)
        warnings = [e for e in await harness.events() if e["reason"] == "KeystoneCertificateUnverified"]
        assert len(warnings) == 1 and "does not name 127.0.0.1" in warnings[0]["note"], warnings
    finally:
        stop(Path(server.root))
