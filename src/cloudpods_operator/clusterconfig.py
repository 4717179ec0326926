"""The Go operator's cluster config (ConfigMap ``<cluster>-cluster-config``, key ``OnecloudClusterConfig``).

Adopting a cluster the Go operator ran means keeping its passwords, or every database and keystone
login breaks: :func:`parse` turns its ``OnecloudClusterConfig`` document into the data of our
``<cluster>-credentials`` Secret (key names of DESIGN-14) and reports the usernames, ports and
databases that differ from the Go defaults, which are data here, not secrets. :func:`build` is the
way back (``cloudpods-operator export-cluster-config``): a document the Go operator decodes as its
own, written as its encoder writes it, with the passwords in use now, rotated ones included.

Pure: text in, text out. No password ever appears in an error message, nor in a chained exception.
Facts cited from yunionio/cloudpods-operator at f4a269106919d6426dfba8769cab6bbf72c02215.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any

import yaml

from cloudpods_operator import catalog
from cloudpods_operator.errors import OperatorError
from cloudpods_operator.kinds import GROUP_VERSION

KIND = "OnecloudClusterConfig"
DATA_KEY = KIND
"""The ConfigMap's data key (``constants.OnecloudClusterConfigConfigMapKey``, constants.go:69-73)."""
COMMON_CONFIG = "commonConfig"

KEYSTONE_PASSWORD = "keystone-password"
DB_PASSWORD = "db-password"
CLICKHOUSE_PASSWORD = "clickhouse-password"
ENCRYPTION_KEY = "encryption-key"
CLUSTER_CONFIG_KEY = "cluster-config"
"""The credentials key holding the adopted document verbatim (only on adoption)."""

PASSWORD_FIELDS: dict[str, tuple[str, ...]] = {
    KEYSTONE_PASSWORD: ("password",),
    DB_PASSWORD: ("db", "password"),
    CLICKHOUSE_PASSWORD: ("clickhouse_conf", "password"),
    ENCRYPTION_KEY: ("encryptionKey",),
}
"""Secret key suffix -> where the value sits under the account's key in the document."""

COMMON_CONFIG_DEFAULTS: dict[str, int] = {
    "cron_job_worker_count": 4,
    "local_task_worker_count": 4,
    "request_worker_count": 8,
    "task_worker_count": 4,
}
"""defaults.go:866-879."""


class ClusterConfigError(OperatorError):
    """A document that cannot be adopted; the message names the place and the reason, never a value."""


@dataclass(frozen=True)
class Database:
    """A ``db`` or ``clickhouse_conf`` entry, without its password."""

    database: str
    username: str


@dataclass(frozen=True)
class Account:
    """One top-level entry of the cluster config without its secrets: the same type serves the Go
    defaults and what an adopted document really has. None means the Go type has no such field."""

    key: str
    username: str | None
    """The keystone service account (None: keystone, grafana)."""
    port: int | None
    db: Database | None
    """All ``""`` (mcpServer): the Go type has the field but the account has no database."""
    clickhouse: Database | None
    second_database: str | None = None
    """itsm: ``db.database + "_engine"``, reassigned on every Go pass (defaults.go:925-928)."""
    encryption_key: bool = False

    @property
    def has_db(self) -> bool:
        """The account has a database, so a ``db.password``."""
        return self.db is not None and bool(self.db.database)

    @property
    def has_clickhouse(self) -> bool:
        """The account has a ClickHouse database, so a ``clickhouse_conf.password``."""
        return self.clickhouse is not None and bool(self.clickhouse.database)


def _defaults(entry: catalog.Account) -> Account:
    """The account as ``SetDefaults_OnecloudClusterConfig`` (defaults.go:795-864) makes it, from its
    catalog entry: the catalog's usernames, ports and databases are the Go defaults."""
    if entry.empty_db:
        db: Database | None = Database("", "")
    elif entry.database:
        db = Database(entry.database, entry.db_user or entry.database)
    else:
        db = None
    return Account(
        entry.key,
        entry.username,
        entry.port or None,
        db,
        db if entry.clickhouse or entry.empty_db else None,
        entry.second_database,
        entry.encryption_key,
    )


