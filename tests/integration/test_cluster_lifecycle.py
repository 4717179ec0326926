"""localcluster's own life cycle: a second `up` in a run directory is refused, and `down` leaves no process
and no listening port behind. Always runs the local control plane (whatever cluster the other tests use)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import localcluster

pytestmark = pytest.mark.integration


def _cli(*args: str, run_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcluster", *args, "--dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "LOCALCLUSTER_DIR": str(run_dir)},
    )


def _exists(pid: int) -> bool:
    """Independent of localcluster's own check: the pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_second_up_refused_and_down_leaves_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "cluster"
    lines: list[str] = []
    try:
        cluster = localcluster.start(run_dir, progress=lines.append)
    except localcluster.LocalClusterError as exc:
        pytest.fail(f"local control plane did not start:\n{exc}\n" + "\n".join(lines), pytrace=False)
    pids = cluster.pids
    ports = dict(cluster.ports)
    try:
        assert set(pids) == set(localcluster.COMPONENT_ORDER)
        assert all(_exists(pid) for pid in pids.values())
        assert _listening(ports["kube-apiserver"]) and _listening(ports["etcd-client"])

        # A second start in the same run directory is refused, by the library and by the CLI.
        with pytest.raises(localcluster.AlreadyRunningError):
            localcluster.start(run_dir)
        refused = _cli("up", run_dir=run_dir)
        assert refused.returncode != 0
        assert "already runs" in refused.stderr, refused.stderr
        assert all(_exists(pid) for pid in pids.values()), "a refused `up` must not disturb the running one"

        status = _cli("status", run_dir=run_dir)
        assert status.returncode == 0, status.stdout + status.stderr
        for name in localcluster.COMPONENT_ORDER:
            assert name in status.stdout
        assert " NO " not in status.stdout
        assert (run_dir / "kubeconfig").is_file()
    finally:
        down = _cli("down", run_dir=run_dir)
    assert down.returncode == 0, down.stdout + down.stderr

    assert [name for name, pid in pids.items() if _exists(pid)] == []
    assert [name for name, port in ports.items() if _listening(port)] == []
    assert not run_dir.exists()
    assert localcluster.status(run_dir) == []
