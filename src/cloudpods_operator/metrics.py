"""Prometheus metrics, named after controller-runtime's where one exists (users' dashboards know them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

CONTROLLER = "onecloudcluster"


class Metrics:
    """One registry per operator process (tests may build several without clashing)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Reconciles by result (success, error, requeue_after, spec_error)",
            ["controller", "cluster", "result"],
            registry=r,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Reconciles that failed",
            ["controller", "cluster"],
            registry=r,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Time per reconcile",
            ["controller", "cluster"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
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
        self.api_requests = Counter(
            "rest_client_requests_total", "HTTP requests to the API server", ["method", "code"], registry=r
        )
        self.watch_restarts = Counter(
            "cloudpods_operator_watch_restarts_total",
            "Watch reconnects and re-lists",
            ["resource", "reason"],
            registry=r,
        )
        self.queue_depth = Gauge("workqueue_depth", "Keys waiting in the work queue", ["name"], registry=r)
        self.component_ready = Gauge(
            "cloudpods_operator_component_ready",
            "1 when the component's workload is rolled out with the planned images",
            ["cluster", "component"],
            registry=r,
        )
        self.leader = Gauge(
            "leader_election_master_status", "1 while this process holds the Lease", ["name"], registry=r
        )

    def count_request(self, method: str, status: int) -> None:
        """Count one API request; ``status`` 0 means no response arrived (connection error or timeout)."""
        self.api_requests.labels(method, str(status)).inc()