ACCOUNT_DEFAULTS: dict[str, Account] = {k: _defaults(catalog.ACCOUNTS[k]) for k in sorted(catalog.ACCOUNTS)}
"""Every account a fresh Go cluster config has, with its default usernames, port and databases
(:data:`catalog.ACCOUNTS`, in the shape of the Go document)."""


def _has_field(account: Account, suffix: str) -> bool:
    """The Go type of the account has the password field for ``suffix``."""
    return {
        KEYSTONE_PASSWORD: account.username is not None,
        DB_PASSWORD: account.db is not None,
        CLICKHOUSE_PASSWORD: account.clickhouse is not None,
        ENCRYPTION_KEY: account.encryption_key,
    }[suffix]


def _needs(account: Account, suffix: str) -> bool:
    """The Go defaulting always fills this password, so a document without it was not written by Go."""
    return {
        KEYSTONE_PASSWORD: account.username is not None,
        DB_PASSWORD: account.has_db,
        CLICKHOUSE_PASSWORD: account.has_clickhouse,
        ENCRYPTION_KEY: account.encryption_key,
    }[suffix]


def secret_key(account: str, suffix: str) -> str:
    """``<account>.<suffix>``, e.g. ``region.db-password``."""
    return f"{account}.{suffix}"


def secret_keys(account: Account) -> list[str]:
    """The credentials keys the account has: only those that make sense (no db key without a db)."""
    return [secret_key(account.key, s) for s in PASSWORD_FIELDS if _needs(account, s)]


def missing_passwords(credentials: Mapping[str, str]) -> list[str]:
    """The keys of :data:`ACCOUNT_DEFAULTS` that ``credentials`` lacks: :func:`build` leaves those
    passwords empty, and the Go operator fills empty ones with fresh random passwords."""
    return [k for a in ACCOUNT_DEFAULTS.values() for k in secret_keys(a) if k not in credentials]


def configmap_name(cluster_name: str) -> str:
    """``<cluster>-cluster-config`` (pkg/controller/utils.go:114-117)."""
    return f"{cluster_name}-cluster-config"


@dataclass(frozen=True)
class Override:
    """A non-secret value the adopted document sets to something other than the Go default."""

    account: str
    field: str
    """The YAML path under the account, e.g. ``port`` or ``db.username``."""
    default: str | int
    value: str | int

    def __str__(self) -> str:
        return f"{self.account}.{self.field} is {self.value!r}, not the default {self.default!r}"


@dataclass(frozen=True)
class Adopted:
    """What :func:`parse` takes over from a Go cluster config."""

    credentials: dict[str, str]
    """The data of ``<cluster>-credentials``: every password, and ``cluster-config`` (the text verbatim)."""
    accounts: dict[str, Account]
    """Every account of the document, with the usernames, ports and databases it really uses."""
    overrides: tuple[Override, ...]
    """Where ``accounts`` (and ``commonConfig``) differ from the Go defaults: to warn about, or to use."""
    unknown: tuple[str, ...]
    """Top-level keys this module does not know (a newer Go operator?); their passwords are taken too."""


# ---- reading ------------------------------------------------------------------------------------

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}
    return "null" if value is None else names.get(type(value), "a mapping")


