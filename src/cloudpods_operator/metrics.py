"""Prometheus metrics, named, labelled and bucketed as controller-runtime and client-go do.

Users' dashboards and alerts for Go operators work unchanged: ``controller_runtime_*`` as
controller-runtime's pkg/internal/controller/metrics, ``workqueue_*`` as controller-runtime registers
client-go's work queue metrics (labels ``name`` and ``controller``), ``rest_client_*`` as its client-go
adapter, plus the process and platform collectors. The operator's own ``cloudpods_operator_*`` series
follow; the only per-cluster ones are removed when their cluster is deleted. No ``_created`` series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

CONTROLLER = "onecloudcluster"
"""The ``controller`` label, and the work queue's ``name`` (controller-runtime names its queue so)."""

RESULTS = ("success", "error", "requeue", "requeue_after")
"""controller-runtime's ``result`` values; each series exists from the start at 0."""

RECONCILE_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    *(1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60),
)
"""controller_runtime_reconcile_time_seconds' buckets, as controller-runtime defines them."""

QUEUE_BUCKETS = tuple(float(f"1e{exp}") for exp in range(-8, 4))
"""client-go's ``ExponentialBuckets(10e-9, 10, 12)``: 10 ns to 1000 s."""

REQUEST_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
"""rest_client_request_duration_seconds' buckets, as controller-runtime's client-go adapter defines them."""

REQUEST_LABELS = {
    "code": "the HTTP status, <error> without a response",
    "method": "the HTTP method (WATCH for a watch)",
    "host": "host:port",
}
"""rest_client_requests_total's labels, in client-go's order (keys: a label is not a component name)."""

LATENCY_LABELS = {"verb": "the HTTP method", "host": "host:port"}
"""rest_client_request_duration_seconds' labels, in client-go's order."""

NO_RESPONSE = "<error>"
"""The ``code`` client-go counts when no response arrived (connection error, timeout)."""


class QueueMetrics:
    """The ``workqueue_*`` series of one queue; the queue calls these (see ``workqueue.QueueObserver``)."""

    def __init__(self, metrics: Metrics, name: str) -> None:
        labels = (name, name)
        self._adds = metrics.queue_adds.labels(*labels)
        self._retries = metrics.queue_retries.labels(*labels)
        self._latency = metrics.queue_duration.labels(*labels)
        self._work = metrics.work_duration.labels(*labels)
        self._depth = metrics.queue_depth.labels(name, name, "")
        self._unfinished = metrics.unfinished_work.labels(*labels)
        self._longest = metrics.longest_running.labels(*labels)

    def added(self) -> None:
        """A key entered the queue (adds of a key already waiting collapse and are not counted)."""
        self._adds.inc()

    def retried(self) -> None:
        """A delayed add: a backoff after a failure, a Retry-After."""
        self._retries.inc()

    def waited(self, seconds: float) -> None:
        """From a key's add to the ``get`` that handed it out."""
        self._latency.observe(seconds)

    def worked(self, seconds: float) -> None:
        """From ``get`` to ``done``: one pass."""
        self._work.observe(seconds)

    def read_from(self, depth: Callable[[], int], in_flight: Callable[[], Iterable[float]]) -> None:
        """Depth and unfinished work are read from the queue at each scrape, so they never lag.

        ``in_flight`` gives the seconds each key handed out and not yet done has been worked on.
        """
        self._depth.set_function(lambda: float(depth()))
        self._unfinished.set_function(lambda: float(sum(in_flight())))
        self._longest.set_function(lambda: float(max(in_flight(), default=0.0)))


