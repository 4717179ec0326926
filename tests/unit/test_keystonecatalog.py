"""What keystone should hold, from the plan: the Go operator's catalog (the fact table), the spec's moves
(ports, loadBalancerEndpoint, TLS switches, read-only replicas), disabled components, the accounts, and
the planner's keystone gate."""

from __future__ import annotations

from typing import Any

import go_keystone_facts
import pytest
from clusters import merge, plan_for

from cloudpods_operator import catalog, credentials, keystonecatalog, planner, settings, status
from cloudpods_operator.certificates import decoded, dns_names, generate
from cloudpods_operator.observed import Observed, WorkloadState, password_digest

BASE: dict[str, Any] = {"loadBalancerEndpoint": "10.0.0.10", "region": "region0", "zone": "zone0"}


def _ours(plan: planner.Plan) -> tuple[set[go_keystone_facts.Row], set[tuple[str, str]]]:
    desired = keystonecatalog.desired(plan)
    rows = {
        (s.name, s.type, e.interface, e.url)
        for s in desired.services
        if s.enabled
        for e in s.endpoints
        if e.enabled
    }
    return rows, {(s.name, s.type) for s in desired.services if s.enabled}


@pytest.mark.parametrize("edition", ["ce", "ee"])
@pytest.mark.parametrize("product", ["FullStack", "CMP", "Edge", "LightEdge", "AI"])
@pytest.mark.parametrize("lb", ["10.0.0.10", "fd00::10", "cloud.example.com"])
def test_the_go_catalog_for_every_product_edition_and_host(edition: str, product: str, lb: str) -> None:
    plan = plan_for(merge(BASE, {"productVersion": product, "loadBalancerEndpoint": lb}), edition)
    go_rows, go_services = go_keystone_facts.rows(plan, "onecloud", lb)
    rows, services = _ours(plan)
    # yunionagent: the Go operator registers it through yunionconf in CE too (a documented difference)
    assert rows == go_rows
    assert services == go_services


def _endpoints(plan: planner.Plan, service: str) -> dict[str, keystonecatalog.Endpoint]:
    svc = next(s for s in keystonecatalog.desired(plan).services if s.name == service)
    return {e.interface: e for e in svc.endpoints}


@pytest.mark.parametrize(
    ("spec", "service", "interface", "url"),
    [
        ({"regionServer": {"service": {"nodePort": 31888}}}, "region2", "public", "https://10.0.0.10:31888"),
        (
            {"regionServer": {"service": {"nodePort": 31888}}},
            "region2",
            "internal",
            "https://default-region:31888",
        ),
        (
            {"apiGateway": {"apiService": {"nodePort": 31300}}},
            "yunionapi",
            "public",
            "https://10.0.0.10:31300",
        ),
        ({"keystone": {"disableTLS": True}}, "keystone", "admin", "http://10.0.0.10:30357/v3"),
        ({"keystone": {"disableTLS": True}}, "keystone", "internal", "http://default-keystone:30500/v3"),
        (
            {"keystone": {"adminService": {"nodePort": 31357}}},
            "keystone",
            "admin",
            "https://10.0.0.10:31357/v3",
        ),
        ({"etcd": {"enableTls": False}}, "etcd", "internal", "http://default-etcd-client.onecloud.svc:2379"),
        ({"etcd": {"clientNodePort": 31379}}, "etcd", "public", "https://10.0.0.10:31379"),
        ({"loadBalancerEndpoint": None}, "region2", "public", "https://default-region:30888"),
        (
            {"glance": {"service": {"nodePort": 31292}}},
            "glance",
            "internal",
            "https://default-glance:31292/v1",
        ),
    ],
)
def test_the_spec_moves_the_urls(spec: dict[str, Any], service: str, interface: str, url: str) -> None:
    plan = plan_for(merge(BASE, spec), "ce")
    assert _endpoints(plan, service)[interface].url == url


def test_a_slave_endpoint_only_while_read_only_replicas_run() -> None:
    without = _endpoints(plan_for(BASE, "ce"), "region2")["slave"]
    assert (without.url, without.enabled) == ("https://default-region-slave:30888", False)
    with_replicas = _endpoints(
        plan_for(merge(BASE, {"regionServer": {"slave_replicas": 2}}), "ce"), "region2"
    )
    assert with_replicas["slave"].enabled
    # Components without read-only replicas get no slave endpoint at all (the Go operator's are disabled).
    assert "slave" not in _endpoints(plan_for(BASE, "ce"), "scheduler")


