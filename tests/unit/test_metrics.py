"""The registry as Prometheus scrapes it: controller-runtime's and client-go's names, types and labels,
the process collector, no ``_created`` series, queue series read from a real queue, per-cluster series
gone with their cluster. The queue runs on a fake clock, so every duration is exact."""

from __future__ import annotations

import anyio
import pytest
from metric_names import EXPECTED
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from repo_paths import REPO

from cloudpods_operator.manager import RESULT_LABELS
from cloudpods_operator.metrics import CONTROLLER, RESULTS, Metrics
from cloudpods_operator.reconciler import Result
from cloudpods_operator.workqueue import WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(metrics: Metrics) -> tuple[str, Samples]:
    text = generate_latest(metrics.registry).decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return text, samples


def _value(samples: Samples, name: str, /, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels`` (and the controller's, if it has one)."""
    want = set(labels.items())
    if name.startswith(("controller_runtime_", "workqueue_")):
        want.add(("controller", CONTROLLER))
    found = [v for (n, lab), v in samples.items() if n == name and want <= lab]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def _every_metric_used(metrics: Metrics) -> None:
    """One of each call the operator makes, so every labelled family has a sample."""
    metrics.connected("https://127.0.0.1:6443", workers=4)
    metrics.count_request("GET", 200)
    metrics.observe_request("GET", 0.01)
    metrics.reconciled("success", 0.2)
    metrics.leader.labels("lease").set(1)
    metrics.applies.labels("Deployment", "create").inc()
    metrics.skipped.labels("Secret").inc()
    metrics.deletes.labels("Service").inc()
    metrics.watch_restarts.labels("pods", "error").inc()
    metrics.components("ns/default", {"keystone": True})
    metrics.last_success.labels("ns/default").set_to_current_time()


def test_the_registry_holds_exactly_the_listed_families_with_their_types_and_labels() -> None:
    metrics = Metrics()
    _every_metric_used(metrics)
    text, samples = _scrape(metrics)
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
    assert types == {name: kind for name, (kind, _) in EXPECTED.items()}
    suffixes = ("_bucket", "_count", "_sum")
    for name, (_, labels) in EXPECTED.items():
        seen = {
            frozenset(k for k, _ in lab) - {"le"}
            for n, lab in samples
            if n == name or (n.startswith(name) and n.removeprefix(name) in suffixes)
        }
        assert seen == {labels}, name
    assert "_created" not in text, "no _created series doubling the count"
    assert _value(samples, "process_resident_memory_bytes") > 10e6
    assert _value(samples, "rest_client_requests_total", code="200", method="GET", host="127.0.0.1:6443") == 1
    assert _value(samples, "controller_runtime_max_concurrent_reconciles") == 4


def test_every_result_series_exists_from_the_start_and_the_buckets_are_controller_runtimes() -> None:
    _, samples = _scrape(Metrics())
    for result in RESULTS:
        assert _value(samples, "controller_runtime_reconcile_total", result=result) == 0
    for name in ("errors", "terminal_reconcile_errors", "panics"):
        full = f"controller_runtime_reconcile_{name}_total".replace("reconcile_terminal_", "terminal_")
        assert _value(samples, full) == 0
    assert _value(samples, "controller_runtime_active_workers") == 0
    les = {dict(lab)["le"] for n, lab in samples if n == "controller_runtime_reconcile_time_seconds_bucket"}
    assert len(les) == 41 and {"0.005", "0.15", "1.25", "60.0", "+Inf"} <= les
    les = {dict(lab)["le"] for n, lab in samples if n == "workqueue_queue_duration_seconds_bucket"}
    assert les == {"1e-08", "1e-07", "1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1.0", "10.0"} | {
        "100.0",
        "1000.0",
        "+Inf",
    }


@pytest.mark.parametrize(
    ("result", "label", "errors", "terminal"),
    [
        (Result.SUCCESS, "success", 0, 0),
        (Result.ERROR, "error", 1, 0),
        (Result.SPEC_ERROR, "error", 1, 1),  # waits for the user's edit: a terminal error
        (Result.REQUEUE_AFTER, "requeue_after", 0, 0),  # a 429's Retry-After
    ],
)
def test_each_verdict_counts_as_controller_runtime_counts_it(
    result: Result, label: str, errors: int, terminal: int
) -> None:
    metrics = Metrics()
    metrics.reconciled(RESULT_LABELS[result], 0.3, terminal=result is Result.SPEC_ERROR)
    _, samples = _scrape(metrics)
    assert {r: _value(samples, "controller_runtime_reconcile_total", result=r) for r in RESULTS} == {
        r: float(r == label) for r in RESULTS
    }
    assert _value(samples, "controller_runtime_reconcile_errors_total") == errors
    assert _value(samples, "controller_runtime_terminal_reconcile_errors_total") == terminal
    assert _value(samples, "controller_runtime_reconcile_time_seconds_sum") == 0.3


@pytest.mark.anyio
async def test_queue_series_follow_the_queue_at_each_scrape() -> None:
    metrics, clock = Metrics(), Clock()
    q: WorkQueue[str] = WorkQueue(clock=clock, observer=metrics.queue)
    metrics.queue.read_from(lambda: q.depth, q.in_flight_ages)

    def now(name: str) -> float:
        return _value(_scrape(metrics)[1], name, name=CONTROLLER)

    q.add("a")
    q.add("a")  # collapses: not another add
    assert (now("workqueue_adds_total"), now("workqueue_depth")) == (1, 1)
    clock.now += 2
    key = await q.get()
    assert now("workqueue_queue_duration_seconds_sum") == 2
    assert now("workqueue_depth") == 0
    q.add("a")  # while in flight: one more pass waits, as client-go counts it
    assert (now("workqueue_adds_total"), now("workqueue_depth")) == (2, 1)
    clock.now += 3
    assert now("workqueue_unfinished_work_seconds") == 3
    assert now("workqueue_longest_running_processor_seconds") == 3
    q.done(key)
    assert now("workqueue_work_duration_seconds_count") == 1
    assert now("workqueue_work_duration_seconds_sum") == 3
    assert now("workqueue_unfinished_work_seconds") == 0
    assert now("workqueue_longest_running_processor_seconds") == 0
    assert now("workqueue_retries_total") == 0
    q.add_rate_limited("b")
    q.add_after("c", 10)
    assert now("workqueue_retries_total") == 2
    assert now("workqueue_adds_total") == 2, "a delayed add is counted when it enters the queue"
    with anyio.fail_after(1):
        assert await q.get() == "a"  # queued by done
    assert now("workqueue_queue_duration_seconds_count") == 2
    assert now("workqueue_queue_duration_seconds_sum") == 2 + 3, "waited since its add while in flight"


def test_a_deleted_clusters_series_are_removed_and_so_are_components_no_longer_reported() -> None:
    metrics = Metrics()
    metrics.components("ns/a", {"keystone": True, "region": False})
    metrics.components("ns/b", {"keystone": True})
    metrics.last_success.labels("ns/a").set(1)
    metrics.last_success.labels("ns/b").set(1)
    metrics.components("ns/a", {"keystone": False})  # region no longer in the status

    def clusters() -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for (name, lab), _ in _scrape(metrics)[1].items():
            labels = dict(lab)
            if name.startswith("cloudpods_operator_c"):
                out.setdefault(labels["cluster"], set()).add(labels.get("component", "last_success"))
        return out

    assert clusters() == {"ns/a": {"keystone", "last_success"}, "ns/b": {"keystone", "last_success"}}
    metrics.cluster_gone("ns/a")
    assert clusters() == {"ns/b": {"keystone", "last_success"}}
    metrics.cluster_gone("ns/a")  # twice (a second event of the deletion) is harmless
    metrics.cluster_gone("ns/never-seen")
    assert clusters() == {"ns/b": {"keystone", "last_success"}}


def test_the_readme_table_lists_every_family_with_its_type_and_labels() -> None:
    section = (REPO / "README.md").read_text().split("## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            name, kind, labels = (cell.strip() for cell in line.strip("|").split("|")[:3])
            rows[name.strip("`")] = (kind, frozenset(filter(None, (x.strip() for x in labels.split(",")))))
    assert rows == EXPECTED
