"""Process helpers: detached spawning, liveness that survives pid reuse, graceful termination."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, suppress
from pathlib import Path

# Processes started by this Python process, so that `stop` can reap them (no zombie is left in a long-lived
# parent such as a pytest session). They run in their own session and outlive a short-lived parent (the
# `up` command), after which the init process is their parent.
_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn(argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> int:
    """Start argv in its own session (stdin /dev/null, output appended to log); return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            close_fds=True,
        )
    _children[proc.pid] = proc
    return proc.pid


def reap() -> None:
    """Collect the exit status of our children that have ended (stopped by us or by another process)."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a live pid from /proc, or None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def start_time(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def alive(pid: int, started: int | None = None) -> bool:
    """True if pid runs and (when `started` is known) is still the process we started, not a reused pid."""
    if pid <= 0:
        return False
    child = _children.get(pid)
    if child is not None:  # our own child: its pid cannot be reused before we reap it here
        return child.poll() is None
    if Path("/proc/self/stat").exists():
        stat = _proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return False
        return started is None or stat[1] == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate(procs: Sequence[tuple[int, int | None]], timeout: float = 15.0) -> list[int]:
    """SIGTERM every (pid, start_time) still ours, wait up to `timeout`, then SIGKILL the rest.

    Returns the pids that had to be killed."""
    live = [(pid, st) for pid, st in procs if alive(pid, st)]
    for pid, _ in live:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid, st) for pid, st in live):
        time.sleep(0.05)
    killed = [pid for pid, st in live if alive(pid, st)]
    for pid in killed:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid, st) for pid, st in live):
        time.sleep(0.05)
    return killed


def _signal(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, sig)


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (held open together while choosing, then released)."""
    with ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(data.splitlines()[-lines:])