def test_a_disabled_component_disables_its_service_and_endpoints_and_drops_its_account() -> None:
    plan = plan_for(merge(BASE, {"cloudevent": {"disable": True}}), "ce")
    desired = keystonecatalog.desired(plan)
    svc = next(s for s in desired.services if s.name == "cloudevent")
    assert not svc.enabled and svc.endpoints and not any(e.enabled for e in svc.endpoints)
    assert desired.account("cloudeventadmin") is None
    assert desired.account("regionadmin") is not None


def test_accounts_are_the_go_cluster_config_users_of_the_components_that_run() -> None:
    plan = plan_for(BASE, "ee")
    desired = keystonecatalog.desired(plan)
    go = {a["username"]: a["used_by"] for a in go_keystone_facts.FACTS["service_accounts"]["accounts"]}
    running = {c.name for c in plan.components if c.state is not planner.State.DISABLED}
    expected = {user for user, used_by in go.items() if running & set(used_by)}
    assert {a.name for a in desired.accounts} == expected
    keys = set(credentials.password_keys())
    assert all(a.password_key in keys for a in desired.accounts)
    # One account, every component that logs in with it (host's sub-DaemonSets share hostadmin).
    host = desired.account("hostadmin")
    assert host is not None and {"host", "host-deployer"} <= set(host.components)


def test_admin_url_is_the_in_cluster_service() -> None:
    assert keystonecatalog.admin_url(plan_for(BASE, "ce")) == "https://default-keystone.onecloud.svc:30357/v3"
    plan = plan_for(merge(BASE, {"keystone": {"disableTLS": True, "adminService": {"nodePort": 31357}}}))
    assert keystonecatalog.admin_url(plan) == "http://default-keystone.onecloud.svc:31357/v3"


def _waiting(plan: planner.Plan) -> dict[str, str]:
    return {c.name: c.reason for c in plan.components if c.state is planner.State.WAITING}


def test_the_gate_holds_a_component_until_keystone_has_its_password() -> None:
    cl = plan_for(BASE, "ce").cluster
    secrets = credentials.values(cl)
    region = catalog.BY_NAME["region"]
    user, key = region.keystone_user, f"{region.account}.keystone-password"
    assert user is not None
    # keystone available (a workload state), no account yet: every account's components wait
    identity = planner.plan(cl, Observed(), secrets).component(catalog.IDENTITY)
    images = tuple(str(ref) for ref in status.ordered_images(identity))
    workloads = {identity.workloads[0]: WorkloadState(images, 1, 1, 1, 1, True)}
    waiting = _waiting(planner.plan(cl, Observed(workloads, accounts={}), secrets))
    assert waiting["region"] == f"waiting for keystone account {user}"
    assert "keystone" not in waiting and "etcd" not in waiting
    ensured = {
        a.name: password_digest(secrets[a.password_key])
        for a in keystonecatalog.desired(planner.plan(cl, Observed(), secrets)).accounts
    }
    assert "region" not in _waiting(planner.plan(cl, Observed(workloads, accounts=ensured), secrets))
    rotated = {**secrets, key: "a-new-password"}
    assert _waiting(planner.plan(cl, Observed(workloads, accounts=ensured), rotated))["region"].endswith(user)
    # not managed: nothing waits for an account
    assert not any(
        r.startswith("waiting for keystone account")
        for r in _waiting(planner.plan(cl, Observed(workloads, accounts=None), secrets)).values()
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", ""), ("none", None), ("NONE", None), ("http://127.0.0.1:5000/v3/", "http://127.0.0.1:5000/v3")],
)
def test_keystone_url_flag(text: str, expected: str | None) -> None:
    assert settings.parse_keystone_url(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1:5000", "ftp://x", "https://"])
def test_keystone_url_flag_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        settings.parse_keystone_url(text)


def test_new_certificates_name_the_keystone_service_and_parse_back() -> None:
    cl = plan_for(BASE, "ce").cluster
    (certs,) = generate(cl, {"default-certs"})
    pem = decoded(certs["data"], "service.crt")
    assert pem is not None
    names = dns_names(pem)
    assert {"default-keystone", "default-keystone.onecloud.svc", "127.0.0.1", "10.0.0.10"} <= names
    assert decoded({"x": "not base64!"}, "x") is None and decoded({}, "x") is None
    assert dns_names(b"not a certificate") == set()


def test_keystone_trouble_is_degraded_and_not_ready() -> None:
    checks = status.checks(
        {"a": {"phase": "Normal"}}, [], None, ("KeystoneUnavailable", "keystone at x: down")
    )
    assert (checks["Degraded"].status, checks["Degraded"].reason) == ("True", "KeystoneUnavailable")
    assert (checks["Ready"].status, checks["Ready"].reason) == ("False", "KeystoneUnavailable")
    # the database's trouble is named first
    both = status.checks({}, [], "mysql down", ("KeystoneRefused", "x"))
    assert both["Degraded"].reason == "DatabaseUnavailable"