class Metrics:
    """One registry per operator process (tests may build several without clashing)."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide: no ``_created`` series
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.api_host = ""
        """The ``host`` label of the rest_client series: the API server's host:port."""
        self._components: dict[str, set[str]] = {}
        self._init_controller(r)
        self._init_queue(r)
        self._init_client(r)
        self._init_own(r)

    def _init_controller(self, r: CollectorRegistry) -> None:
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=r,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            ["controller"],
            registry=r,
        )
        self.terminal_errors = Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            ["controller"],
            registry=r,
        )
        self.reconcile_panics = Counter(
            "controller_runtime_reconcile_panics_total",
            "Total number of reconciliation panics per controller",
            ["controller"],
            registry=r,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            buckets=RECONCILE_BUCKETS,
            registry=r,
        )
        self.max_workers = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ["controller"],
            registry=r,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ["controller"],
            registry=r,
        )
        # controller-runtime's initMetrics: every series of the controller exists from the start.
        for result in RESULTS:
            self.reconcile_total.labels(CONTROLLER, result)
        for counter in (self.reconcile_errors, self.terminal_errors, self.reconcile_panics):
            counter.labels(CONTROLLER)
        self.reconcile_time.labels(CONTROLLER)
        self.active_workers.labels(CONTROLLER).set(0)

    def _init_queue(self, r: CollectorRegistry) -> None:
        both = ["name", "controller"]
        self.queue_depth = Gauge(
            "workqueue_depth",
            "Current depth of workqueue by workqueue and priority",
            ["name", "controller", "priority"],
            registry=r,
        )
        self.queue_adds = Counter(
            "workqueue_adds_total", "Total number of adds handled by workqueue", both, registry=r
        )
        self.queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            both,
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            both,
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.unfinished_work = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads. One can deduce the number of stuck "
            "threads by observing the rate at which this increases.",
            both,
            registry=r,
        )
        self.longest_running = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            both,
            registry=r,
        )
        self.queue_retries = Counter(
            "workqueue_retries_total", "Total number of retries handled by workqueue", both, registry=r
        )
        self.queue = QueueMetrics(self, CONTROLLER)

    def _init_client(self, r: CollectorRegistry) -> None:
        self.api_requests = Counter(
            "rest_client_requests_total",
            "Number of HTTP requests, partitioned by status code, method, and host.",
            list(REQUEST_LABELS),
            registry=r,
        )
        self.api_latency = Histogram(
            "rest_client_request_duration_seconds",
            "Request latency in seconds. Broken down by verb and host.",
            list(LATENCY_LABELS),
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.leader = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 "
            "indicates master. 'name' is the string used to identify the lease.",
            ["name"],
            registry=r,
        )

    def _init_own(self, r: CollectorRegistry) -> None:
        self.applies = Counter(
            "cloudpods_operator_applies_total",
            "Server-side applies sent, by kind and action",
            ["kind", "action"],
            registry=r,
        )
        self.skipped = Counter(
            "cloudpods_operator_apply_skipped_total",
            "Desired objects not sent because the live object already holds them",
            ["kind"],
            registry=r,
        )
        self.deletes = Counter("cloudpods_operator_deletes_total", "Objects pruned", ["kind"], registry=r)
        self.watch_restarts = Counter(
            "cloudpods_operator_watch_restarts_total",
            "Watch reconnects and re-lists",
            ["resource", "reason"],
            registry=r,
        )
        self.component_ready = Gauge(
            "cloudpods_operator_component_ready",
            "1 when the component's workload is rolled out with the planned images",
            ["cluster", "component"],
            registry=r,
        )
        self.last_success = Gauge(
            "cloudpods_operator_cluster_last_success_timestamp_seconds",
            "When the cluster's last successful reconcile in this process ended (Unix time)",
            ["cluster"],
            registry=r,
        )

    def connected(self, url: str, workers: int) -> None:
        """The API server's URL (its host:port labels the rest_client series) and the worker count."""
        self.api_host = urlsplit(url).netloc
        self.max_workers.labels(CONTROLLER).set(workers)

    def count_request(self, method: str, status: int) -> None:
        """Count one API request; ``status`` 0 means no response arrived (connection error or timeout)."""
        code = str(status) if status else NO_RESPONSE
        self.api_requests.labels(code, method, self.api_host).inc()

    def observe_request(self, method: str, seconds: float) -> None:
        """One request's latency, from sending it to its whole body read (watches are not observed)."""
        self.api_latency.labels(method, self.api_host).observe(seconds)

    def reconciled(self, result: str, seconds: float, *, terminal: bool = False) -> None:
        """One pass: ``result`` is one of :data:`RESULTS`; ``terminal``: an error retrying cannot fix."""
        self.reconcile_total.labels(CONTROLLER, result).inc()
        if result == "error":
            self.reconcile_errors.labels(CONTROLLER).inc()
            if terminal:
                self.terminal_errors.labels(CONTROLLER).inc()
        self.reconcile_time.labels(CONTROLLER).observe(seconds)

    def components(self, cluster: str, ready: dict[str, bool]) -> None:
        """The cluster's component_ready series: exactly the components named (others are removed)."""
        for name in self._components.get(cluster, set()) - set(ready):
            self.component_ready.remove(cluster, name)
        for name, is_ready in ready.items():
            self.component_ready.labels(cluster, name).set(1 if is_ready else 0)
        self._components[cluster] = set(ready)

    def cluster_gone(self, cluster: str) -> None:
        """Remove every series labelled with the deleted ``cluster`` ("namespace/name")."""
        self._components.pop(cluster, None)
        self.component_ready.remove_by_labels({"cluster": cluster})
        self.last_success.remove(cluster)
