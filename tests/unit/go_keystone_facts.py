"""The Go operator's keystone catalog for a cluster, from tests/fixtures/go_keystone_catalog.yaml (the fact
table written from the Go code at f4a26910), for the unit tests and the live-catalog integration test."""

from __future__ import annotations

import ipaddress

import yaml
from repo_paths import REPO

from cloudpods_operator import planner

FACTS = yaml.safe_load((REPO / "tests" / "fixtures" / "go_keystone_catalog.yaml").read_text())
Row = tuple[str, str, str, str]
"""(service name, service type, interface, url) of one enabled endpoint."""


def format_host(host: str) -> str:
    """The Go ``dbutil.FormatHost``: an IPv6 literal in brackets."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def rows(plan: planner.Plan, namespace: str, lb: str) -> tuple[set[Row], set[tuple[str, str]]]:
    """The Go operator's catalog for this cluster, from the fact table: its endpoints and its services.

    The documented differences are left out: slave endpoints (the Go operator creates them, disabled,
    for components that run no read-only replica; the example runs none), and yunionconf's CE-only
    ``yunionagent`` service whose endpoints name no Service."""
    enabled = {c.name for c in plan.components if c.state is not planner.State.DISABLED}
    rows: set[Row] = set()
    services: set[tuple[str, str]] = set()
    for entry in FACTS["components"]:
        if entry["component"] not in enabled:
            continue
        for svc in entry["services"]:
            if str(svc.get("condition", "")).startswith("only if service 'yunionagent'"):
                continue
            services.add((svc["name"], svc["type"]))
            scheme = "http" if str(svc.get("scheme", "https")).split(" ")[0] == "http" else "https"
            internal = str(svc.get("internal_host") or "").split(" ")[0]
            internal = internal.replace("<cluster>", plan.cluster.metadata.name).replace("<ns>", namespace)
            for interface in svc["interfaces"]:
                if interface == "slave":
                    continue
                if svc.get("url_all_interfaces"):
                    rows.add((svc["name"], svc["type"], interface, svc["url_all_interfaces"]))
                    continue
                ports = svc["default_port"]
                port = ports[interface] if isinstance(ports, dict) else ports
                host = internal if interface == "internal" else format_host(lb)
                url = f"{scheme}://{host}:{port}" + (f"/{svc['prefix']}" if svc.get("prefix") else "")
                rows.add((svc["name"], svc["type"], interface, url))
    return rows, services
