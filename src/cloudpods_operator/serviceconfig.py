"""The service config each pod reads, as the reference operator writes it, from the catalog entry.

Pure. A YAML config is the common options the reference's ``SetServiceCommonOptions`` sets
(``common="service"``) or keystone's base options (``"identity"``), then the entry's own options; a
text config (nginx, Corefile, properties, rc) is the entry's template. Both use placeholders:

=========================  ==========================================================================
``${cluster}``             the OnecloudCluster's name; ``${namespace}`` its namespace
``${region}`` ``${zone}``  ``spec.region`` / ``spec.zone`` (default ``region0`` / ``zone0``)
``${lb}``                  ``spec.loadBalancerEndpoint``
``${keystone_url}``        ``https://<cluster>-keystone:<admin port>/v3`` (http with ``disableTLS``)
``${mysql.host}`` ...      ``spec.mysql.host`` and ``.port`` (3306)
``${port:C.P}``            the Service port ``P`` of component ``C`` (moved by the spec's nodePort)
``${spec:PATH|DEFAULT}``   a spec value by JSON keys; without a value and a default, the option is left out
``${secret:KEY}``          a key of ``<cluster>-credentials``; offline (no secrets) ``<secret:KEY>``
``${sql_connection}``      the component account's database URL (mysql, or dm:// for ``db_engine: dameng``)
=========================  ==========================================================================
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources

import orjson
from pydantic import BaseModel

from cloudpods_operator import catalog, render
from cloudpods_operator.model import OnecloudClusterSpec, lookup

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
PKI = render.PKI_MOUNT
WORKER_COUNTS = (
    ("cron_job_worker_count", 4),
    ("local_task_worker_count", 4),
    ("request_worker_count", 8),
    ("task_worker_count", 4),
)


class _Missing(Exception):
    """A placeholder without a value: the option is left out."""


@cache
def template(name: str) -> str:
    """A text config shipped in the package's ``templates/``."""
    return resources.files("cloudpods_operator").joinpath("templates", name).read_text()


def _host(host: str) -> str:
    """An IPv6 address goes in brackets inside a URL (the reference's dbutil)."""
    try:
        return f"[{host}]" if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address) else host
    except ValueError:
        return host


def keystone_url(ctx: render.Context) -> str:
    """Where every service logs in: keystone's admin port, as the Service exposes it."""
    admin = _port_def(catalog.IDENTITY, "admin")
    keystone = ctx.spec.keystone
    scheme = "http" if keystone.disable_tls else "https"
    port = render.service_port(keystone, admin)
    return f"{scheme}://{ctx.object_name(catalog.IDENTITY)}:{port}/v3"


def sql_connection(ctx: render.Context, comp: catalog.Component, secrets: Mapping[str, str] | None) -> str:
    """``mysql+pymysql://user:password@host:port/db?...`` for the component's account."""
    account = catalog.ACCOUNTS[comp.account or ""]
    password = _secret(f"{account.key}.db-password", secrets)
    own = lookup(ctx.spec, comp.own_spec_key)
    engine = lookup(own, "db_engine") if isinstance(own, BaseModel) else None
    if (engine or ctx.spec.db_engine) == "dameng":
        dameng = ctx.spec.dameng
        host, port = (dameng.host if dameng else None) or "dameng", (dameng.port if dameng else None) or 5236
        return f"dm://{account.db_user}:{password}@{_host(host)}:{port}/{account.database}"
    mysql = ctx.spec.mysql
    host, port = (mysql.host if mysql else None) or "mysql", (mysql.port if mysql else None) or 3306
    query = "charset=utf8&parseTime=true&interpolateParams=true"
    return f"mysql+pymysql://{account.db_user}:{password}@{_host(host)}:{port}/{account.database}?{query}"


