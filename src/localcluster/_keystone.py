"""A throwaway OpenStack Keystone v3 server on 127.0.0.1, for the keystone tests and `make demo`.

Cloudpods' keystone serves the standard v3 identity API, which is all the operator uses; OpenStack
Keystone (PyPI ``keystone``, its own venv from hack/keystone/install.sh, cached outside the repo) serves
the same. `start(root)` wipes `root`, writes a keystone.conf with a SQLite database there, runs
``keystone-manage db_sync``, ``fernet_setup`` and ``credential_setup``, starts keystone_serve.py on a
free port and waits (bounded) until ``GET /v3`` answers. `bootstrap(server, password)` is Cloudpods
keystone's first start: user ``sysadmin`` with that password, project ``system``, role ``admin``.
`stop(root)` terminates it; `resume(server)` starts it again on the same port and database.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from . import _procs
from .errors import LocalClusterError

VERSION = "30.0.0"
INSTALL_HINT = "`make install` runs hack/keystone/install.sh (OpenStack Keystone from PyPI in its own venv)"
_REPO = Path(__file__).resolve().parents[2]
_SERVE = Path(__file__).with_name("keystone_serve.py")


@dataclass
class Server:
    pid: int
    start_time: int | None
    port: int
    root: str
    venv: str
    tls: tuple[str, str] | None = None
    """(certificate file, key file): served over https."""

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v3"

    @property
    def access_log(self) -> Path:
        return Path(self.root) / "access.log"

    @property
    def config(self) -> Path:
        return Path(self.root) / "keystone.conf"

    def requests(self) -> list[tuple[str, str, int]]:
        """Every request served so far: (method, path, status)."""
        out = []
        for line in self.access_log.read_text().splitlines():
            method, path, status = line.split(" ")
            out.append((method, path, int(status) if status.isdigit() else 0))
        return out


def venv() -> Path:
    """The Keystone venv, installed by hack/keystone/install.sh when missing."""
    script = _REPO / "hack" / "keystone" / "install.sh"
    done = subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "KEYSTONE_VERSION": VERSION},
    )
    if done.returncode != 0:
        raise LocalClusterError(f"hack/keystone/install.sh failed ({done.returncode}): {done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _state_file(root: Path) -> Path:
    return root.parent / f"{root.name}.json"


def load(root: Path) -> Server | None:
    try:
        loaded = json.loads(_state_file(root).read_text())
        if loaded.get("tls"):
            loaded["tls"] = tuple(loaded["tls"])
        return Server(**loaded)
    except (OSError, ValueError, TypeError):
        return None


def _manage(env_dir: Path, config: Path, *args: str) -> None:
    argv = [str(env_dir / "bin" / "keystone-manage"), "--config-file", str(config), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise LocalClusterError(
            f"keystone-manage {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )


def _config(root: Path) -> str:
    return f"""[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///{root}/keystone.db
[fernet_tokens]
key_repository = {root}/fernet-keys
[fernet_receipts]
key_repository = {root}/fernet-keys
[credential]
key_repository = {root}/credential-keys
[token]
expiration = 3600
[identity]
password_hash_rounds = 4
"""


def _prepare(env_dir: Path, root: Path) -> None:
    config = root / "keystone.conf"
    config.write_text(_config(root))
    user, group = _owner()
    _manage(env_dir, config, "db_sync")
    _manage(env_dir, config, "fernet_setup", "--keystone-user", user, "--keystone-group", group)
    _manage(env_dir, config, "credential_setup", "--keystone-user", user, "--keystone-group", group)


def start(
    root: Path, timeout: float = 60.0, template: Path | None = None, tls: tuple[str, str] | None = None
) -> Server:
    """A fresh Keystone with its database and keys under `root` (removed first); see the module doc.

    ``template``: a directory a first call prepares (``db_sync`` and the keys, about 4 s) and later calls
    copy, so that each test gets an empty Keystone of its own in a second or two. ``tls``: a certificate
    and key file to serve https with."""
    stop(root)
    env_dir = venv()
    shutil.rmtree(root, ignore_errors=True)
    if template is None:
        root.mkdir(parents=True)
        _prepare(env_dir, root)
    else:
        if not (template / "keystone.db").is_file():
            shutil.rmtree(template, ignore_errors=True)
            template.mkdir(parents=True)
            _prepare(env_dir, template)
        shutil.copytree(template, root)
        (root / "keystone.conf").write_text(_config(root))
    return _spawn(Server(0, None, _procs.free_ports(1)[0], str(root), str(env_dir), tls), timeout)


def _owner() -> tuple[str, str]:
    import grp
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def _spawn(server: Server, timeout: float) -> Server:
    root = Path(server.root)
    argv = [str(Path(server.venv) / "bin" / "python"), "-W", "ignore", str(_SERVE)]
    argv += [str(server.config), str(server.port), str(server.access_log), *(server.tls or ())]
    server.pid = _procs.spawn(argv, root / "keystone.out")
    server.start_time = _procs.start_time(server.pid)
    _state_file(root).write_text(json.dumps(asdict(server)))
    try:
        return _await_answer(server, timeout)
    except BaseException:
        stop(root)  # never leave a server behind that nobody will stop
        raise


def _await_answer(server: Server, timeout: float) -> Server:
    root = Path(server.root)
    deadline = time.monotonic() + timeout
    while True:
        try:
            plain = ssl.create_default_context()
            plain.check_hostname, plain.verify_mode = False, ssl.CERT_NONE  # only: does it answer
            with urllib.request.urlopen(server.url, timeout=2, context=plain) as resp:
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, OSError) as exc:
            if not _procs.alive(server.pid, server.start_time):
                raise LocalClusterError(
                    f"keystone exited:\n{_procs.tail(root / 'keystone.out', 30)}"
                ) from exc
            if time.monotonic() >= deadline:
                raise LocalClusterError(f"keystone not answering after {timeout:g}s: {exc}") from exc
        time.sleep(0.1)


def bootstrap(server: Server, password: str) -> None:
    """Cloudpods keystone's first start: ``sysadmin`` (this password), project ``system``, role ``admin``."""
    _manage(
        Path(server.venv),
        server.config,
        "bootstrap",
        "--bootstrap-username",
        "sysadmin",
        "--bootstrap-password",
        password,
        "--bootstrap-project-name",
        "system",
        "--bootstrap-role-name",
        "admin",
    )


def resume(server: Server, timeout: float = 60.0) -> Server:
    """Start a stopped server again: same port, database and keys."""
    return _spawn(server, timeout)


def running(server: Server) -> bool:
    return _procs.alive(server.pid, server.start_time)


def stop(root: Path) -> Server | None:
    """Terminate the recorded server if it still runs (and is the process recorded); the server or None."""
    server = load(root)
    if server is None or not _procs.alive(server.pid, server.start_time):
        return server
    _procs.terminate([(server.pid, server.start_time)], timeout=20)
    _procs.reap()
    return server
