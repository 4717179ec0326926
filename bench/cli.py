"""``python -m bench``: start a control plane (or use one), run every scenario, print a table, write JSON."""

from __future__ import annotations

import argparse
import asyncio
import compileall
import dataclasses
import datetime
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import localcluster
from bench import clusters, full, noise, report, scenarios
from bench.kubeapi import Api
from bench.operator import pids_rss_mb
from bench.scenarios import Bench, say

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESYNC_SINGLE = 5.0
RESYNC_FLEET = 60.0
# localcluster's defaults fit the tests, not 100 clusters: a /24 Service range holds ~250 ClusterIPs (27 per
# CMP cluster) and a KWOK node 1,000 pods (every controller pod of every cluster goes to node-controller-0).
SERVICE_RANGE = "10.0.0.0/16"
BENCH_NODES = tuple(dataclasses.replace(n, pods="20000") for n in localcluster.DEFAULT_NODES)
BENCH_ARGS = {
    "kube-apiserver": [f"--service-cluster-ip-range={SERVICE_RANGE}"],
    "kube-controller-manager": [f"--service-cluster-ip-range={SERVICE_RANGE}"],
}


BUMP_REPEAT = 7
"""Default runs of the single-cluster bumps (version_bump, staged_bump)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--kubeconfig",
        help="use this running cluster instead of starting one (nothing is torn down "
        "but the benchmark's own namespaces)",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: one repeat, fleet 1,3, short windows")
    p.add_argument("--repeat", type=int, default=None, help="runs per scenario (default 3; 1 with --quick)")
    p.add_argument(
        "--bump-repeat",
        type=int,
        default=None,
        help=f"version_bump and staged_bump runs (default {BUMP_REPEAT}; 1 with --quick): each takes a tenth "
        "of a second against a floor that alone varied 0.08-0.19 s between repeats",
    )
    p.add_argument(
        "--fleet", default=None, help="fleet sizes, comma-separated (default 1,10,100; 1,3 with --quick)"
    )
    p.add_argument(
        "--fleet-product",
        default="CMP",
        choices=("CMP", "FullStack", "Edge", "LightEdge", "AI"),
        help="productVersion of the fleet's clusters (default CMP: see bench/README.md)",
    )
    p.add_argument(
        "--fleet-bump-repeat",
        type=int,
        default=None,
        help="fleet_bump runs (default 1: at 100 clusters each run is two fleet-wide rollouts of ~5 min)",
    )
    p.add_argument(
        "--fleet-ready",
        action="store_true",
        help="after the last fleet bump also wait for every cluster Ready again (~10 min at 100)",
    )
    p.add_argument(
        "--operator-args",
        default="",
        help="extra flags for every operator process, e.g. '--apply-concurrency 32' (recorded in meta)",
    )
    p.add_argument(
        "--max-load",
        type=float,
        default=noise.DEFAULT_MAX_LOAD,
        help="quiet: the 1-minute load average at most this before each repeat (default %(default)s)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=None,
        help=f"seconds to wait for quiet before each repeat (default {noise.DEFAULT_QUIET_WAIT:g}; "
        f"{noise.QUICK_QUIET_WAIT:g} with --quick); a repeat that never got quiet is loaded",
    )
    p.add_argument("--out", default=str(BENCH / "results" / "latest.json"), help="where the JSON goes")
    p.add_argument("--only", default="", help="comma-separated scenarios to run (floor is always run)")
    p.add_argument(
        "--run-dir", default=str(BENCH / ".cluster"), help="the local control plane's run directory"
    )
    return p


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


async def install_crd(api: Api, kubeconfig: Path) -> None:
    """``kubectl apply --server-side -f crd/``, then wait until the API server says Established."""
    kubectl = Path(sys.executable).parent / "kubectl"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    argv = [str(kubectl), "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crd")]
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {stderr.decode()}{stdout.decode()}")
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/onecloudclusters.onecloud.yunion.io"
    for _ in range(600):
        doc = await api.call("GET", path, ok=(404,))
        conditions = {c["type"]: c["status"] for c in doc.get("status", {}).get("conditions") or []}
        if conditions.get("Established") == "True":
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the OnecloudCluster CRD was not Established within 60s")


async def meta(api: Api, args: argparse.Namespace, local: localcluster.Cluster | None) -> dict[str, Any]:
    version = await api.call("GET", "/version")
    return {
        "kubernetes": version.get("gitVersion"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "src", "bench", ":!bench/results")),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cluster": "localcluster (etcd, kube-apiserver, controller-manager qps 300/500, scheduler, KWOK)"
        if local
        else f"kubeconfig {args.kubeconfig}",
        "quick": bool(args.quick),
        "load_average_at_start": list(os.getloadavg()),
        "quiet_gate": {
            "max_load": args.max_load,
            "quiet_wait_seconds": _quiet_wait(args),
            "poll_seconds": noise.POLL_SECONDS,
            "loaded_above_other_cores": noise.LOADED_CORES,
            "settle_idle_cores": noise.IDLE_CORES,
            "settle_sample_seconds": noise.IDLE_SAMPLE_SECONDS,
            "settle_samples": noise.IDLE_SAMPLES,
            "settle_wait_seconds": noise.DEFAULT_IDLE_WAIT,
        },
    }


def compile_ahead(package: Path = REPO / "src" / "cloudpods_operator") -> int:
    """Compile the operator's modules to bytecode, as the image's ``pip install`` does (Dockerfile): the
    benchmark runs it from the editable checkout, where a ``PYTHONDONTWRITEBYTECODE`` environment (set on
    this machine, as in the image) would compile every module at every start, a cost the image never
    pays (~0.08 s of each start here). ``compileall``, as pip uses; the number of modules."""
    if not compileall.compile_dir(str(package), quiet=1):
        raise RuntimeError(f"compileall could not compile {package}")
    return sum(1 for _ in package.rglob("*.py"))


def _quiet_wait(args: argparse.Namespace) -> float:
    if args.quiet_wait is not None:
        return float(args.quiet_wait)
    return noise.QUICK_QUIET_WAIT if args.quick else noise.DEFAULT_QUIET_WAIT


async def run(args: argparse.Namespace) -> int:
    quick = bool(args.quick)
    repeat = args.repeat or (1 if quick else 3)
    sizes = [int(s) for s in (args.fleet or ("1,3" if quick else "1,10,100")).split(",") if s.strip()]
    fleet_repeat = args.fleet_bump_repeat or 1
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    out = Path(args.out)
    work = BENCH / ".work"
    started = time.monotonic()
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM cleans up like Ctrl-C: operator and control plane stopped
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)

    local: localcluster.Cluster | None = None
    if args.kubeconfig:
        kubeconfig = Path.cwd() / args.kubeconfig
    else:
        run_dir = Path(args.run_dir)
        if localcluster.load(run_dir) is not None:
            localcluster.stop(run_dir)
        say(f"starting the local control plane in {run_dir}")
        local = localcluster.start(run_dir, nodes=BENCH_NODES, extra_args=BENCH_ARGS)
        kubeconfig = local.kubeconfig
    api = await Api.connect(str(kubeconfig))
    prefix = "bench" if local else f"bench-{os.getpid()}"
    b = Bench(api, kubeconfig, work, quick, repeat, sizes, args.fleet_product, prefix=prefix)
    b.bump_repeat = args.bump_repeat or (1 if quick else BUMP_REPEAT)
    b.operator_args = tuple(args.operator_args.split())
    b.noise = noise.Noise(max_load=args.max_load, quiet_wait=_quiet_wait(args))
    if local is not None:
        b.noise.extra_pids.update(local.pids.values())
    if quick:
        b.concurrencies = (1, 8, 32)
    result: dict[str, Any] = {"meta": await meta(api, args, local)}
    result["meta"]["operator_bytecode"] = f"{compile_ahead()} modules compiled ahead, as in the image"
    errors: list[str] = []
    windows: dict[str, dict[str, float]] = {}

    def wanted(name: str) -> bool:
        return not only or name in only

    async def step(name: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        say(f"--- {name}")
        window = b.noise.window()
        try:
            value = await fn()
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            result[name] = {"error": f"{type(exc).__name__}: {exc}"}
            report.write(out, result)
            return None
        finally:
            seconds, others = window.stop()
            windows[name] = {
                "seconds": round(seconds, 1),
                "other_cpu_seconds": round(others, 2),
                "other_cores": round(others / seconds, 3) if seconds > 0 else 0.0,
            }
        report.write(out, result)
        return value

    try:
        await install_crd(api, kubeconfig)

        async def do_floor() -> None:
            result["floor"] = await scenarios.floor(b)

        await step("floor", do_floor)
        singles = ("version_bump", "staged_bump", "single_override", "at_rest")
        if b.floor_runs and any(wanted(n) for n in singles):
            await b.start_operator(RESYNC_SINGLE, "single")
            one = await step("bring_up", lambda: scenarios.bring_up_example(b))
            if one is not None:
                if wanted("version_bump"):
                    await step(
                        "version_bump", _into(result, "version_bump", lambda: scenarios.version_bump(b, one))
                    )
                if wanted("staged_bump"):
                    await step(
                        "staged_bump", _into(result, "staged_bump", lambda: scenarios.staged_bump(b, one))
                    )
                if wanted("single_override"):
                    await step(
                        "single_override",
                        _into(result, "single_override", lambda: scenarios.single_override(b, one)),
                    )
                if wanted("at_rest"):
                    await step(
                        "at_rest", _into(result, "at_rest", lambda: scenarios.at_rest(b, RESYNC_SINGLE))
                    )
                await one.stop()
            await b.stop_operator()
            await scenarios.delete_namespaces(api, [b.ns("bump")])
        if b.floor_copies is not None:  # the floor's copies served every single-cluster bump
            await b.floor_copies.stop()
            b.floor_copies = None
            await scenarios.delete_namespaces(api, [b.ns("floor")])
        if wanted("full_cluster"):
            await step(
                "full_cluster", _into(result, "full_cluster", lambda: full.full_cluster(b, RESYNC_SINGLE))
            )
            await scenarios.delete_namespaces(api, [b.ns("full")])
        if wanted("fleet") or wanted("fleet_bump"):
            fleet_out = await step("fleet", lambda: scenarios.fleet(b, RESYNC_FLEET))
            if fleet_out is not None:
                figures, fl = fleet_out
                figures["etcd"] = (
                    "clientNodePort 30000+i"
                    if clusters.etcd_client_node_port_honoured()
                    else "disabled: the planner ignores etcd.clientNodePort, every cluster would claim 30379"
                )
                figures["why_product"] = _why_product(b.fleet_product)
                result["fleet"] = figures
                report.write(out, result)
                if b.floor_runs and wanted("fleet_bump"):
                    await step(
                        "fleet_bump",
                        _into(
                            result,
                            "fleet_bump",
                            lambda: scenarios.fleet_bump(b, fl, RESYNC_FLEET, fleet_repeat, args.fleet_ready),
                        ),
                    )
                if b.floor_runs and (wanted("fleet_bump") or wanted("fleet_bump_staged")):
                    await step(
                        "fleet_bump_staged",
                        _into(
                            result,
                            "fleet_bump_staged",
                            lambda: scenarios.fleet_bump(
                                b, fl, RESYNC_FLEET, fleet_repeat, args.fleet_ready, staged=True
                            ),
                        ),
                    )
                await fl.stop()
        result["meta"]["operator_settings"] = b.settings
        result["meta"]["floor_concurrency"] = b.best_concurrency
        if local is not None:
            result["meta"]["control_plane_rss_mb"] = pids_rss_mb(local.pids)
        result["meta"]["wall_seconds"] = round(time.monotonic() - started, 1)
        result["meta"]["load_average_at_end"] = list(os.getloadavg())
        _attach_noise(result, windows, b.noise)
        if errors:
            result["meta"]["errors"] = errors
        report.write(out, result)
    finally:
        await b.stop_operator()
        full.stop_servers(work)
        if local is not None:
            say("stopping the local control plane")
            localcluster.stop(local.run_dir)
        else:
            await scenarios.delete_namespaces(api, b.namespaces, wait=False)
        await api.close()
    print()
    print(report.table(result))
    print(f"\nwrote {out} ({result['meta'].get('wall_seconds', 0):.0f}s)")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


def _attach_noise(result: dict[str, Any], windows: dict[str, dict[str, float]], gate: noise.Noise) -> None:
    """Each scenario's whole-window CPU of other processes, and meta.quiet: which scenarios were quiet."""
    for name, window in windows.items():
        if isinstance(result.get(name), dict):
            result[name]["scenario_other_cpu"] = window
    result["meta"]["quiet"] = noise.quiet_summary(result, gate.max_load_seen)


def _into(
    result: dict[str, Any], key: str, fn: Callable[[], Awaitable[dict[str, Any]]]
) -> Callable[[], Awaitable[None]]:
    async def go() -> None:
        result[key] = await fn()

    return go


def _why_product(product: str) -> str:
    if product == "CMP":
        return (
            "CMP (26 Deployments, 1 StatefulSet, 1 DaemonSet per cluster, no host DaemonSets): 100 FullStack "
            "clusters (41 workloads and ~60 KWOK pods each) do not come up in reasonable time on 2 cores"
        )
    return f"{product}, as asked with --fleet-product"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: operator and control plane stopped", file=sys.stderr)
        return 130
