"""The cluster's passwords: every DB and keystone password a component needs, in one Secret.

``<cluster>-credentials`` holds one key each (``<component>.db-password``,
``<component>.keystone-password``, ``sysadmin-password``). Generated once (16 letters and
digits, as the reference), created if missing, never rewritten. The reference keeps these in a
ConfigMap; here no ConfigMap, Event, status field or log line holds one.
"""

from __future__ import annotations

import secrets as random_source
import string

from cloudpods_operator import catalog, render
from cloudpods_operator.kinds import JSON
from cloudpods_operator.model import OnecloudCluster

ALPHABET = string.ascii_letters + string.digits
SYSADMIN_KEY = "sysadmin-password"
MYSQL_ROOT_KEY = "mysql-root-password"


def secret_name(cluster_name: str) -> str:
    """``<cluster>-credentials``."""
    return f"{cluster_name}-credentials"


def password() -> str:
    """16 letters and digits from the OS's CSPRNG, as the reference's generator."""
    return "".join(random_source.choice(ALPHABET) for _ in range(16))


def keys(comp: catalog.Component) -> list[str]:
    """The keys of ``<cluster>-credentials`` one component may read, and nothing else."""
    out = []
    if comp.db:
        out.append(f"{comp.name}.db-password")
    if comp.keystone_user:
        out.append(f"{comp.name}.keystone-password")
    return out


def values(cluster: OnecloudCluster) -> dict[str, str]:
    """A fresh password for every key, the spec's bootstrap and MySQL root passwords where given."""
    out: dict[str, str] = {}
    for comp in catalog.COMPONENTS:
        for key in keys(comp):
            out[key] = password()
    out[SYSADMIN_KEY] = cluster.spec.keystone.bootstrap_password or password()
    mysql = cluster.spec.mysql
    if mysql is not None and mysql.password:
        out[MYSQL_ROOT_KEY] = mysql.password
    return out


def generate(cluster: OnecloudCluster) -> JSON:
    """The body of ``<cluster>-credentials`` with fresh values."""
    data = {k: v.encode() for k, v in values(cluster).items()}
    return render.render_secret(cluster, secret_name(cluster.metadata.name), data)