def _load(text: str) -> dict[str, Any]:
    """The document as a mapping, checked to be an OnecloudClusterConfig."""
    try:
        doc = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        # The problem can quote the text (an undefined alias, a tag): drop longer quoted parts, and
        # the exception itself (``from None``), whose str shows the offending line.
        problem = str(getattr(exc, "problem", None) or "syntax error")
        problem = _QUOTED.sub(lambda m: m[0] if len(m[0]) <= 4 else "'…'", problem)  # keep ',' and '\t'
        raise ClusterConfigError(f"not valid YAML{where} ({problem})") from None
    if not isinstance(doc, dict):
        raise ClusterConfigError(f"not an {KIND}: the document is {_type_name(doc)}, not a mapping")
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if kind != KIND:
        data = doc.get("data")
        if kind == "ConfigMap" and isinstance(data, dict) and DATA_KEY in data:
            raise ClusterConfigError(f"not an {KIND} but the ConfigMap holding one: give its data.{DATA_KEY}")
        shown = repr(kind)[:60] if isinstance(kind, str) else "missing"
        raise ClusterConfigError(f"not an {KIND}: kind is {shown}")
    if api_version != GROUP_VERSION:
        shown = repr(api_version)[:60] if isinstance(api_version, str) else "missing"
        raise ClusterConfigError(f"{KIND}: apiVersion is {shown}, expected {GROUP_VERSION!r}")
    bad = [k for k in doc if not isinstance(k, str)]
    if bad:
        raise ClusterConfigError(f"{KIND}: a top-level key is {_type_name(bad[0])}, not a string")
    return doc


def _value(section: Mapping[str, Any], path: tuple[str, ...], kind: type, where: str) -> Any:
    """The value at ``path``, None when absent or empty (Go's defaulting treats "" and 0 as unset).

    Raises ClusterConfigError naming the path and the type found, never the value.
    """
    current: Any = section
    for depth, part in enumerate(path):
        if current is None:
            return None
        if not isinstance(current, dict):
            at = ".".join((where, *path[:depth]))
            raise ClusterConfigError(f"{at}: expected a mapping, found {_type_name(current)}")
        current = current.get(part)
    if current is None or current == "" or current == 0:
        return None
    if type(current) is not kind:
        names = {str: "a string", int: "an integer"}
        at = ".".join((where, *path))
        raise ClusterConfigError(f"{at}: expected {names[kind]}, found {_type_name(current)}")
    return current


def _database(section: Mapping[str, Any], name: str, default: Database | None, where: str) -> Database | None:
    if default is None and not isinstance(section.get(name), dict):
        return None
    database = _value(section, (name, "database"), str, where)
    username = _value(section, (name, "username"), str, where)
    return Database(
        database if database is not None else default.database if default else "",
        username if username is not None else default.username if default else "",
    )


def _account(key: str, section: Mapping[str, Any], default: Account | None) -> Account:
    """The account as the document has it; missing or empty fields are the Go default, as Go's
    defaulting would make them. For a known account only the fields of its Go type count."""

    def pick(name: str, kind: type, fallback: Any) -> Any:
        value = _value(section, (name,), kind, key)
        return fallback if value is None else value

    if default is None:
        return Account(
            key,
            pick("username", str, None),
            pick("port", int, None),
            _database(section, "db", None, key),
            _database(section, "clickhouse_conf", None, key),
            pick("secondDatabase", str, None),
            "encryptionKey" in section,
        )
    return Account(
        key,
        None if default.username is None else pick("username", str, default.username),
        None if default.port is None else pick("port", int, default.port),
        _database(section, "db", default.db, key) if default.db else None,
        _database(section, "clickhouse_conf", default.clickhouse, key) if default.clickhouse else None,
        None if default.second_database is None else pick("secondDatabase", str, default.second_database),
        default.encryption_key,
    )


def _flat(account: Account) -> dict[str, str | int | None]:
    """The non-secret fields of an account by their YAML path, to compare."""
    out: dict[str, str | int | None] = {
        "username": account.username,
        "port": account.port,
        "secondDatabase": account.second_database,
    }
    for name, db in (("db", account.db), ("clickhouse_conf", account.clickhouse)):
        out[f"{name}.database"] = db.database if db else None
        out[f"{name}.username"] = db.username if db else None
    return out


def _overrides(default: Account, adopted: Account) -> list[Override]:
    theirs = _flat(adopted)
    return [
        Override(default.key, field, value, got)
        for field, value in _flat(default).items()
        if value is not None and (got := theirs[field]) is not None and got != value
    ]


