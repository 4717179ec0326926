"""The full cluster: one FullStack cluster with a real MariaDB and a real Keystone, under its own operator.

The other scenarios run the operator with ``--no-manage-databases --keystone-url none`` (issue 19: the fleet
has no MySQL nor keystone). This one starts both servers as ``make demo`` does (localcluster's MariaDB and
OpenStack Keystone from PyPI on 127.0.0.1), runs an operator that watches only its namespace with
``--mysql-address`` and ``--keystone-url``, plays keystone's first start once the operator wrote keystone's
config, and reports bring-up, one version bump and the writes at rest.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from bench import clusters, noise
from bench.kubeapi import Api, ensure_namespace
from bench.noise import RepeatLoad
from bench.operator import Operator
from bench.scenarios import CR, Bench, Single, _patch_and_time, apply_cr, at_rest, noise_of, say
from bench.tracker import Tracker, Workloads, cluster_view, ready_at
from localcluster import _keystone, _mariadb

MYSQL_SECRET, MYSQL_SECRET_KEY = "bench-mysql", "password"


def roots(work: Path) -> tuple[Path, Path]:
    """Where MariaDB's and Keystone's data live (under the benchmark's work directory)."""
    return work / "full" / "mariadb", work / "full" / "keystone"


def stop_servers(work: Path) -> None:
    """Stop the MariaDB and Keystone this scenario started, if they still run (idempotent: the cleanup of
    Ctrl-C and SIGTERM calls it too)."""
    mariadb, keystone = roots(work)
    _mariadb.stop(mariadb)
    _keystone.stop(keystone)


async def _bootstrap_keystone(api: Api, ns: str, server: _keystone.Server) -> float:
    """Keystone's first start, once the operator wrote its config (as Cloudpods' keystone does at its first
    start): the monotonic time it was done."""
    name = f"{CR}-keystone-config"
    while True:
        secret = await api.call("GET", f"/api/v1/namespaces/{ns}/secrets/{name}", ok=(404,))
        data = secret.get("data") or {}
        if "config" in data:
            config = json.loads(base64.b64decode(data["config"]))
            await asyncio.to_thread(_keystone.bootstrap, server, str(config["bootstrap_admin_user_password"]))
            return time.monotonic()
        await asyncio.sleep(0.5)


async def full_cluster(b: Bench, resync: float) -> dict[str, Any]:
    api = b.api
    mariadb_root, keystone_root = roots(b.work)
    say("full_cluster: starting MariaDB and Keystone")
    t0 = time.monotonic()
    try:
        mysql = await asyncio.to_thread(_mariadb.start, mariadb_root)
        b.noise.extra_pids.add(mysql.pid)
        keystone = await asyncio.to_thread(_keystone.start, keystone_root)
        b.noise.extra_pids.add(keystone.pid)
    except BaseException:
        await asyncio.to_thread(stop_servers, b.work)
        raise
    servers_seconds = time.monotonic() - t0
    ns = b.ns("full")
    crs: Tracker | None = None
    wl: Workloads | None = None
    try:
        await ensure_namespace(api, ns)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": MYSQL_SECRET, "namespace": ns},
            "stringData": {MYSQL_SECRET_KEY: mysql.root_password},
        }
        await api.apply(secret, field_manager="bench")
        op = Operator(
            b.kubeconfig,
            b.work / "logs",
            resync=resync,
            extra_args=b.operator_args,
            mysql_address=mysql.address,
            keystone_url=keystone.url,
            namespaces=ns,
        )
        b.settings["full_cluster"] = op.settings
        await op.start()
        b.operator = op
        crs = await Tracker(api, "OnecloudCluster", cluster_view, namespace=ns).start()
        wl = await Workloads.watch(api, namespace=ns, selector=clusters.MANAGED_SELECTOR)
        doc = clusters.example(ns)
        doc["spec"]["mysql"]["passwordSecret"] = {"name": MYSQL_SECRET, "key": MYSQL_SECRET_KEY}
        loads: list[RepeatLoad] = []
        measured = await b.noise.measure("bring-up")
        started = time.monotonic()
        bootstrap = asyncio.create_task(_bootstrap_keystone(api, ns, keystone))
        try:
            generation = int((await apply_cr(api, doc))["metadata"]["generation"])
            ready = await crs.goal({("OnecloudCluster", ns, CR): ready_at(generation)}).wait(
                600, "the full cluster Ready"
            )
            bootstrapped = await asyncio.wait_for(bootstrap, 1)
        finally:
            bootstrap.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bootstrap
        loads.append(measured.done())
        bring_up = ready - started
        say(
            f"full_cluster: Ready in {bring_up:.1f}s (keystone bootstrapped at {bootstrapped - started:.1f}s)"
        )
        status = (await api.get("OnecloudCluster", ns, CR)).get("status") or {}
        one = Single(ns, doc, crs, wl, bring_up, generation)
        spec = {"version": "bench-full1"}
        changed = clusters.changed_images(doc, clusters.with_spec(doc, **spec))
        measured = await b.noise.measure("version bump")
        bumped = await _patch_and_time(b, one, spec, changed, 300)
        took, back, writes = bumped.seen, bumped.ready, bumped.writes
        loads.append(measured.done())
        say(
            f"full_cluster: bump of {len(changed)} workloads in {took:.2f}s, Ready in {back:.1f}s, "
            f"writes {writes.as_dict()}"
        )
        rest = await at_rest(b, resync)
        return {
            "what": "one FullStack cluster with a real MariaDB (databases, users, grants) and a real "
            "Keystone (accounts, services, endpoints) under its own operator (--mysql-address, "
            "--keystone-url, this namespace only): bring-up to Ready, one version bump (AllAtOnce), "
            "writes at rest",
            "servers_start_seconds": round(servers_seconds, 1),
            "bring_up_seconds": round(bring_up, 2),
            "keystone_bootstrap_seconds": round(bootstrapped - started, 2),
            "database": status.get("database"),
            "keystone_registration": status.get("keystoneRegistration"),
            "objects": len(changed),
            "bump_seconds": round(took, 3),
            "bump_ready_seconds": round(back, 2),
            "bump_writes": writes.as_dict(),
            "bump_status_writes": round(writes.status),
            "at_rest": rest,
            "writes_at_rest": rest["writes"],
            "apiserver_writes_at_rest": rest["apiserver_writes"],
            "rss_mb": round(op.rss_mb(), 1),
            **_merged_noise(noise_of(loads), rest),
        }
    finally:
        await b.stop_operator()
        if crs is not None:
            await crs.stop()
        if wl is not None:
            await wl.stop()
        await asyncio.to_thread(stop_servers, b.work)
        b.noise.extra_pids.discard(mysql.pid)
        b.noise.extra_pids.discard(keystone.pid)


def _merged_noise(own: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    """The scenario's repeats and its at-rest windows together."""
    runs = [*own["load"], *rest["load"]]
    summary = noise.summary(runs)
    return {"loaded": summary["loaded"], "noise": summary, "load": runs}
