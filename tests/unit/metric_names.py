"""Every metric family the operator exports, as controller-runtime and client-go name them: the unit test
checks the registry against it, the integration test a real process's /metrics, README.md lists it."""

from __future__ import annotations

C, N = "controller", "name"
EXPECTED: dict[str, tuple[str, frozenset[str]]] = {
    # controller-runtime, pkg/internal/controller/metrics
    "controller_runtime_reconcile_total": ("counter", frozenset({C, "result"})),
    "controller_runtime_reconcile_errors_total": ("counter", frozenset({C})),
    "controller_runtime_terminal_reconcile_errors_total": ("counter", frozenset({C})),
    "controller_runtime_reconcile_panics_total": ("counter", frozenset({C})),
    "controller_runtime_reconcile_time_seconds": ("histogram", frozenset({C})),
    "controller_runtime_max_concurrent_reconciles": ("gauge", frozenset({C})),
    "controller_runtime_active_workers": ("gauge", frozenset({C})),
    # client-go's work queue metrics as controller-runtime registers them
    "workqueue_depth": ("gauge", frozenset({N, C, "priority"})),
    "workqueue_adds_total": ("counter", frozenset({N, C})),
    "workqueue_queue_duration_seconds": ("histogram", frozenset({N, C})),
    "workqueue_work_duration_seconds": ("histogram", frozenset({N, C})),
    "workqueue_unfinished_work_seconds": ("gauge", frozenset({N, C})),
    "workqueue_longest_running_processor_seconds": ("gauge", frozenset({N, C})),
    "workqueue_retries_total": ("counter", frozenset({N, C})),
    # client-go's REST client, controller-runtime's adapter
    "rest_client_requests_total": ("counter", frozenset({"code", "method", "host"})),
    "rest_client_request_duration_seconds": ("histogram", frozenset({"verb", "host"})),
    "leader_election_master_status": ("gauge", frozenset({N})),
    # the process and platform collectors
    "process_virtual_memory_bytes": ("gauge", frozenset()),
    "process_resident_memory_bytes": ("gauge", frozenset()),
    "process_start_time_seconds": ("gauge", frozenset()),
    "process_cpu_seconds_total": ("counter", frozenset()),
    "process_open_fds": ("gauge", frozenset()),
    "process_max_fds": ("gauge", frozenset()),
    "python_info": ("gauge", frozenset({"implementation", "major", "minor", "patchlevel", "version"})),
    "python_gc_objects_collected_total": ("counter", frozenset({"generation"})),
    "python_gc_objects_uncollectable_total": ("counter", frozenset({"generation"})),
    "python_gc_collections_total": ("counter", frozenset({"generation"})),
    # the operator's own
    "cloudpods_operator_applies_total": ("counter", frozenset({"kind", "action"})),
    "cloudpods_operator_apply_skipped_total": ("counter", frozenset({"kind"})),
    "cloudpods_operator_deletes_total": ("counter", frozenset({"kind"})),
    "cloudpods_operator_watch_restarts_total": ("counter", frozenset({"resource", "reason"})),
    "cloudpods_operator_component_ready": ("gauge", frozenset({"cluster", "component"})),
    "cloudpods_operator_cluster_last_success_timestamp_seconds": ("gauge", frozenset({"cluster"})),
}
"""Every family the operator exports: its type and label names (README.md's metrics table lists them)."""
