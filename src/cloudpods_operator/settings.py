"""One Settings object for ``cloudpods-operator run``: every flag also reads an environment variable."""

from __future__ import annotations

import argparse
import logging
import math
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _env_bool(name: str, default: bool) -> bool:
    """A boolean environment variable; a value that is neither true nor false is an error, not False."""
    text = os.environ.get(name, str(default)).strip().lower()
    if text not in _TRUE + _FALSE:
        raise ValueError(f"${name}: {text[:80]!r} is not a boolean (true/false, 1/0, yes/no, on/off)")
    return text in _TRUE


def _count(text: str) -> int:
    """A whole number of at least 1 (workers, applies in flight)."""
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def _seconds(text: str) -> float:
    """A finite, positive number of seconds."""
    try:
        value = float(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not a positive, finite number of seconds")
    return value


def _log_level(text: str) -> str:
    """A logging level name known to :mod:`logging`, any case."""
    if text.strip().upper() not in logging.getLevelNamesMapping():
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not a log level (debug, info, warning, error)")
    return text.strip()


def _address(text: str) -> str:
    """``host:port`` or ``:port`` to listen on; empty turns the server off."""
    if not text.strip():
        return ""
    _, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not HOST:PORT or :PORT")
    return text.strip()


def _typed(convert: Callable[[str], Any], env: str) -> Callable[[str], Any]:
    """``convert``, naming the environment variable a bad default came from (argparse converts string
    defaults only when the flag is not given, so ``--help`` works whatever the environment holds)."""

    def parse(text: str) -> Any:
        try:
            return convert(text)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{exc} (the flag, or ${env})") from None

    parse.__name__ = convert.__name__.strip("_")
    return parse


@dataclass(frozen=True)
class Settings:
    """What ``cloudpods-operator run`` was asked for, resolved once from flags and environment; immutable."""

    kubeconfig: str | None
    """Path to a kubeconfig; None means in-cluster config (or ~/.kube/config outside a pod)."""
    namespaces: tuple[str, ...]
    """Namespaces to watch; empty means every namespace."""
    workers: int
    """OnecloudClusters reconciled at once (one reconcile per cluster at a time, always)."""
    apply_concurrency: int
    """Server-side applies in flight at once, across all clusters."""
    field_manager: str
    """The server-side apply field manager: the owner of every field the operator writes."""
    resync_seconds: float
    """Every cluster is reconciled again after this long, changed or not."""
    log_level: str
    """A logging level name, any case (``info``, ``DEBUG``)."""
    log_format: str
    """json, text, or auto (text on a terminal, JSON otherwise)."""
    metrics_address: str
    """host:port of /metrics; empty to disable."""
    health_address: str
    """host:port of /healthz and /readyz; empty to disable."""
    leader_elect: bool
    """Hold a Lease before reconciling, so only one of several replicas writes."""
    lease_name: str
    lease_namespace: str
    """The Lease's namespace; the pod's own (POD_NAMESPACE) in a deployment."""
    lease_duration: float
    """The Lease's duration in seconds: others take it over this long after they last saw it renewed."""
    renew_deadline: float
    """Seconds the holder keeps trying to renew before it gives leadership up; below ``lease_duration``."""
    retry_period: float
    """Seconds between attempts to acquire or renew; below ``renew_deadline``."""
    identity: str
    """This process in the Lease's holderIdentity and in Events (the pod name, else the hostname)."""
    mysql_address: tuple[str, int] | None = None
    """HOST:PORT the operator reaches every cluster's MySQL at, instead of ``spec.mysql.host`` and ``.port``
    (an operator run outside the cluster, the tests); None: the spec's, a host without a dot being a
    Service of the cluster's namespace (``<host>.<namespace>.svc``)."""
    manage_databases: bool = True
    """Create the databases, users and grants in the MySQL of every cluster that sets ``spec.mysql.host``."""
    keystone_url: str | None = ""
    """Every cluster's keystone (``https://host:port/v3``) instead of ``<cluster>-keystone.<namespace>.svc``
    (``""``); None: no keystone registration at all (``--keystone-url none``)."""
    keystone_recheck: float = 300.0
    """Seconds a pass whose wanted registration is unchanged skips reading keystone."""


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``run``; each default is read from the environment variable named in its help."""
    p.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG") or None,
        help="kubeconfig file; unset: the in-cluster config, else ~/.kube/config [KUBECONFIG]",
    )
    p.add_argument(
        "--namespaces",
        default=_env("WATCH_NAMESPACES", ""),
        help="comma-separated namespaces to watch; empty: every namespace [WATCH_NAMESPACES]",
    )
    p.add_argument(
        "--workers",
        type=_typed(_count, "WORKERS"),
        default=_env("WORKERS", "8"),
        help="OnecloudClusters reconciled at once (default: %(default)s) [WORKERS]",
    )
    p.add_argument(
        "--apply-concurrency",
        type=_typed(_count, "APPLY_CONCURRENCY"),
        default=_env("APPLY_CONCURRENCY", "32"),
        help="server-side applies in flight at once, all clusters together"
        " (default: %(default)s) [APPLY_CONCURRENCY]",
    )
    p.add_argument(
        "--field-manager",
        default=_env("FIELD_MANAGER", "cloudpods-operator"),
        help="server-side apply field manager: owner of every field the operator writes"
        " (default: %(default)s) [FIELD_MANAGER]",
    )
    p.add_argument(
        "--resync",
        type=_typed(_seconds, "RESYNC_SECONDS"),
        default=_env("RESYNC_SECONDS", "300"),
        help="seconds after which every cluster is reconciled again, changed or not"
        " (default: %(default)s) [RESYNC_SECONDS]",
    )
    p.add_argument(
        "--log-level",
        type=_typed(_log_level, "LOG_LEVEL"),
        default=_env("LOG_LEVEL", "info"),
        help="debug, info, warning or error (default: %(default)s) [LOG_LEVEL]",
    )
    p.add_argument(
        "--log-format",
        type=_typed(_choice("auto", "json", "text"), "LOG_FORMAT"),
        default=_env("LOG_FORMAT", "auto"),
        help="json (one object a line), text, or auto: text on a terminal, else json"
        " (default: %(default)s) [LOG_FORMAT]",
    )
    p.add_argument(
        "--metrics-address",
        type=_typed(_address, "METRICS_ADDRESS"),
        default=_env("METRICS_ADDRESS", ":8080"),
        help="HOST:PORT or :PORT of /metrics; empty: off (default: %(default)s) [METRICS_ADDRESS]",
    )
    p.add_argument(
        "--health-address",
        type=_typed(_address, "HEALTH_ADDRESS"),
        default=_env("HEALTH_ADDRESS", ":8081"),
        help="HOST:PORT or :PORT of /healthz and /readyz; empty: off (default: %(default)s) [HEALTH_ADDRESS]",
    )
    p.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=_env_bool_or_none("LEADER_ELECT", False),
        help="hold a Lease before writing, so one of several replicas acts"
        " (default: %(default)s) [LEADER_ELECT]",
    )
    p.add_argument(
        "--lease-name",
        default=_env("LEASE_NAME", "cloudpods-operator"),
        help="the Lease's name (default: %(default)s) [LEASE_NAME]",
    )
    p.add_argument(
        "--lease-namespace",
        default=_env("POD_NAMESPACE", "default"),
        help="the Lease's namespace; the pod's own in a deployment (default: %(default)s) [POD_NAMESPACE]",
    )
    for flag, env, default, what in (
        ("--lease-duration", "LEASE_DURATION", "15", "seconds a Lease is valid unrenewed"),
        ("--renew-deadline", "RENEW_DEADLINE", "10", "seconds the leader tries to renew before it exits"),
        ("--retry-period", "RETRY_PERIOD", "2", "seconds between attempts to acquire or renew"),
    ):
        p.add_argument(
            flag,
            type=_typed(_seconds, env),
            default=_env(env, default),
            help=f"{what} (default: %(default)s) [{env}]",
        )
    p.add_argument(
        "--identity",
        default=_env("POD_NAME", socket.gethostname()),
        help="this process in the Lease and in Events; the pod name, else the hostname [POD_NAME]",
    )
    p.add_argument(
        "--mysql-address",
        default=_env("MYSQL_ADDRESS", ""),
        type=_typed(_from_value_error(parse_address), "MYSQL_ADDRESS"),
        help="HOST:PORT of MySQL for every cluster, instead of spec.mysql.host and port [MYSQL_ADDRESS]",
    )
    p.add_argument(
        "--manage-databases",
        action=argparse.BooleanOptionalAction,
        default=_env_bool_or_none("MANAGE_DATABASES", True),
        help="create databases, users and grants where spec.mysql.host is set [MANAGE_DATABASES]",
    )
    p.add_argument(
        "--keystone-url",
        default=_env("KEYSTONE_URL", ""),
        type=_typed(_from_value_error(parse_keystone_url), "KEYSTONE_URL"),
        help="keystone v3 URL for every cluster instead of https://<cluster>-keystone.<namespace>.svc:30357/v3;"
        " 'none' turns registration off [KEYSTONE_URL]",
    )
    p.add_argument(
        "--keystone-recheck",
        type=_typed(_seconds, "KEYSTONE_RECHECK_SECONDS"),
        default=_env("KEYSTONE_RECHECK_SECONDS", "300"),
        help="seconds an unchanged registration is not read again"
        " (default: %(default)s) [KEYSTONE_RECHECK_SECONDS]",
    )


def _env_bool_or_none(name: str, default: bool) -> bool | None:
    """A boolean flag's default from the environment; None (checked in :func:`from_args`) when it is not
    a boolean, so that building the parser, and ``--help``, never fail on the environment."""
    try:
        return _env_bool(name, default)
    except ValueError:
        return None


def _choice(*allowed: str) -> Callable[[str], str]:
    def choice(text: str) -> str:
        if text.strip() not in allowed:
            raise argparse.ArgumentTypeError(f"{text[:80]!r} is not one of {', '.join(allowed)}")
        return text.strip()

    return choice


def _from_value_error(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def parse_keystone_url(text: str) -> str | None:
    """``none`` -> None (off); ``""`` -> the in-cluster address; else an http(s) URL."""
    text = text.strip()
    if text.lower() == "none":
        return None
    if text and not (text.startswith(("http://", "https://")) and len(text) > len("https://")):
        raise ValueError(f"not an http(s) URL: {text!r}")
    return text.rstrip("/")


def parse_address(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[v6]:PORT`` for an IPv6 literal) as a pair; None for an empty string."""
    text = text.strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return host, int(port)


def from_args(args: argparse.Namespace) -> Settings:
    """Settings from parsed ``run`` flags: namespaces split on commas, worker and apply counts at least 1.

    ValueError, one line, for what argparse cannot check alone: a boolean environment variable that is
    not a boolean, and Lease timings out of order (client-go refuses the same).
    """
    for flag, env in (("leader_elect", "LEADER_ELECT"), ("manage_databases", "MANAGE_DATABASES")):
        if getattr(args, flag) is None:
            _env_bool(env, False)  # raises the message
    if args.leader_elect and not args.lease_duration > args.renew_deadline > args.retry_period:
        raise ValueError(
            f"--lease-duration ({args.lease_duration:g}) must exceed --renew-deadline "
            f"({args.renew_deadline:g}), which must exceed --retry-period ({args.retry_period:g})"
        )
    return Settings(
        kubeconfig=args.kubeconfig,
        namespaces=tuple(n.strip() for n in args.namespaces.split(",") if n.strip()),
        workers=args.workers,
        apply_concurrency=args.apply_concurrency,
        field_manager=args.field_manager,
        resync_seconds=args.resync,
        log_level=args.log_level,
        log_format=args.log_format,
        metrics_address=args.metrics_address,
        health_address=args.health_address,
        leader_elect=args.leader_elect,
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        identity=args.identity,
        mysql_address=args.mysql_address,
        manage_databases=args.manage_databases,
        keystone_url=args.keystone_url,
        keystone_recheck=args.keystone_recheck,
    )
