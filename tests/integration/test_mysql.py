"""mysql.py against a real MariaDB (tests/integration/mariadb.py): no Kubernetes.

The catalog's FullStack databases are ensured once (module fixture ``first``) on the session's
server; every test after that starts from that state. Each ensure() here is counted twice, by its
:class:`EnsureResult` and by the server's ``Com_*`` counters, and must never drop or revoke.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncmy
import pytest

from cloudpods_operator import catalog, credentials, databases, mysql
from cloudpods_operator.databases import DatabaseGrant
from cloudpods_operator.mysql import DatabaseRefused, DatabaseUnavailable, EnsureResult

from .helpers import free_port
from .mariadb import (
    MariaDB,
    mariadb_fixture,  # noqa: F401  (registers the session fixture `mariadb`)
    start,
)

pytestmark = pytest.mark.integration

COUNTER_OF = {
    "CREATE DATABASE": "Com_create_db",
    "CREATE USER": "Com_create_user",
    "ALTER USER": "Com_alter_user",
    "GRANT": "Com_grant",
}
NEVER = ("Com_drop_db", "Com_drop_user", "Com_revoke")


@pytest.fixture(scope="session")
def _no_operator_outlives_the_cluster() -> Iterator[None]:
    """conftest's autouse guard needs a Kubernetes cluster; this module starts no operator and needs none."""
    yield


def _full_stack_rows(creds: dict[str, str]) -> tuple[DatabaseGrant, ...]:
    enabled = [
        (c.name, c)
        for c in catalog.COMPONENTS
        if "FullStack" in c.products and c.db is not None and c.owns_account
    ]
    return databases.desired(enabled, creds)


@dataclass
class Catalog:
    """The FullStack rows, their passwords, and what the first ensure() on the server sent."""

    rows: tuple[DatabaseGrant, ...]
    creds: dict[str, str]
    first: EnsureResult
    first_counters: dict[str, int]


async def _ensure(
    server: MariaDB, db: mysql.MySQL, rows: tuple[DatabaseGrant, ...], creds: dict[str, str]
) -> EnsureResult:
    """ensure(), checked against the server's counters: what it says it sent is what the server ran."""
    before = await server.ddl()
    result = await db.ensure(rows, creds)
    after = await server.ddl()
    delta = {name: after[name] - before[name] for name in after}
    assert {kind: delta[counter] for kind, counter in COUNTER_OF.items()} == result.counts
    assert {name: delta[name] for name in NEVER} == dict.fromkeys(NEVER, 0)
    return result


@pytest.fixture(scope="module")
async def first(mariadb: MariaDB) -> AsyncIterator[Catalog]:
    creds = {key: credentials.password() for key in credentials.password_keys()}
    rows = _full_stack_rows(creds)
    db = await mysql.connect(mariadb.host, mariadb.port, "root", mariadb.root_password, timeout=10)
    try:
        before = await db.state(rows)
        assert before == databases.ServerState(), "the session's MariaDB already has catalog databases"
        result = await _ensure(mariadb, db, rows, creds)
    finally:
        await db.close()
    yield Catalog(rows, creds, result, result.counts)


@pytest.fixture
async def root(mariadb: MariaDB) -> AsyncIterator[mysql.MySQL]:
    db = await mysql.connect(mariadb.host, mariadb.port, "root", mariadb.root_password, timeout=10)
    try:
        yield db
    finally:
        await db.close()


async def _can_use(server: MariaDB, user: str, password: str, database: str) -> int:
    """Log in from 127.0.0.1, create a table in the database, add a row; the table's row count."""
    conn = await server.login(user, password, database)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(
                "CREATE TABLE IF NOT EXISTS probe (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT)"
            )
            await cursor.execute("INSERT INTO probe (v) VALUES (%s)", (user,))
            await cursor.execute("SELECT COUNT(*) FROM probe")
            (count,) = await cursor.fetchone()
            return int(count)
    finally:
        await conn.ensure_closed()


async def test_the_first_ensure_creates_every_database_user_and_grant(first: Catalog) -> None:
    rows = first.rows
    hosts = len(databases.HOSTS)
    assert len(rows) == 26
    assert first.first.counts == {
        "CREATE DATABASE": len(rows),
        "CREATE USER": hosts * len({r.user for r in rows}),
        "ALTER USER": 0,
        "GRANT": hosts * len(rows),
    }
    itsm = next(r for r in rows if r.user == "itsm")
    assert itsm.database == "itsm_engine"
    assert any(r.user == "yunionmonitor" and r.database == "monitor" for r in rows)


async def test_every_user_logs_in_and_uses_its_database(first: Catalog, mariadb: MariaDB) -> None:
    counts = await asyncio.gather(
        *(_can_use(mariadb, r.user, first.creds[r.password_key], r.database) for r in first.rows)
    )
    assert all(n >= 1 for n in counts)


async def test_a_second_ensure_sends_no_ddl(first: Catalog, mariadb: MariaDB, root: mysql.MySQL) -> None:
    for _ in range(2):  # the same connection, reused as on every resync
        result = await _ensure(mariadb, root, first.rows, first.creds)
        assert result.statements == 0
        assert result.sent.empty
    assert not root.closed


