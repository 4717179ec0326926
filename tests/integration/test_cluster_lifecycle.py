"""localcluster's own life cycle: a second `up` in a run directory is refused, and `down` leaves no process
and no listening port behind, the demo's included. Always runs the local control plane (whatever cluster
the other tests use)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import localcluster
from localcluster import _keystone, _mariadb, demo

from .helpers import free_port, wait_for
from .operator_process import OperatorProcess

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


def _dead_api_kubeconfig(path: Path) -> Path:
    """A kubeconfig naming an API server that is gone (nothing listens on its port)."""
    server = f"https://127.0.0.1:{free_port()}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "demo", "user": {"token": "t"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "demo"}}],
        "current-context": "gone",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_down_stops_what_the_demo_started_against_that_control_plane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make cluster-down` after `make demo` left the demo's operator retrying a dead API server, holding
    :8080 (issue 17). The demo's processes here are real: a `cloudpods-operator run`, MariaDB, Keystone,
    recorded the way the demo records them; the control plane is already gone."""
    cache = tmp_path / "cache"
    state = cache / "demo"
    state.mkdir(parents=True)
    monkeypatch.setenv("CLOUDPODS_OPERATOR_CACHE", str(cache))  # demo.state_dir(), here and in `down`
    run_dir = tmp_path / "cluster"
    demo.record_cluster(state, run_dir)
    mysql = _mariadb.start(state / "mariadb")
    keystone = _keystone.start(state / "keystone")
    operator = OperatorProcess(_dead_api_kubeconfig(tmp_path / "kubeconfig"), log_path=tmp_path / "op.log")
    operator.start(wait_ready=False)
    assert operator.proc is not None
    try:
        wait_for(lambda: operator.get("/healthz")[0] == 200, 60, what="/healthz", retry_on=(OSError,))
        info = demo.OperatorState(
            operator.proc.pid, str(operator.log_path), str(operator.kubeconfig), operator.metrics_port,
            operator.health_port, time.time(),
        )  # fmt: skip
        (state / "operator.json").write_text(json.dumps(info.__dict__))
        other = demo.serves(state, tmp_path / "another")
        down = _cli("down", run_dir=run_dir)
    finally:
        operator.kill()
        _mariadb.stop(state / "mariadb")
        _keystone.stop(state / "keystone")
    assert not other, "a demo of another run directory is not this one's"
    assert down.returncode == 0, down.stdout + down.stderr
    assert operator.proc.returncode == 0, f"not stopped by `down` (SIGTERM, exit 0):\n{down.stdout}"
    assert not _listening(operator.metrics_port) and not _listening(operator.health_port)
    assert not _exists(mysql.pid) and not _exists(keystone.pid), down.stdout
    assert "stopped the demo operator" in down.stdout, down.stdout
    assert not (state / "operator.json").exists() and not (state / "cluster.json").exists()