def _secret(key: str, secrets: Mapping[str, str] | None) -> str:
    if secrets is None:
        return f"<secret:{key}>"
    if key not in secrets:
        raise KeyError(f"the credentials Secret has no key {key!r}")
    return secrets[key]


@cache
def _port_def(component: str, port_name: str) -> catalog.ServicePort:
    """A catalog port by component and name (the catalog never changes: looked up once)."""
    comp = catalog.BY_NAME[component]
    return next(p for s in comp.services for p in s.ports if p.name == port_name)


def _service_port(ctx: render.Context, ref: str) -> int:
    name, _, port_name = ref.partition(".")
    comp = catalog.BY_NAME[name]
    port = _port_def(name, port_name)
    own = lookup(ctx.spec, comp.own_spec_key)
    return render.service_port(own if isinstance(own, BaseModel) else None, port)


def _resolve(
    ctx: render.Context,
    comp: catalog.Component,
    name: str,
    secrets: Mapping[str, str] | None,
    zone: str | None = None,
) -> object:
    spec = ctx.spec
    kind, _, arg = name.partition(":")
    if kind == "secret":
        return _secret(arg, secrets)
    if kind == "spec":
        path, _, default = arg.partition("|")
        value = lookup(spec, path)
        if value not in (None, "", [], {}):
            return value
        if not default:
            raise _Missing(name)
        if default.startswith("$"):
            return _resolve(ctx, comp, default[1:], secrets, zone)
        try:
            return orjson.loads(default)  # |false, |300: typed as the reference writes them
        except orjson.JSONDecodeError:
            return default
    if kind == "port":
        return _service_port(ctx, arg)
    return _simple(ctx, comp, name, secrets, zone)


def _load_balancer(spec: OnecloudClusterSpec) -> str:
    if not spec.load_balancer_endpoint:
        raise _Missing("lb")
    return _host(spec.load_balancer_endpoint)


_Simple = Callable[[render.Context, catalog.Component, "Mapping[str, str] | None", "str | None"], object]
_SIMPLE: dict[str, _Simple] = {
    "cluster": lambda ctx, comp, secrets, zone: ctx.name,
    "namespace": lambda ctx, comp, secrets, zone: ctx.namespace,
    "region": lambda ctx, comp, secrets, zone: ctx.spec.region or "region0",
    "zone": lambda ctx, comp, secrets, zone: zone or ctx.spec.zone or "zone0",
    "disable_local_vpc": lambda ctx, comp, secrets, zone: ctx.spec.local_vpc_disabled,
    "keystone_url": lambda ctx, comp, secrets, zone: keystone_url(ctx),
    "mysql.host": lambda ctx, comp, secrets, zone: _host(
        (ctx.spec.mysql.host if ctx.spec.mysql else None) or "mysql"
    ),
    "mysql.port": lambda ctx, comp, secrets, zone: (ctx.spec.mysql.port if ctx.spec.mysql else None) or 3306,
    "lb": lambda ctx, comp, secrets, zone: _load_balancer(ctx.spec),
    "sql_connection": lambda ctx, comp, secrets, zone: sql_connection(ctx, comp, secrets),
}
"""The placeholders without an argument, each computed only when asked (planning asks thousands): a
table built once, not ten closures per call."""


def _simple(
    ctx: render.Context,
    comp: catalog.Component,
    name: str,
    secrets: Mapping[str, str] | None,
    zone: str | None,
) -> object:
    value = _SIMPLE.get(name)
    if value is None:
        raise KeyError(f"unknown placeholder ${{{name}}} in the catalog entry of {comp.name}")
    return value(ctx, comp, secrets, zone)


def fill(
    ctx: render.Context,
    comp: catalog.Component,
    value: catalog.OptionValue,
    secrets: Mapping[str, str] | None,
    zone: str | None = None,
) -> object:
    """One value with its placeholders resolved; a whole-value placeholder keeps its type (a list stays a
    list). Raises :class:`_Missing` when a placeholder has no value."""
    if not isinstance(value, str):
        return list(value) if isinstance(value, tuple) else value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        return _resolve(ctx, comp, whole.group(1), secrets, zone)
    return _PLACEHOLDER.sub(lambda m: str(_resolve(ctx, comp, m.group(1), secrets, zone)), value)


