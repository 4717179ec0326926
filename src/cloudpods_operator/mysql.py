"""The MySQL edge: one connection to a cluster's MySQL (MariaDB), and :meth:`MySQL.ensure`.

:meth:`MySQL.ensure` reads what the server has with four SELECTs (``information_schema.SCHEMATA``,
``mysql.user``, ``mysql.db`` and the server's hash of each password), asks :func:`databases.changes`
what differs, and sends only that: ``CREATE DATABASE IF NOT EXISTS``, ``CREATE USER IF NOT EXISTS``,
``ALTER USER`` (a password that differs from the credentials; never ``DROP USER``), ``GRANT ALL ON``.
Nothing is ever dropped or revoked. A pass at rest sends no DDL; keep one :class:`MySQL` per cluster
and call :meth:`~MySQL.ensure` once per resync.

Passwords are compared on the server's terms: ``SELECT PASSWORD(?)`` (a server-side prepared
statement, the passwords bound as parameters) gives the hash MariaDB stores for ``IDENTIFIED BY``
(``mysql_native_password``, or the old hash under ``old_passwords=1``), compared with the account's
``authentication_string`` in ``mysql.user``; an account on another plugin differs and is altered.
The DDL then carries that hash (``IDENTIFIED BY PASSWORD '*…'``), so the plain password only ever
travels as a bound parameter, never inside SQL text (general log, processlist, an error's ``near``).
This needs MariaDB (``PASSWORD()`` is gone from MySQL 8); the reference runs MariaDB.

The server protocol takes parameters in SELECTs only where a value stands, never for identifiers nor
in account-management statements: there the database and user names (from the catalog) are checked
against a strict pattern and quoted with backticks, and hosts and hashes (checked too) are escaped as
string literals by the driver (``%s``). Driver exceptions become :class:`DatabaseUnavailable` (retry
later) or :class:`DatabaseRefused` (a statement the server refused), with the server's code and
message and never a password or hash.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncmy
from asyncmy import errors as driver

from cloudpods_operator import databases
from cloudpods_operator.databases import Changes, DatabaseGrant, Login, SchemaGrant, ServerState
from cloudpods_operator.errors import OperatorError

T = TypeVar("T")

_DATABASE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_USER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_HASH = re.compile(r"\*[0-9A-F]{40}|[0-9a-f]{16}")
_NATIVE = {"mysql_native_password", "mysql_old_password", ""}
_MASK = "******"
# Server errors that mean the connection, not the statement, failed: too many connections, shutdown
# in progress, aborted connection, network read/write errors and timeouts, connection killed.
_GONE = {1040, 1053, 1152, 1153, 1158, 1159, 1160, 1161, 1184, 1927, 4031}

_driver_connect: Callable[..., Awaitable[Any]] = asyncmy.connect


class DatabaseUnavailable(OperatorError):
    """MySQL cannot be used now: unreachable, refusing the login (wrong password), too slow, or the
    connection broke. Retry later (with backoff); the :class:`MySQL` it came from is closed."""

    def __init__(self, address: str, reason: str, code: int | None = None) -> None:
        suffix = f" (error {code})" if code else ""
        super().__init__(f"MySQL at {address} is unavailable: {reason}{suffix}")
        self.address = address
        self.reason = reason
        self.code = code


class DatabaseRefused(OperatorError):
    """The server refused a statement (privileges, a bad name): resending it fails alike."""

    def __init__(self, address: str, statement: str, code: int | None, message: str) -> None:
        super().__init__(f"MySQL at {address} refused {statement}: ({code}) {message}")
        self.address = address
        self.statement = statement
        self.code = code
        self.message = message


@dataclass(frozen=True)
class EnsureResult:
    """What one :meth:`MySQL.ensure` sent; ``sent.empty`` (no DDL) at rest."""

    sent: Changes = field(default_factory=Changes)

    @property
    def counts(self) -> dict[str, int]:
        """Statements sent, per kind."""
        return {
            "CREATE DATABASE": len(self.sent.databases),
            "CREATE USER": len(self.sent.users),
            "ALTER USER": len(self.sent.passwords),
            "GRANT": len(self.sent.grants),
        }

    @property
    def statements(self) -> int:
        return sum(self.counts.values())


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return text


def _code_and_message(exc: BaseException, secrets: Iterable[str]) -> tuple[int | None, str]:
    """The server's (or driver's) error code and message, with every secret masked."""
    args = exc.args
    if len(args) >= 2 and isinstance(args[0], int):
        code, message = args[0] or None, str(args[1])
    else:
        code, message = None, str(exc) or type(exc).__name__
    return code, _scrub(message, secrets)


def _unavailable(exc: BaseException) -> bool:
    """True when the error is the connection's, not the statement's."""
    if isinstance(exc, OSError | EOFError | driver.InterfaceError):
        return True
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    return isinstance(exc, driver.OperationalError) and (code is None or code >= 2000 or code in _GONE)


def database_name(name: str) -> str:
    """``name`` quoted as an identifier, after checking it is a plain database name."""
    if not _DATABASE.fullmatch(name):
        raise ValueError(f"not a database name the operator creates: {name!r}")
    return f"`{name}`"


def user_name(name: str) -> str:
    """``name`` quoted as an identifier, after checking it is a plain user name."""
    if not _USER.fullmatch(name):
        raise ValueError(f"not a user name the operator creates: {name!r}")
    return f"`{name}`"


def _host(host: str) -> str:
    if host != "%":
        ipaddress.ip_address(host)  # ValueError for anything but an IP literal
    return host


async def connect(host: str, port: int, user: str, password: str, *, timeout: float = 10.0) -> MySQL:  # noqa: ASYNC109 - the connection's deadline for every call
    """Log in to MySQL at ``host:port``; ``timeout`` bounds the login and then every statement."""
    address = _address(host, port)
    try:
        async with asyncio.timeout(timeout):
            conn = await _driver_connect(
                host=host,
                port=port,
                user=user,
                password=password,
                autocommit=True,
                charset="utf8mb4",
                connect_timeout=max(1, math.ceil(timeout)),
            )
    except TimeoutError:
        raise DatabaseUnavailable(address, f"no answer within {timeout:g}s") from None
    except (driver.MySQLError, OSError, EOFError) as exc:
        code, message = _code_and_message(exc, (password,))
        raise DatabaseUnavailable(address, message, code) from None
    return MySQL(conn, address, timeout)


class MySQL:
    """One open connection (autocommit). Not for concurrent use from several tasks: calls queue on a
    lock. After :class:`DatabaseUnavailable` it is closed: :func:`connect` again."""

    def __init__(self, conn: Any, address: str, timeout: float) -> None:
        self._conn = conn
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._hash_statement: tuple[int, Any] | None = None
        self._closed = False
        self.address = address

    @property
    def closed(self) -> bool:
        """True after :meth:`close`, or once the connection broke."""
        return self._closed or not self._conn.connected

    async def close(self) -> None:
        """Say goodbye (bounded by the timeout) and close the socket; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(self._timeout):
                await self._conn.ensure_closed()
        except (TimeoutError, driver.MySQLError, OSError, EOFError):
            self._conn.close()

    async def state(self, grants: Sequence[DatabaseGrant]) -> ServerState:
        """What the server has of the rows' databases, accounts and grants (SELECTs only)."""
        async with self._lock:
            return await self._state(grants)

    async def ensure(self, grants: Sequence[DatabaseGrant], credentials: Mapping[str, str]) -> EnsureResult:
        """Send what differs between the rows (passwords from ``credentials``) and the server."""
        rows = tuple(grants)
        for row in rows:  # every name checked before anything is sent
            database_name(row.database)
            user_name(row.user)
        for host in databases.HOSTS:
            _host(host)
        missing = [key for key in databases.password_keys(rows) if not credentials.get(key)]
        if missing:
            raise databases.MissingPassword(missing[0])
        async with self._lock:
            passwords = {key: credentials[key] for key in databases.password_keys(rows)}
            hashes = await self._hashes(passwords)
            todo = databases.changes(rows, await self._state(rows), hashes)
            secrets = (*passwords.values(), *hashes.values())
            for db in todo.databases:
                quoted = database_name(db)
                await self._execute(f"CREATE DATABASE {quoted}", f"CREATE DATABASE IF NOT EXISTS {quoted}")
            for login, key in todo.users:
                await self._account("CREATE USER IF NOT EXISTS", login, hashes[key], secrets)
            for login, key in todo.passwords:
                await self._account("ALTER USER", login, hashes[key], secrets)
            for grant in todo.grants:
                on = f"{database_name(grant.database)}.* TO {user_name(grant.login.user)}"
                args = (_host(grant.login.host),)
                await self._execute(
                    f"GRANT ALL ON `{grant.database}`.* TO {grant.login}", f"GRANT ALL ON {on}@%s", args
                )
        return EnsureResult(todo)

    # ---- internals --------------------------------------------------------------------------

    async def _account(self, verb: str, login: Login, hashed: str, secrets: Sequence[str]) -> None:
        sql = f"{verb} {user_name(login.user)}@%s IDENTIFIED BY PASSWORD %s"
        await self._execute(f"{verb.split(' IF ')[0]} {login}", sql, (_host(login.host), hashed), secrets)

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]], secrets: Iterable[str] = ()) -> T:
        """Run one round trip under the timeout, translating the driver's exceptions."""
        if self.closed:
            raise DatabaseUnavailable(self.address, "the connection is closed")
        try:
            async with asyncio.timeout(self._timeout):
                return await fn()
        except TimeoutError:
            self._abort()
            raise DatabaseUnavailable(self.address, f"{what}: no answer within {self._timeout:g}s") from None
        except (driver.MySQLError, OSError, EOFError) as exc:
            code, message = _code_and_message(exc, secrets)
            if _unavailable(exc):
                self._abort()
                raise DatabaseUnavailable(self.address, f"{what}: {message}", code) from None
            raise DatabaseRefused(self.address, what, code, message) from None

    def _abort(self) -> None:
        self._closed = True
        self._conn.close()

    async def _execute(
        self, what: str, sql: str, args: tuple[str, ...] | None = None, secrets: Iterable[str] = ()
    ) -> None:
        async def run() -> None:
            async with self._conn.cursor() as cursor:
                await cursor.execute(sql, args)

        await self._call(what, run, secrets)

    async def _select(self, what: str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        async def run() -> tuple[list[str], list[tuple[Any, ...]]]:
            async with self._conn.cursor() as cursor:
                await cursor.execute(sql)
                rows = await cursor.fetchall()
                return [d[0] for d in cursor.description or ()], list(rows)

        return await self._call(what, run)

    async def _hashes(self, passwords: Mapping[str, str]) -> dict[str, str]:
        """The server's hash of each password: one prepared ``SELECT PASSWORD(?), …`` (kept for the
        connection's life while the number of passwords stays the same)."""
        keys = list(passwords)
        if not keys:
            return {}
        what = "SELECT PASSWORD(?)"
        secrets = list(passwords.values())

        async def run() -> tuple[Any, ...]:
            if self._hash_statement is None or self._hash_statement[0] != len(keys):
                if self._hash_statement is not None:
                    await self._hash_statement[1].close()
                    self._hash_statement = None
                statement = await self._conn.prepare("SELECT " + ", ".join(["PASSWORD(?)"] * len(keys)))
                self._hash_statement = (len(keys), statement)
            result = await self._hash_statement[1].execute(tuple(passwords[k] for k in keys))
            return tuple(result.rows[0])

        values = [str(v) for v in await self._call(what, run, secrets)]
        if not all(_HASH.fullmatch(v) for v in values):
            raise DatabaseRefused(self.address, what, None, "the server returned no password hash")
        return dict(zip(keys, values, strict=True))

    async def _state(self, grants: Sequence[DatabaseGrant]) -> ServerState:
        wanted_dbs = {g.database for g in grants}
        wanted_logins = databases.logins(grants)
        _, schemata = await self._select(
            "SELECT FROM information_schema.SCHEMATA", "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"
        )
        _, users = await self._select(
            "SELECT FROM mysql.user", "SELECT User, Host, plugin, authentication_string FROM mysql.user"
        )
        columns, db_rows = await self._select("SELECT FROM mysql.db", "SELECT * FROM mysql.db")
        passwords: dict[Login, str | None] = {}
        for user, host, plugin, auth in users:
            login = Login(str(user), str(host))
            if login in wanted_logins:
                native = str(plugin) in _NATIVE and _HASH.fullmatch(str(auth)) is not None
                passwords[login] = str(auth) if native else None
        return ServerState(
            databases=frozenset(str(name) for (name,) in schemata) & wanted_dbs,
            passwords=passwords,
            grants=frozenset(_full_grants(columns, db_rows)) & set(databases.schema_grants(grants)),
        )


def _full_grants(columns: list[str], rows: Iterable[tuple[Any, ...]]) -> Iterable[SchemaGrant]:
    """The ``mysql.db`` rows that have every database privilege (all ``*_priv`` columns but
    ``Grant_priv``: what ``GRANT ALL`` gives on this server version). ``Db`` is a pattern: the
    reference grants on the bare name (``_`` a wildcard), an escaped ``\\_`` is the same name."""
    index = {name: i for i, name in enumerate(columns)}
    privileges = [i for name, i in index.items() if name.endswith("_priv") and name != "Grant_priv"]
    for row in rows:
        if all(str(row[i]) == "Y" for i in privileges):
            database = str(row[index["Db"]]).replace("\\_", "_").replace("\\%", "%")
            yield SchemaGrant(database, Login(str(row[index["User"]]), str(row[index["Host"]])))
