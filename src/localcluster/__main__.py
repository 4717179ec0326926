"""python -m localcluster up|down|status

The run directory is $LOCALCLUSTER_DIR, by default .cluster/ at the repository root. `down` also stops
the operator, MariaDB and Keystone that `make demo` started against that control plane."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import _cluster, demo
from ._binaries import bin_dir
from .errors import AlreadyRunningError, LocalClusterError, StartError


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _up(run_dir: Path, quiet: bool) -> int:
    def progress(msg: str) -> None:
        if not quiet:
            _err(msg)

    try:
        cluster = _cluster.start(run_dir, progress=progress)
    except AlreadyRunningError as exc:
        _err(f"localcluster: refusing to start: {exc}")
        return 1
    except StartError as exc:
        _err(f"localcluster: start failed: {exc}")
        _err(f"(logs kept in {run_dir / 'logs'})")
        return 1
    except LocalClusterError as exc:
        _err(f"localcluster: {exc}")
        return 1
    summary = [
        f"local control plane up in {cluster.startup_seconds:.1f}s",
        f"  server      {cluster.server}",
        f"  kubeconfig  {cluster.kubeconfig}",
        f"  nodes       {', '.join(cluster.nodes)} (KWOK)",
        f"  logs        {cluster.logs_dir}",
        f"  binaries    {bin_dir()}",
        f"  use it:     export KUBECONFIG={cluster.kubeconfig}",
        "  stop it:    python -m localcluster down   (or: make cluster-down)",
    ]
    print("\n".join(summary), flush=True)
    return 0


def _down(run_dir: Path) -> int:
    try:
        # First what `make demo` started against this control plane: its operator would go on retrying
        # a dead API server and hold :8080.
        demo.stop_for_cluster(run_dir)
    except (OSError, demo.DemoError, LocalClusterError) as exc:
        _err(f"localcluster: could not stop the demo's processes: {exc} (python -m localcluster.demo --stop)")
    try:
        had = _cluster.stop(run_dir)
    except LocalClusterError as exc:
        _err(f"localcluster: {exc}")
        return 1
    print(f"local control plane stopped, {run_dir} removed" if had else f"no local cluster in {run_dir}")
    return 0


def _status(run_dir: Path) -> int:
    try:
        rows = _cluster.status(run_dir)
    except LocalClusterError as exc:
        _err(f"localcluster: {exc}")
        return 1
    if not rows:
        print(f"no local cluster in {run_dir}")
        return 3
    cluster = _cluster.load(run_dir)
    if cluster is not None:
        print(f"server {cluster.server}  kubeconfig {cluster.kubeconfig}")
    print(f"{'COMPONENT':<24} {'PID':>8} {'ALIVE':<6} {'PORT':>6}  HEALTH")
    for r in rows:
        print(f"{r.name:<24} {r.pid:>8} {'yes' if r.alive else 'NO':<6} {r.port:>6}  {r.detail}")
    return 0 if all(r.alive and r.healthy for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--dir", type=Path, default=None, help="run directory (default: $LOCALCLUSTER_DIR or .cluster)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="up: no progress lines")
    args = parser.parse_args(argv)
    run_dir = (args.dir or _cluster.default_run_dir()).resolve()
    if args.command == "up":
        return _up(run_dir, args.quiet)
    if args.command == "down":
        return _down(run_dir)
    return _status(run_dir)


if __name__ == "__main__":
    raise SystemExit(main())
