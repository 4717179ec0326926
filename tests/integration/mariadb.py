"""A real MariaDB for the MySQL tests: Debian's ``mariadb-server`` binaries, a throwaway server.

:func:`start` initialises a datadir (``mariadb-install-db``) in a temporary directory, runs ``mariadbd``
on 127.0.0.1 and a free port (``--user=root`` as root), polls a real login until it succeeds (bounded;
no fixed sleep), gives root at 127.0.0.1, localhost and ::1 a password, and at the end terminates
the server (then kills it if it has not exited within 10 s). The session fixture ``mariadb`` is one
such server; pytest only loads conftest.py, so a test module imports it (the function's name differs
from the fixture's, so a test's ``mariadb`` argument shadows no import)::

    from .mariadb import mariadb_fixture  # noqa: F401  (registers the session fixture `mariadb`)

The binaries come from ``hack/mariadb/install.sh`` (``make install`` runs it). Missing, the fixture
fails with how to install them: it never skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncmy
import pytest

from .helpers import free_port

INSTALL_HINT = (
    "run `make install` (hack/mariadb/install.sh installs Debian's mariadb-server when mariadbd is"
    " missing), or `apt-get update && apt-get install -y mariadb-server`"
)
DDL_COUNTERS = (
    "Com_create_db",
    "Com_create_user",
    "Com_alter_user",
    "Com_grant",
    "Com_drop_db",
    "Com_drop_user",
    "Com_revoke",
    "Com_rename_user",
)
"""The ``SHOW GLOBAL STATUS`` counters of the statements :meth:`MariaDB.ddl` reports."""
_SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"])


def binary(name: str) -> str:
    """The path of a MariaDB binary; fails the test with how to install it when missing."""
    found = shutil.which(name, path=_SEARCH)
    if found is None:
        pytest.fail(f"{name} not found: {INSTALL_HINT}", pytrace=False)
    return found


@dataclass
class MariaDB:
    """One running server: where it listens, root's password, and the DDL it has executed."""

    host: str
    port: int
    root_password: str
    datadir: Path
    version: str = ""
    startup_seconds: float = 0.0
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    async def login(self, user: str, password: str, database: str | None = None) -> Any:
        """A new asyncmy connection (autocommit) as ``user``; the caller closes it."""
        return await asyncmy.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=password,
            database=database,
            autocommit=True,
            connect_timeout=5,
        )

    async def query(self, sql: str, args: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement as root on a connection of its own; its rows."""
        conn = await self.login("root", self.root_password)
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(sql, args)
                return list(await cursor.fetchall())
        finally:
            await conn.ensure_closed()

    async def status(self, name: str) -> int:
        """One ``SHOW GLOBAL STATUS`` counter (``Com_create_db``, ``Com_alter_user``, ...)."""
        rows = await self.query("SHOW GLOBAL STATUS WHERE Variable_name = %s", (name,))
        if not rows:
            raise KeyError(f"no global status variable {name}")
        return int(rows[0][1])

    async def ddl(self) -> dict[str, int]:
        """Every counter of :data:`DDL_COUNTERS`, in one round trip."""
        marks = ", ".join(["%s"] * len(DDL_COUNTERS))
        rows = await self.query(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({marks})", DDL_COUNTERS)
        return {str(name): int(value) for name, value in rows}

    async def restart(self, ready_timeout: float = 30.0) -> None:
        """Start the server again on the same datadir and port (after a test stopped it): its data,
        users and root password are as they were."""
        assert self.process is not None and self.process.returncode is not None, "stop it first"
        self.process = await _spawn(self)
        await _wait_ready(self, self.process, ready_timeout, password=self.root_password)

    def error_log(self, lines: int = 20) -> str:
        path = self.datadir.parent / "error.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


async def _run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed ({proc.returncode}):\n{out.decode(errors='replace')}")
    return out.decode(errors="replace")


async def _stop(proc: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def _wait_ready(
    server: MariaDB,
    proc: asyncio.subprocess.Process,
    timeout: float,  # noqa: ASYNC109 - a deadline for all attempts
    *,
    password: str = "",
) -> None:
    """Poll a real login as root (no password at first) until it succeeds, the server exits, or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await server.login("root", password)
        except (asyncmy.errors.MySQLError, OSError) as exc:
            if proc.returncode is not None:
                pytest.fail(f"mariadbd exited ({proc.returncode}):\n{server.error_log()}", pytrace=False)
            if time.monotonic() >= deadline:
                pytest.fail(f"mariadbd not ready after {timeout:g}s ({exc}):\n{server.error_log()}")
            await asyncio.sleep(0.05)
        else:
            await conn.ensure_closed()
            return


@contextlib.asynccontextmanager
async def start(ready_timeout: float = 30.0) -> AsyncIterator[MariaDB]:
    """A fresh server in a temporary directory, removed with the server when the block ends."""
    install_db = binary("mariadb-install-db")
    as_root = ("--user=root",) if os.geteuid() == 0 else ()
    with tempfile.TemporaryDirectory(prefix="cloudpods-mariadb-") as tmp:
        root = Path(tmp)
        datadir = root / "data"
        started = time.monotonic()
        await _run(
            install_db,
            "--no-defaults",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *as_root,
        )
        server = MariaDB("127.0.0.1", free_port(), secrets.token_urlsafe(18), datadir)
        proc = await _spawn(server)
        server.process = proc
        try:
            await _wait_ready(server, proc, ready_timeout)
            conn = await server.login("root", "")
            try:
                async with conn.cursor() as cursor:
                    for host in ("127.0.0.1", "localhost", "::1"):
                        await cursor.execute(
                            "ALTER USER 'root'@%s IDENTIFIED BY %s", (host, server.root_password)
                        )
                    await cursor.execute("SELECT VERSION()")
                    (version,) = await cursor.fetchone()
            finally:
                await conn.ensure_closed()
            server.version = str(version)
            server.startup_seconds = time.monotonic() - started
            yield server
        finally:
            await _stop(server.process)


async def _spawn(server: MariaDB) -> asyncio.subprocess.Process:
    """``mariadbd`` on the server's datadir and port (its files beside the datadir)."""
    root = server.datadir.parent
    as_root = ("--user=root",) if os.geteuid() == 0 else ()
    return await asyncio.create_subprocess_exec(
        binary("mariadbd"),
        "--no-defaults",
        f"--datadir={server.datadir}",
        f"--port={server.port}",
        "--bind-address=127.0.0.1",
        f"--socket={root / 'mysqld.sock'}",
        f"--pid-file={root / 'mysqld.pid'}",
        f"--log-error={root / 'error.log'}",
        "--skip-name-resolve",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=32M",
        *as_root,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


@pytest.fixture(scope="session", name="mariadb")
async def mariadb_fixture() -> AsyncIterator[MariaDB]:
    """``mariadb``: one MariaDB for the session (see the module docstring)."""
    async with start() as server:
        yield server