def _applies(ctx: render.Context, when: str | None) -> bool:
    if when is None:
        return True
    negate, condition = when.startswith("!"), when.lstrip("!")
    if condition.startswith("product:"):
        value = ctx.spec.effective_product_version == condition.removeprefix("product:")
    else:
        value = bool(lookup(ctx.spec, condition))
    return value != negate


def _common(ctx: render.Context, comp: catalog.Component, config: catalog.Config) -> list[catalog.Option]:
    """What the reference sets for every service before the component's own options."""
    account = catalog.ACCOUNTS.get(comp.account or "")
    out: list[catalog.Option] = []
    if config.application_id:
        out.append(catalog.Option("application_id", config.application_id))
    base: dict[str, catalog.OptionValue] = {"region": "${region}"}
    if account is not None:
        base["port"] = account.port
    out += [catalog.Option(k, v) for k, v in base.items()]
    out.extend(catalog.Option(k, v) for k, v in WORKER_COUNTS)
    if config.common == "service" and account is not None and account.username:
        out += [
            catalog.Option("auth_url", "${keystone_url}"),
            catalog.Option("admin_user", account.username),
            catalog.Option("admin_domain", "Default"),
            catalog.Option("admin_password", f"${{secret:{account.key}.keystone-password}}"),
            catalog.Option("admin_project", "system"),
        ]
    if config.tls:
        enabled = not (config.common == "identity" and ctx.spec.keystone.disable_tls)
        out += [
            catalog.Option("enable_ssl", enabled),
            catalog.Option("ssl_ca_certs", f"{PKI}/ca.crt"),
            catalog.Option("ssl_certfile", f"{PKI}/service.crt"),
            catalog.Option("ssl_keyfile", f"{PKI}/service.key"),
        ]
    if account is not None and account.database:
        out.append(catalog.Option("sql_connection", "${sql_connection}"))
    return out


def options(
    ctx: render.Context,
    comp: catalog.Component,
    secrets: Mapping[str, str] | None,
    zone: str | None = None,
) -> dict[str, object]:
    """A YAML config's options: common ones first, the entry's own override them (the reference's order)."""
    config = comp.config
    assert config is not None and config.template is None
    chosen = [] if config.common == "none" else _common(ctx, comp, config)
    out: dict[str, object] = {}
    for option in (*chosen, *config.options):
        if not _applies(ctx, option.when):
            continue
        try:
            out[option.key] = fill(ctx, comp, option.value, secrets, zone)
        except _Missing:
            out.pop(option.key, None)
    return out


def text(
    ctx: render.Context, comp: catalog.Component, secrets: Mapping[str, str] | None, zone: str | None = None
) -> str:
    """The file's whole text: a template, or the options as YAML.

    The options go out as indented JSON, which is YAML: every Cloudpods service's YAML parser reads it,
    and it renders ~50x faster than PyYAML (every reconcile plans every component)."""
    config = comp.config
    assert config is not None
    if config.template is not None:
        name = config.template
        if config.template_ee and ctx.edition in ("ee", "ce/support"):
            name = config.template_ee
        body = template(name)
        return _PLACEHOLDER.sub(lambda m: str(_template_value(ctx, comp, m.group(1), secrets, zone)), body)
    flags = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
    return orjson.dumps(options(ctx, comp, secrets, zone), option=flags).decode() + "\n"


def _template_value(
    ctx: render.Context,
    comp: catalog.Component,
    name: str,
    secrets: Mapping[str, str] | None,
    zone: str | None,
) -> object:
    try:
        return _resolve(ctx, comp, name, secrets, zone)
    except _Missing:
        return ""
