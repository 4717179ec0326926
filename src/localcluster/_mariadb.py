"""A throwaway MariaDB server in the background, for `make demo` (the server the MySQL tests start, kept).

`start(root)` wipes `root`, initialises a datadir there (`mariadb-install-db`), runs `mariadbd` on
127.0.0.1 and a free port in its own session, polls a real login until it succeeds (bounded), gives root
at 127.0.0.1, localhost and ::1 a fresh password, and records pid, port and password in
`root/../mariadb.json` (mode 0600). `stop(root)` terminates the recorded server if it still is ours.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import _procs
from .errors import LocalClusterError

INSTALL_HINT = "`make install` runs hack/mariadb/install.sh (Debian's mariadb-server)"
_SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"])


@dataclass
class Server:
    pid: int
    start_time: int | None
    port: int
    root_password: str
    datadir: str
    log: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def _state_file(root: Path) -> Path:
    return root.parent / f"{root.name}.json"


def load(root: Path) -> Server | None:
    try:
        return Server(**json.loads(_state_file(root).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _which(name: str) -> str:
    found = shutil.which(name, path=_SEARCH)
    if found is None:
        raise LocalClusterError(f"{name} not found: {INSTALL_HINT}")
    return found


async def _login(port: int, password: str) -> object:
    import asyncmy

    return await asyncmy.connect(
        host="127.0.0.1", port=port, user="root", password=password, autocommit=True, connect_timeout=3
    )


async def _await_and_secure(server: Server, timeout: float) -> None:  # noqa: ASYNC109 - one deadline
    import asyncmy

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn: object = await _login(server.port, "")
            break
        except (asyncmy.errors.MySQLError, OSError) as exc:
            if not _procs.alive(server.pid, server.start_time):
                raise LocalClusterError(f"mariadbd exited:\n{_procs.tail(Path(server.log), 20)}") from exc
            if time.monotonic() >= deadline:
                raise LocalClusterError(f"mariadbd not ready after {timeout:g}s: {exc}") from exc
            await asyncio.sleep(0.1)
    try:
        async with conn.cursor() as cursor:  # type: ignore[attr-defined]
            for host in ("127.0.0.1", "localhost", "::1"):
                sql = "ALTER USER 'root'@%s IDENTIFIED BY %s"
                await cursor.execute(sql, (host, server.root_password))
    finally:
        await conn.ensure_closed()  # type: ignore[attr-defined]


def start(root: Path, timeout: float = 60.0) -> Server:
    """A fresh server with its datadir, socket and log under `root` (removed first); see the module doc."""
    stop(root)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    user = ["--user=root"] if os.geteuid() == 0 else []
    datadir, log = root / "data", root / "error.log"
    init = [_which("mariadb-install-db"), "--no-defaults", f"--datadir={datadir}", *user]
    init += ["--auth-root-authentication-method=normal", "--skip-test-db"]
    done = subprocess.run(init, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise LocalClusterError(f"mariadb-install-db failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    port = _procs.free_ports(1)[0]
    options = {
        "datadir": datadir,
        "port": port,
        "bind-address": "127.0.0.1",
        "socket": root / "mysqld.sock",
        "pid-file": root / "mysqld.pid",
        "log-error": log,
        "innodb-buffer-pool-size": "32M",
    }
    argv = [_which("mariadbd"), "--no-defaults", *user, "--skip-name-resolve", "--skip-log-bin"]
    argv += [f"--{key}={value}" for key, value in options.items()]
    pid = _procs.spawn(argv, root / "mariadbd.out")
    server = Server(pid, _procs.start_time(pid), port, secrets.token_urlsafe(18), str(datadir), str(log))
    fd = os.open(_state_file(root), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(server), fh)
    try:
        asyncio.run(_await_and_secure(server, timeout))
    except BaseException:
        stop(root)
        raise
    return server


def stop(root: Path) -> Server | None:
    """Terminate the recorded server if it still runs (and is the process recorded); the server or None."""
    server = load(root)
    _state_file(root).unlink(missing_ok=True)
    if server is None or not _procs.alive(server.pid, server.start_time):
        return None
    _procs.terminate([(server.pid, server.start_time)], timeout=20)
    _procs.reap()
    return server
