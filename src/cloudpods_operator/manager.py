"""Start order, the root task group, and shutdown.

probes and metrics -> watches (cache) -> synced -> Lease held (with leader election) ->
workers + periodic resync. SIGTERM stops the queue, lets in-flight reconciles finish (their
applies included) for up to ``SHUTDOWN_GRACE`` seconds, releases the Lease, stops the watches
and exits 0. Losing the Lease exits 1 at once: another replica is acting now.
"""

from __future__ import annotations

import argparse
import logging
import signal
import time
from dataclasses import dataclass, field

import anyio
from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from cloudpods_operator import heap, kinds, logs, provisioning, registration, settings
from cloudpods_operator.cache import Cache
from cloudpods_operator.errors import OperatorError
from cloudpods_operator.kube.client import Kube
from cloudpods_operator.kube.events import Recorder
from cloudpods_operator.kube.lease import LeaderElector
from cloudpods_operator.kube.watch import WatchSpec, run_watch
from cloudpods_operator.metrics import CONTROLLER, Metrics
from cloudpods_operator.observed import ClusterKey
from cloudpods_operator.outcome import Outcome
from cloudpods_operator.reconciler import Reconciler, Result, settle
from cloudpods_operator.render import MANAGED_BY
from cloudpods_operator.workqueue import WorkQueue

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 8.0
NODES_WAIT = 10.0
"""Seconds the first passes wait for the Node list (a plan made without it may scale baremetal-agent)."""
RESULT_LABELS = {
    Result.SUCCESS: "success",
    Result.ERROR: "error",
    Result.SPEC_ERROR: "error",  # a terminal error, as controller-runtime counts one
    Result.REQUEUE_AFTER: "requeue_after",
}
"""controller_runtime_reconcile_total's ``result`` for each of the worker's verdicts."""


class StartupError(Exception):
    """The process cannot start (no usable kubeconfig, a taken port); the CLI prints it as one line."""


def watch_specs(cfg: settings.Settings) -> list[WatchSpec]:
    """The OnecloudClusters, and every owned kind by the managed-by label, in each watched namespace."""
    namespaces: tuple[str | None, ...] = cfg.namespaces or (None,)
    selector = f"app.kubernetes.io/managed-by={MANAGED_BY}"
    specs = [WatchSpec(kinds.RESOURCES[kinds.CLUSTER_KIND], ns) for ns in namespaces]
    specs += [
        WatchSpec(kinds.RESOURCES[kind], ns, selector) for kind in kinds.OWNED_KINDS for ns in namespaces
    ]
    # Our pods, for why they cannot run (the cache keeps only that): the status names a bad image at once.
    specs += [WatchSpec(kinds.RESOURCES["Pod"], ns, selector) for ns in namespaces]
    return specs


@dataclass
class Health:
    """Ready once every watch has listed; alive while the loop turns.

    Passes may start before the Pods are listed (``planning``): Pods only tell the status why some cannot
    run, and their list is the longest (one per replica). Until ``event`` the reconciler withholds status
    writes; that overlaps the fleet's first passes with it.
    """

    expected: int
    status_only: frozenset[int] = frozenset()
    """The watches only the status needs (the Pods')."""
    synced: set[int] = field(default_factory=set)
    event: anyio.Event = field(default_factory=anyio.Event)
    planning: anyio.Event = field(default_factory=anyio.Event)

    def mark(self, index: int) -> None:
        """Watch ``index`` has listed once; ready when all have."""
        self.synced.add(index)
        if len(self.synced | self.status_only) >= self.expected:
            self.planning.set()
        if len(self.synced) >= self.expected:
            self.event.set()

    @property
    def ready(self) -> bool:
        return self.event.is_set()