def _common_overrides(section: Any) -> list[Override]:
    if section is None:
        return []
    if not isinstance(section, dict):
        raise ClusterConfigError(f"{COMMON_CONFIG}: expected a mapping, found {_type_name(section)}")
    out = []
    for field, default in COMMON_CONFIG_DEFAULTS.items():
        value = _value(section, (field,), int, COMMON_CONFIG)
        if value is not None and value != default:
            out.append(Override(COMMON_CONFIG, field, default, value))
    return out


def parse(text: str) -> Adopted:
    """The credentials (and non-default accounts) of a Go ``OnecloudClusterConfig`` YAML document.

    Raises ClusterConfigError for text that is not YAML, not an OnecloudClusterConfig, has a field of
    the wrong type, or lacks a password the Go defaulting always fills. Accounts the document does not
    have are simply absent (an older Go operator): the caller generates their passwords.
    """
    doc = _load(text)
    credentials: dict[str, str] = {}
    accounts: dict[str, Account] = {}
    overrides: list[Override] = []
    unknown: list[str] = []
    missing: list[str] = []
    for key, section in doc.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == COMMON_CONFIG:
            overrides += _common_overrides(section)
            continue
        default = ACCOUNT_DEFAULTS.get(key)
        if default is None:
            unknown.append(key)
            if not isinstance(section, dict):
                continue
        elif not isinstance(section, dict):
            raise ClusterConfigError(f"{key}: expected a mapping, found {_type_name(section)}")
        accounts[key] = account = _account(key, section, default)
        if default is not None:
            overrides += _overrides(default, account)
        for suffix, path in PASSWORD_FIELDS.items():
            if default is not None and not _has_field(default, suffix):
                continue
            secret = _value(section, path, str, key)
            if secret is not None:
                credentials[secret_key(key, suffix)] = secret
            elif default is not None and _needs(default, suffix):
                missing.append(".".join((key, *path)))
    if missing:
        raise ClusterConfigError(f"{KIND}: no password at {', '.join(missing)}")
    credentials[CLUSTER_CONFIG_KEY] = text
    return Adopted(credentials, accounts, tuple(overrides), tuple(unknown))


# ---- writing ------------------------------------------------------------------------------------


def _section(account: Account) -> dict[str, Any]:
    """The account's entry as a fresh Go config has it, passwords empty."""
    out: dict[str, Any] = {}
    if account.port is not None:
        out["port"] = account.port
    if account.username is not None:
        out["username"] = account.username
        out["password"] = ""
    for name, db in (("db", account.db), ("clickhouse_conf", account.clickhouse)):
        if db is not None:
            out[name] = {"database": db.database, "username": db.username, "password": ""}
    if account.second_database is not None:
        out["secondDatabase"] = account.second_database
    if account.encryption_key:
        out["encryptionKey"] = ""
    return out


def _put(section: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    for part in path[:-1]:
        child = section.get(part)
        if not isinstance(child, dict):
            child = section[part] = {}
        section = child
    section[path[-1]] = value


def build(credentials: Mapping[str, str]) -> str:
    """The ``OnecloudClusterConfig`` document for ``credentials``, as the Go encoder writes it.

    With ``cluster-config`` (an adopted cluster): that document, with the current passwords laid over
    it, and any default account it lacks but the credentials have. Otherwise a full document of
    :data:`ACCOUNT_DEFAULTS`; a password the credentials lack is left ``""``, which the Go operator
    fills with a fresh one (see :func:`missing_passwords`).
    """
    adopted = credentials.get(CLUSTER_CONFIG_KEY)
    if adopted is not None:
        doc = _load(adopted)
    else:
        doc = {"apiVersion": GROUP_VERSION, "kind": KIND, COMMON_CONFIG: dict(COMMON_CONFIG_DEFAULTS)}
    for key, account in ACCOUNT_DEFAULTS.items():
        if key not in doc and (adopted is None or any(k in credentials for k in secret_keys(account))):
            doc[key] = _section(account)
    for key, section in doc.items():
        if key == COMMON_CONFIG or not isinstance(section, dict):
            continue
        for suffix, path in PASSWORD_FIELDS.items():
            secret = credentials.get(secret_key(key, suffix))
            if secret is not None:
                _put(section, path, secret)
    return dump(doc)


def manifest(cluster_name: str, namespace: str, document: str) -> str:
    """The Go operator's ConfigMap holding ``document``, for ``kubectl apply -f -``.

    No ownerReferences: the Go operator creates the ConfigMap only when it is missing and updates it
    in place afterwards (config.go:54-86), so an applied one is simply taken as its own.
    """
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": configmap_name(cluster_name), "namespace": namespace},
        "data": {DATA_KEY: document},
    }
    return dump(body)