async def test_a_changed_password_alters_that_user_only(
    first: Catalog, mariadb: MariaDB, root: mysql.MySQL
) -> None:
    row = next(r for r in first.rows if r.user == "yunionmonitor")
    old = first.creds[row.password_key]
    new = credentials.password()
    changed = first.creds | {row.password_key: new}
    try:
        result = await _ensure(mariadb, root, first.rows, changed)
        assert result.counts == {"CREATE DATABASE": 0, "CREATE USER": 0, "ALTER USER": 3, "GRANT": 0}
        assert {str(login) for login, _ in result.sent.passwords} == {
            f"'yunionmonitor'@'{h}'" for h in databases.HOSTS
        }
        assert await _can_use(mariadb, row.user, new, row.database) >= 1
        with pytest.raises(asyncmy.errors.OperationalError) as denied:
            await mariadb.login(row.user, old, row.database)
        assert denied.value.args[0] == 1045
        assert (await _ensure(mariadb, root, first.rows, changed)).statements == 0
    finally:
        restored = await _ensure(mariadb, root, first.rows, first.creds)
    assert restored.counts["ALTER USER"] == 3


async def test_a_database_with_rows_survives_any_ensure(
    first: Catalog, mariadb: MariaDB, root: mysql.MySQL
) -> None:
    row = next(r for r in first.rows if r.user == "glance")
    await mariadb.query(f"CREATE TABLE IF NOT EXISTS `{row.database}`.keep (id INT PRIMARY KEY)")
    await mariadb.query(f"INSERT IGNORE INTO `{row.database}`.keep VALUES (1), (2), (3)")
    # Someone removed one account and cut a grant of another: ensure() puts them back, drops nothing.
    await mariadb.query("DROP USER 'glance'@'::1'")
    await mariadb.query(f"REVOKE DELETE ON `{row.database}`.* FROM 'glance'@'127.0.0.1'")
    repaired = await _ensure(mariadb, root, first.rows, first.creds)
    assert repaired.counts == {"CREATE DATABASE": 0, "CREATE USER": 1, "ALTER USER": 0, "GRANT": 2}
    changed = first.creds | {row.password_key: credentials.password()}
    await _ensure(mariadb, root, first.rows, changed)
    await _ensure(mariadb, root, first.rows, first.creds)
    assert await mariadb.query(f"SELECT id FROM `{row.database}`.keep ORDER BY id") == [(1,), (2,), (3,)]
    assert await _can_use(mariadb, row.user, first.creds[row.password_key], row.database) >= 1


# ---- faults -------------------------------------------------------------------------------------

SECRET = "Sup3r-Secret-Root-Pw"


def _no_secret(exc: BaseException, *secrets: str) -> None:
    text = f"{exc} {exc!r} {exc.args} {exc.__cause__!r} {exc.__context__!r}"
    assert not any(s in text for s in (SECRET, *secrets))


async def test_an_unreachable_server_is_unavailable() -> None:
    port = free_port()
    with pytest.raises(DatabaseUnavailable, match=rf"MySQL at 127\.0\.0\.1:{port} is unavailable: ") as err:
        await mysql.connect("127.0.0.1", port, "root", SECRET, timeout=5)
    assert "Can't connect" in str(err.value)
    assert err.value.code == 2003
    _no_secret(err.value)


async def test_a_wrong_root_password_is_unavailable(mariadb: MariaDB) -> None:
    with pytest.raises(DatabaseUnavailable, match=r"Access denied for user 'root'@'127\.0\.0\.1'") as err:
        await mysql.connect(mariadb.host, mariadb.port, "root", SECRET, timeout=5)
    assert err.value.code == 1045
    _no_secret(err.value, mariadb.root_password)


async def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with pytest.raises(DatabaseUnavailable, match=r"no answer within 0\.5s") as err:
            await mysql.connect("127.0.0.1", port, "root", SECRET, timeout=0.5)
    _no_secret(err.value)


async def test_a_stopped_server_is_unavailable(first: Catalog) -> None:
    async with start() as server:
        db = await mysql.connect(server.host, server.port, "root", server.root_password, timeout=5)
        try:
            assert server.process is not None
            server.process.terminate()
            await server.process.wait()
            with pytest.raises(
                DatabaseUnavailable, match=f"MySQL at 127.0.0.1:{server.port} is unavailable"
            ) as err:
                await db.ensure(first.rows, first.creds)
            assert db.closed
            _no_secret(err.value, server.root_password, *first.creds.values())
            with pytest.raises(DatabaseUnavailable, match="the connection is closed"):
                await db.ensure(first.rows, first.creds)
        finally:
            await db.close()


@pytest.mark.parametrize(
    ("grant", "statement", "code"),
    [
        ("GRANT SELECT ON mysql.* TO `weak_reader`@'127.0.0.1'", "CREATE DATABASE `", 1044),
        (None, "SELECT FROM mysql.user", 1142),
    ],
    ids=["may-read", "nothing"],
)
async def test_a_user_without_privileges_is_refused(
    first: Catalog,
    mariadb: MariaDB,
    grant: str | None,
    statement: str,
    code: int,
) -> None:
    user = "weak_reader" if grant else "weak_nothing"
    await mariadb.query(f"CREATE USER IF NOT EXISTS `{user}`@'127.0.0.1' IDENTIFIED BY %s", (SECRET,))
    if grant:
        await mariadb.query(grant)
    db = await mysql.connect(mariadb.host, mariadb.port, user, SECRET, timeout=5)
    try:
        with pytest.raises(DatabaseRefused) as err:
            await db.ensure(first.rows, first.creds)
        assert err.value.statement.startswith(statement)
        assert err.value.code == code
        assert f"{user}'@'127.0.0.1'" in err.value.message
        assert not db.closed
        _no_secret(err.value, *first.creds.values())
    finally:
        await db.close()