async def serve_http(cfg: settings.Settings, health: Health, metrics: Metrics) -> web.AppRunner | None:
    """/healthz, /readyz and /metrics on the configured addresses (None when both are empty)."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ok") if health.ready else web.Response(status=503, text="caches not synced")

    addresses = {a for a in (cfg.health_address, cfg.metrics_address) if a}
    if not addresses:
        return None
    app = web.Application()
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", make_aiohttp_handler(metrics.registry)),
        ]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for address in addresses:
        host, _, port = address.rpartition(":")
        try:
            await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
        except (OSError, ValueError) as exc:  # a taken port, an unknown host, not a number
            await runner.cleanup()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StartupError(f"cannot serve /healthz /readyz /metrics on {address!r}: {reason}") from None
        log.info("serving /healthz /readyz /metrics on %s", address)
    return runner


class Operator:
    """The running parts of one process: queue, cache, reconciler, health, and how it stops."""

    def __init__(self, cfg: settings.Settings, kube: Kube, metrics: Metrics) -> None:
        self.cfg = cfg
        self.kube = kube
        self.metrics = metrics
        self.queue: WorkQueue[ClusterKey] = WorkQueue(observer=metrics.queue)
        metrics.queue.read_from(lambda: self.queue.depth, self.queue.in_flight_ages)
        self.cache = Cache(self.queue.add)
        self.provisioner = (
            provisioning.Provisioner(kube, address=cfg.mysql_address) if cfg.manage_databases else None
        )
        self.registrar = (
            registration.Registrar(kube, url=cfg.keystone_url or None, recheck=cfg.keystone_recheck)
            if cfg.keystone_url is not None
            else None
        )
        self.reconciler = Reconciler(
            kube,
            self.cache,
            Recorder(kube, cfg.identity),
            metrics,
            field_manager=cfg.field_manager,
            apply_limiter=anyio.CapacityLimiter(cfg.apply_concurrency),
            provisioner=self.provisioner,
            registrar=self.registrar,
        )
        specs = watch_specs(cfg)
        pods = frozenset(i for i, spec in enumerate(specs) if spec.resource.kind == "Pod")
        self.health = Health(expected=len(specs), status_only=pods)
        self.reconciler.status_allowed = self.health.event.is_set
        self.nodes_listed = anyio.Event()
        """Set once the Node watch has listed (or is forbidden): the plan reads nodes' labels."""
        self.stopping = anyio.Event()
        self.exit_code = 0
        """1 once the Lease was lost: another replica is acting now."""
        self.startup_gc = heap.StartupGC()
        """Fewer collections until the first quiet spell after the start's passes."""
        self.heap = heap.QuietTrim(
            heap.malloc_trim(),
            lambda: self.queue.depth == 0 and self.queue.in_flight == 0,
            on_quiet=self.startup_gc.settled,
        )

    async def worker(self) -> None:
        """Takes keys until the queue shuts down; one pass each, settled by :func:`reconciler.settle`."""
        while True:
            try:
                key = await self.queue.get()
            except anyio.EndOfStream:
                return
            active = self.metrics.active_workers.labels(CONTROLLER)
            active.inc()
            started = time.perf_counter()
            try:
                outcome = await self._pass(key)
                result = settle(self.queue, key, outcome)
                for waiting in self.reconciler.release_yielded():  # this pass drained the applies
                    self.queue.add(waiting)
            finally:
                self.queue.done(key)
                active.dec()
            seconds = time.perf_counter() - started
            self.metrics.reconciled(RESULT_LABELS[result], seconds, terminal=result is Result.SPEC_ERROR)
            cluster = f"{key[0]}/{key[1]}"
            if outcome is None:  # the cluster is gone: so are its series
                self.metrics.cluster_gone(cluster)
            elif result is Result.SUCCESS:
                self.metrics.last_success.labels(cluster).set_to_current_time()
            self.heap.worked()

    async def _pass(self, key: ClusterKey) -> Outcome | BaseException | None:
        """One reconcile; an error is returned (logged), never raised: the worker must live on."""
        logger = logging.LoggerAdapter(log, {"cluster": f"{key[0]}/{key[1]}"})
        try:
            return await self.reconciler.reconcile(key)
        except Exception as exc:  # an operator bug must not stop the worker: log it, retry with backoff
            if isinstance(exc, OperatorError):
                logger.warning("reconcile failed (%s); retrying with backoff", exc)
            else:
                self.metrics.reconcile_panics.labels(CONTROLLER).inc()
                logger.exception("reconcile crashed; retrying with backoff")
            return exc

    async def resync(self) -> None:
        """Every ``resync_seconds``, each known cluster once more (level-based: catches missed events)."""
        while True:
            await anyio.sleep(self.cfg.resync_seconds)
            for key in list(self.cache.clusters):
                self.queue.add(key)

    async def run_workers(self) -> None:
        """The workers and the resync until ``stopping``; then the queue shuts down and workers drain."""
        async with anyio.create_task_group() as tg:
            for _ in range(self.cfg.workers):
                tg.start_soon(self.worker)
            async with anyio.create_task_group() as background:
                background.start_soon(self.resync)
                background.start_soon(self.heap.run)
                await self.stopping.wait()
                background.cancel_scope.cancel()
            self.queue.shutdown()


