"""The MySQL databases, users and grants a cluster needs, and what differs from the server's: pure.

As the reference does for every component with a database: ``CREATE DATABASE IF NOT EXISTS <db>``, the
database user at ``'%'``, ``'127.0.0.1'`` and ``'::1'`` with its password from the credentials Secret
(``<account>.db-password``), and ``GRANT ALL ON <db>.*`` at each of those hosts. Only a component that
sets ``db`` and owns its account ensures one (scheduler shares region's and ensures none); the user is
its account's ``db_user`` (monitor's is ``yunionmonitor``), the database the component's ``db`` (itsm's
is ``itsm_engine``).

:func:`desired` lists the rows, :class:`ServerState` is what the server reports (:mod:`mysql` reads
it), and :func:`changes` is what the edge has to send: only what differs, so a pass at rest sends no
DDL. Nothing is ever dropped: a user whose password differs is altered, never re-created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cloudpods_operator import catalog
from cloudpods_operator.errors import OperatorError

HOSTS: tuple[str, ...] = ("%", "127.0.0.1", "::1")
"""The hosts every database user exists at, as the reference creates them."""


class MissingPassword(OperatorError):
    """The credentials lack the DB password of an account a component needs (names the key, not a value)."""

    def __init__(self, key: str, components: Iterable[str] = ()) -> None:
        names = ", ".join(sorted(set(components)))
        of = f"the database password of {names}" if names else "a database password"
        super().__init__(f"the credentials have no {key!r} ({of})")
        self.key = key


@dataclass(frozen=True, order=True)
class DatabaseGrant:
    """One database and the user that gets ``ALL`` on it at every host of :data:`HOSTS`."""

    database: str
    user: str
    password_key: str
    """The credentials key of the user's password (``<account>.db-password``)."""


@dataclass(frozen=True, order=True)
class Login:
    """A MySQL account, ``'user'@'host'``."""

    user: str
    host: str

    def __str__(self) -> str:
        return f"'{self.user}'@'{self.host}'"


@dataclass(frozen=True, order=True)
class SchemaGrant:
    """``ALL`` on ``database.*`` for one account."""

    database: str
    login: Login


@dataclass(frozen=True)
class ServerState:
    """What the server reports, restricted to what the edge asked about.

    ``passwords`` holds every existing account: the hash its authentication string is (the
    ``mysql_native_password`` hash, ``*`` and 40 hex digits), None when it authenticates otherwise
    (another plugin, no password). ``grants`` holds the accounts' database grants that have every
    database privilege (what ``GRANT ALL`` gives; a partial one counts as missing)."""

    databases: frozenset[str] = frozenset()
    passwords: Mapping[Login, str | None] = field(default_factory=dict)
    grants: frozenset[SchemaGrant] = frozenset()


@dataclass(frozen=True)
class Changes:
    """What the edge sends, in this order: databases, users, password changes, grants."""

    databases: tuple[str, ...] = ()
    """``CREATE DATABASE IF NOT EXISTS``."""
    users: tuple[tuple[Login, str], ...] = ()
    """``CREATE USER`` with the password of the key."""
    passwords: tuple[tuple[Login, str], ...] = ()
    """``ALTER USER`` to the password of the key."""
    grants: tuple[SchemaGrant, ...] = ()
    """``GRANT ALL ON database.*``."""

    @property
    def empty(self) -> bool:
        return not (self.databases or self.users or self.passwords or self.grants)


def desired(
    enabled: Iterable[tuple[str, catalog.Component]], credentials: Mapping[str, str]
) -> tuple[DatabaseGrant, ...]:
    """The rows for the enabled components (``(name, component)``), deduplicated and sorted.

    Raises :class:`MissingPassword` when the credentials lack (or have empty) a password the rows
    need, and ``ValueError`` for a catalog that gives one user two passwords (a bug, not a spec)."""
    owners: dict[DatabaseGrant, list[str]] = {}
    for name, comp in enabled:
        if not comp.db or not comp.owns_account:
            continue
        account = catalog.ACCOUNTS[comp.account or ""]
        if not account.db_user:
            raise ValueError(f"component {name}: account {account.key!r} has no database user")
        row = DatabaseGrant(comp.db, account.db_user, f"{account.key}.db-password")
        owners.setdefault(row, []).append(name)
    key_of: dict[str, str] = {}
    for row in owners:
        if key_of.setdefault(row.user, row.password_key) != row.password_key:
            raise ValueError(f"user {row.user!r} has two passwords: {key_of[row.user]}, {row.password_key}")
    for row, names in owners.items():
        if not credentials.get(row.password_key):
            raise MissingPassword(row.password_key, names)
    return tuple(sorted(owners))


def logins(grants: Iterable[DatabaseGrant]) -> dict[Login, str]:
    """Every account the rows need, with the key of its password."""
    return {Login(g.user, host): g.password_key for g in sorted(grants) for host in HOSTS}


def schema_grants(grants: Iterable[DatabaseGrant]) -> tuple[SchemaGrant, ...]:
    """Every database grant the rows need."""
    return tuple(sorted({SchemaGrant(g.database, Login(g.user, h)) for g in grants for h in HOSTS}))


def password_keys(grants: Iterable[DatabaseGrant]) -> tuple[str, ...]:
    """The distinct password keys the rows use, sorted."""
    return tuple(sorted({g.password_key for g in grants}))


def missing_databases(grants: Iterable[DatabaseGrant], state: ServerState) -> tuple[str, ...]:
    return tuple(sorted({g.database for g in grants} - state.databases))


def missing_users(grants: Iterable[DatabaseGrant], state: ServerState) -> tuple[tuple[Login, str], ...]:
    return tuple((login, key) for login, key in logins(grants).items() if login not in state.passwords)


def passwords_differ(
    grants: Iterable[DatabaseGrant], state: ServerState, hashes: Mapping[str, str]
) -> tuple[tuple[Login, str], ...]:
    """Existing accounts whose password is not the credentials' one: ``hashes`` maps each password
    key to the hash the server computes for its value (``PASSWORD(?)``)."""
    return tuple(
        (login, key)
        for login, key in logins(grants).items()
        if login in state.passwords and state.passwords[login] != hashes[key]
    )


def missing_grants(grants: Iterable[DatabaseGrant], state: ServerState) -> tuple[SchemaGrant, ...]:
    return tuple(g for g in schema_grants(grants) if g not in state.grants)


def changes(grants: Iterable[DatabaseGrant], state: ServerState, hashes: Mapping[str, str]) -> Changes:
    """Everything that differs; :attr:`Changes.empty` at rest."""
    rows = tuple(grants)
    return Changes(
        databases=missing_databases(rows, state),
        users=missing_users(rows, state),
        passwords=passwords_differ(rows, state, hashes),
        grants=missing_grants(rows, state),
    )
