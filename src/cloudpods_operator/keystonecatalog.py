"""Plan -> what keystone should hold for the cluster: its region, services, endpoints and service accounts.

Pure. Built from :data:`catalog.KEYSTONE_SERVICES` and the plan's verdicts: a component that runs (or
waits to) has its services enabled with their endpoints; a disabled one has them disabled, never
created. URLs follow the reference (``<scheme>://<host>:<port>[/<path>]``, IPv6 hosts bracketed; the
public host is ``spec.loadBalancerEndpoint``, else the internal one). Slave endpoints exist only while a
component runs read-only replicas (disabled, never deleted, once it runs none). An account is the
username of a component's keystone account and the credentials key of its password.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cloudpods_operator import catalog, planner, render
from cloudpods_operator.model import DeploymentSpec, lookup

DOMAIN = "default"
"""The id of keystone's default domain (name ``Default``), where the service accounts live."""
PROJECT = "system"
ROLE = "admin"
SYSADMIN = "sysadmin"


@dataclass(frozen=True)
class Endpoint:
    """One endpoint; ``enabled`` false: disable it where it exists, never create it."""

    interface: str
    url: str
    enabled: bool = True


@dataclass(frozen=True)
class Service:
    """One service of the catalog; a disabled one is disabled where it exists, never created."""

    name: str
    type: str
    enabled: bool
    endpoints: tuple[Endpoint, ...]
    components: tuple[str, ...]


@dataclass(frozen=True)
class Account:
    """A service account: user ``name`` in the default domain, role ``admin`` on project ``system``."""

    name: str
    password_key: str
    components: tuple[str, ...]


@dataclass(frozen=True)
class Desired:
    region: str
    services: tuple[Service, ...]
    accounts: tuple[Account, ...]

    def account(self, name: str) -> Account | None:
        return next((a for a in self.accounts if a.name == name), None)


def format_host(host: str) -> str:
    """An IPv6 literal in brackets, as the reference's ``dbutil.FormatHost``; anything else as it is."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def _scheme(ctx: render.Context, svc: catalog.KeystoneService) -> str:
    if svc.http_when is None:
        return svc.scheme
    path, _, value = svc.http_when.partition("=")
    found = lookup(ctx.spec, path)
    return "http" if found is (value != "false") else svc.scheme


def _port(ctx: render.Context, comp: catalog.Component, svc: catalog.KeystoneService, port: str | int) -> int:
    if isinstance(port, int):
        override = lookup(ctx.spec, svc.port_spec) if svc.port_spec else None
        return int(override) if isinstance(override, int) and override else port
    own = planner.own_spec(ctx.spec, comp)
    for service in comp.services:
        for sp in service.ports:
            if sp.spec_field == port:
                return render.service_port(own, sp)
    raise ValueError(f"{comp.name}: no ServicePort with spec_field {port!r}")  # a catalog bug


def _url(scheme: str, host: str, port: int, path: str) -> str:
    url = f"{scheme}://{format_host(host)}:{port}"
    return f"{url}/{path}" if path else url


def _slaves(ctx: render.Context, comp: catalog.Component) -> int:
    placement = planner.placement_of(ctx.spec, comp)
    return (placement.slave_replicas or 0) if isinstance(placement, DeploymentSpec) else 0


def endpoints(
    ctx: render.Context, comp: catalog.Component, svc: catalog.KeystoneService
) -> tuple[Endpoint, ...]:
    """The service's endpoints as the spec places them (slave included while read-only replicas run)."""
    internal = ctx.object_name(comp.name)
    for ep in svc.endpoints:
        if ep.interface == "internal" and ep.host:
            internal = ep.host.format(cluster=ctx.name, namespace=ctx.namespace)
    public = ctx.spec.load_balancer_endpoint or internal
    scheme = _scheme(ctx, svc)
    out = []
    internal_port = None
    for ep in svc.endpoints:
        if svc.url is not None:
            out.append(Endpoint(ep.interface, svc.url))
            continue
        if ep.host:
            host = ep.host.format(cluster=ctx.name, namespace=ctx.namespace)
        else:
            host = internal if ep.interface == "internal" else public
        port = _port(ctx, comp, svc, ep.port if ep.port is not None else svc.port)
        if ep.interface == "internal":
            internal_port = port
        out.append(Endpoint(ep.interface, _url(scheme, host, port, svc.path)))
    if svc.slave and internal_port is not None:
        url = _url(scheme, f"{internal}-slave", internal_port, svc.path)
        out.append(Endpoint("slave", url, enabled=_slaves(ctx, comp) > 0))
    return tuple(out)


def desired(plan: planner.Plan) -> Desired:
    """Everything the cluster's keystone should hold, from the plan's verdicts."""
    ctx = render.Context(plan.cluster, "ce")
    services: dict[str, Service] = {}
    accounts: dict[str, Account] = {}
    for cp in plan.components:
        comp, running = cp.component, cp.state is not planner.State.DISABLED
        for svc in comp.keystone_services:
            eps = endpoints(ctx, comp, svc)
            if not running:
                eps = tuple(Endpoint(e.interface, e.url, False) for e in eps)
            held = services.get(svc.name)
            if held is not None and (held.enabled or not running):
                continue  # the first component that runs it places it
            services[svc.name] = Service(svc.name, svc.type, running, eps, (comp.name,))
        user = comp.keystone_user
        if running and user:
            key = f"{comp.account}.keystone-password"
            held_account = accounts.get(user)
            names = (*held_account.components, comp.name) if held_account else (comp.name,)
            accounts[user] = Account(user, key, names)
    return Desired(plan.cluster.spec.region or "region0", tuple(services.values()), tuple(accounts.values()))


def admin_url(plan: planner.Plan) -> str:
    """Where the operator reaches the cluster's keystone from inside the cluster: the admin port of
    ``<cluster>-keystone.<namespace>.svc``, https unless ``keystone.disableTLS``."""
    ctx = render.Context(plan.cluster, "ce")
    comp = catalog.BY_NAME[catalog.IDENTITY]
    svc = comp.keystone_services[0]
    port = _port(ctx, comp, svc, "adminService")
    return f"{_scheme(ctx, svc)}://{ctx.object_name(comp.name)}.{ctx.namespace}.svc:{port}/v3"