async def run(cfg: settings.Settings) -> int:
    """The whole process: probes, watches, Lease, workers; returns the exit code (1 if the Lease was lost)."""
    metrics = Metrics()
    try:
        kube = await Kube.connect(cfg.kubeconfig, limit=cfg.apply_concurrency + 4)
    except Exception as exc:  # kubernetes_asyncio's ConfigException, a missing cert file, a bad YAML...
        first = (str(exc).strip().splitlines() or [""])[0]
        where = cfg.kubeconfig or "in-cluster config, $KUBECONFIG or ~/.kube/config"
        raise StartupError(f"no usable kubeconfig ({where}): {type(exc).__name__}: {first}") from None
    kube.counter.on_request = metrics.count_request
    kube.counter.on_latency = metrics.observe_request
    metrics.connected(kube.host, cfg.workers)
    op = Operator(cfg, kube, metrics)
    op.startup_gc.relax()
    try:
        runner = await serve_http(cfg, op.health, metrics)
    except StartupError:
        await kube.close()
        raise
    elector = _elector(cfg, kube)
    try:
        async with anyio.create_task_group() as root:
            for index, spec in enumerate(watch_specs(cfg)):
                root.start_soon(_watch, op, spec, index)
            root.start_soon(_watch_nodes, op)
            root.start_soon(_stop_on_signal, op)
            if await _started(op, elector):
                if elector is not None:
                    metrics.leader.labels(cfg.lease_name).set(1)
                    root.start_soon(_guard_lease, op, elector, root.cancel_scope)
                await _run_until_stopped(op)
            if elector is not None:
                with anyio.move_on_after(2, shield=True):
                    await elector.release()
            root.cancel_scope.cancel()
    finally:
        if op.provisioner is not None:
            with anyio.move_on_after(2, shield=True):
                await op.provisioner.close()
        if op.registrar is not None:
            with anyio.move_on_after(2, shield=True):
                await op.registrar.close()
        if runner is not None:
            await runner.cleanup()
        await kube.close()
    log.info("stopped")
    return op.exit_code


def _elector(cfg: settings.Settings, kube: Kube) -> LeaderElector | None:
    if not cfg.leader_elect:
        return None
    return LeaderElector(
        kube,
        namespace=cfg.lease_namespace,
        name=cfg.lease_name,
        identity=cfg.identity,
        lease_duration=cfg.lease_duration,
        renew_deadline=cfg.renew_deadline,
        retry_period=cfg.retry_period,
    )


async def _stop_on_signal(op: Operator) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s: finishing in-flight work", signal.Signals(signum).name)
            op.stopping.set()
            return


async def _started(op: Operator, elector: LeaderElector | None) -> bool:
    """Caches synced and (with leader election) the Lease held; False if told to stop first."""
    async with anyio.create_task_group() as tg:

        async def cancel_on_stop() -> None:
            await op.stopping.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(cancel_on_stop)
        await op.health.planning.wait()
        with anyio.move_on_after(NODES_WAIT):
            await op.nodes_listed.wait()
        log.info("caches synced: %d clusters", len(op.cache.clusters))
        if elector is not None:
            await elector.acquire()
        tg.cancel_scope.cancel()
    return not op.stopping.is_set()


async def _guard_lease(op: Operator, elector: LeaderElector, scope: anyio.CancelScope) -> None:
    """Another replica may be acting once renewals fail: stop at once, exit 1."""
    await elector.hold()
    op.metrics.leader.labels(op.cfg.lease_name).set(0)
    op.exit_code = 1
    scope.cancel()


async def _run_until_stopped(op: Operator) -> None:
    """Workers run until SIGTERM; then in-flight reconciles get SHUTDOWN_GRACE seconds to finish."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(op.run_workers)
        await op.stopping.wait()
        tg.cancel_scope.deadline = anyio.current_time() + SHUTDOWN_GRACE


async def _watch(op: Operator, spec: WatchSpec, index: int) -> None:
    def restarted(reason: str) -> None:
        op.metrics.watch_restarts.labels(spec.resource.plural, reason).inc()

    def synced() -> None:
        op.health.mark(index)
        if op.health.event.is_set():
            for key in op.reconciler.release_withheld():  # status writes held until the Pods were listed
                op.queue.add(key)

    await run_watch(op.kube, spec, op.cache, on_synced=synced, on_restart=restarted)


async def _watch_nodes(op: Operator) -> None:
    """Nodes tell whether a baremetal node exists (the reference scales baremetal-agent to 0 without one).

    Optional: a Role-only install without node access still runs, with baremetal-agent at its spec's replicas.
    """
    spec = WatchSpec(kinds.RESOURCES["Node"])
    try:
        await run_watch(op.kube, spec, op.cache, on_synced=op.nodes_listed.set, optional=True)
    finally:  # forbidden: planned without nodes' labels, as before
        op.nodes_listed.set()


def main(args: argparse.Namespace) -> int:
    """``cloudpods-operator run``: settings from flags and environment, logging, then :func:`run`."""
    cfg = settings.from_args(args)
    logs.configure(cfg.log_level, cfg.log_format)
    return anyio.run(run, cfg)
