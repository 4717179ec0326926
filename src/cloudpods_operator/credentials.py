"""The cluster's passwords: every DB and keystone password a component needs, in one Secret.

``<cluster>-credentials`` holds one key per password of the reference's cluster config
(``<account>.keystone-password``, ``<account>.db-password``, ``<account>.clickhouse-password``,
``itsm.encryption-key``) and ``sysadmin-password``. Generated once (16 characters, as the
reference), created if missing, never rewritten. The reference keeps these in a ConfigMap; here
they reach only Secrets (the credentials and each component's config), never a ConfigMap, Event,
status field or log line.
"""

from __future__ import annotations

import secrets as random_source
from collections.abc import Mapping

from cloudpods_operator import catalog, render
from cloudpods_operator.kinds import JSON
from cloudpods_operator.model import OnecloudCluster

FIRST = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPRSTUVWXYZ"
ALPHABET = "23456789" + FIRST
SYSADMIN_KEY = "sysadmin-password"
MYSQL_ROOT_KEY = "mysql-root-password"
ITSM_KEY = "itsm.encryption-key"


def secret_name(cluster_name: str) -> str:
    """``<cluster>-credentials``."""
    return render.credentials_secret_name(cluster_name)


def password() -> str:
    """16 characters as the reference's generator makes them (no 0/1/i/l/o/I/L/O/Q, a letter first, at
    least two digits, two lowercase and two uppercase letters), from the OS's CSPRNG instead of math/rand."""
    while True:
        value = random_source.choice(FIRST) + "".join(random_source.choice(ALPHABET) for _ in range(15))
        if (
            sum(c.isdigit() for c in value) > 1
            and sum(c.islower() for c in value) > 1
            and sum(c.isupper() for c in value) > 1
        ):
            return value


def password_keys() -> list[str]:
    """Every password key a cluster has (DESIGN: the reference's cluster-config entries)."""
    out = [k for account in catalog.ACCOUNTS.values() for k in account.password_keys]
    return [*out, ITSM_KEY, SYSADMIN_KEY]


def values(cluster: OnecloudCluster, adopted: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every key: adopted from the Go operator's cluster config where it has it (never regenerated:
    its databases and keystone accounts use them), else fresh; the spec's bootstrap and MySQL root
    passwords where given."""
    out = {key: password() for key in password_keys()} | dict(adopted or {})
    if cluster.spec.keystone.bootstrap_password:
        out[SYSADMIN_KEY] = cluster.spec.keystone.bootstrap_password
    mysql = cluster.spec.mysql
    if mysql is not None and mysql.password:
        out[MYSQL_ROOT_KEY] = mysql.password
    return out


def generate(cluster: OnecloudCluster, adopted: Mapping[str, str] | None = None) -> JSON:
    """The body of ``<cluster>-credentials``: adopted values where given, fresh ones for the rest."""
    data = {k: v.encode() for k, v in values(cluster, adopted).items()}
    return render.render_secret(cluster, secret_name(cluster.metadata.name), data)