# ---- Go's YAML style ----------------------------------------------------------------------------
# k8sutil.MarshalToYamlForCodecs goes JSON -> sigs.k8s.io/yaml JSONToYAML -> go-yaml v2 Marshal of a
# map: keys in go-yaml's order (sorter.go keyList.Less), strings plain unless go-yaml would read them
# back as another type (then double-quoted: encode.go stringv), multi-line strings literal.

_GO_WORDS = frozenset(
    "y Y yes Yes YES true True TRUE on On ON n N no No NO false False FALSE off Off OFF"  # noqa: SIM905
    " ~ null Null NULL .nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF".split()
)
_GO_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]*|0[bB][01]+|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_GO_DATE = re.compile(r"[0-9]{4}-")
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"


def _is_go_float(text: str) -> bool:
    """strconv.ParseFloat succeeds: the syntax, and no overflow (ParseFloat fails on ±Inf)."""
    return _GO_FLOAT.fullmatch(text) is not None and abs(float(text)) != float("inf")


def _needs_quotes(text: str) -> bool:
    """go-yaml (or PyYAML, reading it back) would take the plain scalar for something not a string."""
    if text in _GO_WORDS or text == "":
        return True
    if text[0] == ".":
        if _is_go_float(text):
            return True
    elif text[0] in "+-0123456789":
        plain = text.replace("_", "")
        if _GO_INT.fullmatch(plain) or _is_go_float(plain) or _GO_BASE60.fullmatch(text):
            return True
        if _GO_DATE.match(text):  # go-yaml tries time.Parse on these; quote all, harmless
            return True
    return bool(_RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) != _STR_TAG)  # type: ignore[no-untyped-call]


def _go_less(a: str, b: str) -> bool:
    """go-yaml v2's keyList.Less for two strings: runs of digits compare as numbers, and a
    non-letter sorts before a letter."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x == y:
            continue
        if x.isalpha() and y.isalpha():
            return x < y
        if x.isalpha() or y.isalpha():
            return y.isalpha()
        an = bn = 0
        if x == "0" or y == "0":
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdecimal():
            an, ai = an * 10 + int(a[ai]), ai + 1
        bi = i
        while bi < len(b) and b[bi].isdecimal():
            bn, bi = bn * 10 + int(b[bi]), bi + 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return x < y
    return len(a) < len(b)


def _go_order(a: tuple[Any, Any], b: tuple[Any, Any]) -> int:
    ka, kb = str(a[0]), str(b[0])
    return -1 if _go_less(ka, kb) else 1 if _go_less(kb, ka) else 0


class _GoDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else '"' if _needs_quotes(text) else None
    return dumper.represent_scalar(_STR_TAG, text, style=style)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[Any, Any]) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", sorted(data.items(), key=cmp_to_key(_go_order)))


_GoDumper.add_representer(str, _represent_str)
_GoDumper.add_representer(dict, _represent_dict)


def dump(data: Any) -> str:
    """YAML as go-yaml v2 writes it (the style of every object the Go operator stores)."""
    return str(yaml.dump(data, Dumper=_GoDumper, allow_unicode=True, sort_keys=False))
