"""The operator's probes, metrics and logs, read from a real process the way kubelet and Prometheus do.

- /healthz answers as soon as the process serves; /readyz is 503 until every watch has listed, then 200.
  The transition is made observable by starting the operator as a ServiceAccount that may not list yet,
  and granting list+watch while it runs.
- /metrics carries exactly the families of tests/unit/metric_names.py (controller-runtime's, client-go's, the
  process collector's, the operator's own), no ``_created`` series; every workqueue and reconcile series
  moves with one reconcile, and a deleted cluster's series go.
- Log lines are JSON objects, and those about a cluster carry "cluster": "<namespace>/<name>".
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from metric_names import EXPECTED

from cloudpods_operator import kinds
from localcluster import demo

from .conftest import Kube
from .helpers import KEYSTONE_IMAGE, Kubectl, delete_namespace, eventually, example_yaml, new_namespace
from .operator_process import OperatorProcess

pytestmark = pytest.mark.integration

REFUSALS = 5
"""Refused lists per watch before list rights are granted: retried 0.2, 0.4, 0.8 and 1.6 s apart (3 s)."""

READ_ONLY_ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: list-watch, namespace: {ns}}}
rules:
  - apiGroups: [onecloud.yunion.io]
    resources: [onecloudclusters]
    verbs: [list, watch]
  - apiGroups: [apps]
    resources: [deployments, daemonsets, statefulsets]
    verbs: [list, watch]
  - apiGroups: [""]
    resources: [services, configmaps, secrets, serviceaccounts, persistentvolumeclaims, pods]
    verbs: [list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: list-watch, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: list-watch}}
subjects: [{{kind: ServiceAccount, name: probe, namespace: {ns}}}]
"""


MOVING: dict[str, dict[str, str]] = {
    "controller_runtime_reconcile_total": {"result": "success"},
    "controller_runtime_reconcile_time_seconds_count": {},
    "workqueue_adds_total": {},
    "workqueue_queue_duration_seconds_count": {},
    "workqueue_work_duration_seconds_count": {},
    "rest_client_request_duration_seconds_count": {"verb": "PATCH"},
    "rest_client_requests_total": {"method": "PATCH", "code": "200"},
}
"""Counters and histograms one successful reconcile moves (the in-flight gauges: the APF test below)."""

IN_FLIGHT = (
    "controller_runtime_active_workers",
    "workqueue_depth",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
)
"""Gauges read from the queue and the workers at each scrape: 0 at rest, not 0 while a pass is held."""


def _types(exposition: str) -> dict[str, str]:
    out = {}
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            out[name] = kind
    return out


def _json_lines(operator: OperatorProcess) -> list[dict[str, Any]]:
    lines = [ln for ln in operator.logs().splitlines() if ln.strip()]
    parsed = [json.loads(ln) for ln in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "msg"} <= set(p) for p in parsed)
    return parsed


async def test_readyz_is_503_until_the_watches_have_listed(
    kube: Kube, kubectl: Kubectl, crd: None, namespace: str, tmp_path: Path
) -> None:
    kubectl("create", "serviceaccount", "probe", "-n", namespace)
    token = await demo.service_account_token(kube.kubeconfig, namespace, "probe", 600)
    kubeconfig = demo.write_token_kubeconfig(kube.kubeconfig, token, tmp_path / "probe.kubeconfig", "probe")
    operator = OperatorProcess(kubeconfig, (namespace,), log_path=tmp_path / "operator.log")
    operator.start(wait_ready=False)
    try:

        def serving() -> None:
            assert operator.proc is not None and operator.proc.poll() is None, operator.logs()[-2000:]
            assert operator.get("/healthz") == (200, "ok")

        await eventually(serving, timeout=30, retry_on=(AssertionError, OSError))
        started = time.monotonic()
        # Not allowed to list yet: alive and never ready, checked at every poll until every watch has been
        # refused REFUSALS times (its backoff doubling from 0.2 s), each failed list a watch restart.
        watched = [kinds.RESOURCES[kind].plural for kind in (kinds.CLUSTER_KIND, *kinds.OWNED_KINDS, "Pod")]

        def refused_again_and_again() -> bool:
            assert operator.get("/readyz") == (503, "caches not synced")
            assert operator.get("/healthz")[0] == 200
            restarts = {
                plural: operator.metric(
                    "cloudpods_operator_watch_restarts_total", resource=plural, reason="error"
                )
                for plural in watched
            }
            return min(restarts.values()) >= REFUSALS

        await eventually(refused_again_and_again, timeout=30, retry_on=())
        assert operator.metric("cloudpods_operator_watch_restarts_total", reason="error") > 0
        assert operator.metric("rest_client_requests_total", code="403") > 0

        kubectl("apply", "-f", "-", input=READ_ONLY_ROLE.format(ns=namespace))
        granted = time.monotonic()

        def ready() -> None:
            assert operator.get("/readyz") == (200, "ok")

        await eventually(ready, timeout=60, interval=0.05)
        print(f"\n/readyz: 503 for {granted - started:.1f}s without list rights; 200 after")
        print(f"  {time.monotonic() - granted:.1f}s once list+watch was granted (failed watches back off)")

        # A cluster it can read but not write: the Secret create is refused, the reconcile fails (and
        # is retried with backoff: a workqueue retry), and the log line names the cluster.
        kubectl("apply", "-f", "-", input=example_yaml(namespace))
        cluster = f"{namespace}/default"

        def failed() -> None:
            assert operator.metric("controller_runtime_reconcile_errors_total") >= 1
            assert operator.metric("controller_runtime_reconcile_total", result="error") >= 1
            assert operator.metric("workqueue_retries_total", name="onecloudcluster") >= 1

        await eventually(failed, timeout=30)
        warnings = [p for p in _json_lines(operator) if p["msg"].startswith("reconcile failed")]
        assert warnings and all(p["cluster"] == cluster for p in warnings), warnings[:2]
        assert "403" in warnings[0]["msg"]
        assert operator.metric("cloudpods_operator_applies_total") == 0
        assert operator.metric("controller_runtime_terminal_reconcile_errors_total") == 0, "403 is retried"
        assert operator.metric("cloudpods_operator_cluster_last_success_timestamp_seconds") == 0
        assert operator.terminate() == 0
    finally:
        operator.kill()


async def test_metrics_move_with_a_reconcile_and_logs_name_the_cluster(
    kube: Kube, kubectl: Kubectl, crd: None, tmp_path: Path
) -> None:
    target = new_namespace(kubectl, "it-metrics")
    operator = OperatorProcess(kube.kubeconfig, (target,), log_path=tmp_path / "operator.log")
    cluster = f"{target}/default"
    try:
        operator.start()
        text = operator.metrics()
        assert _types(text) == {name: kind for name, (kind, _) in EXPECTED.items()}
        assert "_created" not in text, "no _created series"
        assert operator.metric("process_resident_memory_bytes") > 10e6
        assert operator.metric("controller_runtime_max_concurrent_reconciles") >= 1
        assert operator.get("/metrics")[0] == 200, "the health port serves /metrics too"
        moving = {name: operator.metric(name, **labels) for name, labels in MOVING.items()}
        before = {
            "reconciles": operator.metric("controller_runtime_reconcile_total"),
            "seconds": operator.metric("controller_runtime_reconcile_time_seconds_count"),
            "applies": operator.metric("cloudpods_operator_applies_total"),
            "skipped": operator.metric("cloudpods_operator_apply_skipped_total"),
            "writes": operator.writes(),
        }
        assert before == dict.fromkeys(before, 0.0), "nothing to do in an empty namespace"

        kubectl("apply", "-f", "-", input=example_yaml(target))

        def reconciled() -> None:
            out = kubectl(
                "get", "oc", "default", "-n", target, "-o", "jsonpath={.status.components.keystone.image}"
            )
            assert out.stdout == KEYSTONE_IMAGE

        await eventually(reconciled, timeout=120, interval=0.5)

        def moved() -> None:
            # The status is written inside the pass; the pass is counted once it ends, a moment later.
            now = {name: operator.metric(name, **labels) for name, labels in MOVING.items()}
            assert {name: now[name] > moving[name] for name in MOVING} == dict.fromkeys(MOVING, True), now

        await eventually(moved, timeout=30, interval=0.1)

        def keystone_ready() -> None:
            # 1 once keystone's Deployment has rolled out (KWOK runs its pod): the gauge follows the status.
            assert (
                operator.metric("cloudpods_operator_component_ready", cluster=cluster, component="keystone")
                == 1
            )

        await eventually(keystone_ready, timeout=120, interval=0.5)

        def skipped() -> None:
            # A resync (every 5 s in tests) finds the objects it applied unchanged: skipped, not sent again.
            assert operator.metric("cloudpods_operator_apply_skipped_total", kind="Secret") > 0

        await eventually(skipped, timeout=30, interval=0.5)
        assert operator.metric("controller_runtime_reconcile_total", result="success") >= 2
        assert operator.metric("controller_runtime_reconcile_time_seconds_count") >= 2
        assert operator.metric("cloudpods_operator_applies_total", kind="Deployment", action="create") >= 1
        assert operator.metric("cloudpods_operator_applies_total") > 50
        assert operator.writes() > 50
        last_success = "cloudpods_operator_cluster_last_success_timestamp_seconds"
        assert operator.metric(last_success, cluster=cluster) > 0
        assert operator.metric("controller_runtime_reconcile_errors_total") == 0
        assert f'cluster="{cluster}"' not in "".join(
            ln for ln in operator.metrics().splitlines() if ln.startswith("controller_runtime_")
        ), "no cluster label on controller-runtime's series"

        lines = _json_lines(operator)
        created = [p for p in lines if p["msg"].startswith("created ")]
        assert len(created) > 50
        assert {p.get("cluster") for p in created} == {cluster}

        kubectl("delete", "oc", "default", "-n", target, "--wait=true")

        def series_gone() -> None:
            assert f'cluster="{cluster}"' not in operator.metrics()

        await eventually(series_gone, timeout=30, interval=0.2)
        assert operator.terminate() == 0
    finally:
        operator.kill()
        delete_namespace(kubectl, target)


FULL_ACCESS = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: everything, namespace: {ns}}}
rules: [{{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: everything, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: everything}}
subjects: [{{kind: ServiceAccount, name: held, namespace: {ns}}}]
"""

HOLD_SECRET_CREATES = """
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {{name: {name}}}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 0
    lendablePercent: 0
    borrowingLimitPercent: 0
    limitResponse: {{type: Queue, queuing: {{queues: 1, handSize: 1, queueLengthLimit: 100}}}}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {{name: {name}}}
spec:
  priorityLevelConfiguration: {{name: {name}}}
  matchingPrecedence: 500
  distinguisherMethod: {{type: ByUser}}
  rules:
    - subjects: [{{kind: ServiceAccount, serviceAccount: {{name: held, namespace: {ns}}}}}]
      resourceRules: [{{verbs: [create], apiGroups: [""], resources: [secrets], namespaces: [{ns}]}}]
"""
"""API Priority and Fairness with no seat for the operator's Secret creates: each waits in the API server's
queue until it is rejected with 429 (or the level is deleted), so a reconcile stays in flight as long as
the test needs, with nothing faked; every other request of the operator flows as usual."""


async def test_in_flight_series_are_read_live_while_a_reconcile_is_held(
    kube: Kube, kubectl: Kubectl, crd: None, tmp_path: Path
) -> None:
    target = new_namespace(kubectl, "it-inflight")
    hold = f"hold-{target}"
    kubectl("create", "serviceaccount", "held", "-n", target)
    kubectl("apply", "-f", "-", input=FULL_ACCESS.format(ns=target))
    token = await demo.service_account_token(kube.kubeconfig, target, "held", 600)
    kubeconfig = demo.write_token_kubeconfig(kube.kubeconfig, token, tmp_path / "held.kubeconfig", "held")
    operator = OperatorProcess(kubeconfig, (target,), log_path=tmp_path / "operator.log")
    try:
        kubectl("apply", "-f", "-", input=HOLD_SECRET_CREATES.format(name=hold, ns=target))

        def schema_in_force() -> bool:
            jsonpath = "jsonpath={.status.conditions[?(@.type=='Dangling')].status}"
            return kubectl("get", "flowschema", hold, "-o", jsonpath).stdout == "False"

        await eventually(schema_in_force, timeout=30, interval=0.2, retry_on=())
        operator.start()
        idle = {name: operator.metric(name) for name in IN_FLIGHT}
        assert idle == dict.fromkeys(IN_FLIGHT, 0.0)

        kubectl("apply", "-f", "-", input=example_yaml(target))

        def held() -> None:
            assert operator.metric("controller_runtime_active_workers") == 1
            assert operator.metric("workqueue_unfinished_work_seconds") > 0

        await eventually(held, timeout=30, interval=0.1)
        first = operator.metric("workqueue_longest_running_processor_seconds")
        assert first > 0
        assert operator.metric("workqueue_depth") == 0, "the one key is in flight, none waits"
        # An edit while the pass is held: the key waits for one more pass (client-go counts it in depth).
        kubectl("annotate", "oc", "default", "-n", target, "example.com/touched=1")

        def waiting() -> None:
            assert operator.metric("workqueue_depth") == 1
            assert operator.metric("workqueue_longest_running_processor_seconds") > first, "read live"

        await eventually(waiting, timeout=30, interval=0.1)
        kubectl("delete", "flowschema,prioritylevelconfiguration", hold)

        def reconciled() -> None:
            assert operator.metric("controller_runtime_reconcile_total", result="success") >= 1
            assert {name: operator.metric(name) for name in IN_FLIGHT} == idle

        await eventually(reconciled, timeout=120, interval=0.5)
        # The held create ended in the API server's 429 (its queue wait ran out): Retry-After honoured.
        assert operator.metric("controller_runtime_reconcile_total", result="requeue_after") >= 1
        assert operator.metric("rest_client_requests_total", code="429", method="POST") >= 1
        assert operator.metric("workqueue_retries_total") >= 1
        assert operator.terminate() == 0
    finally:
        kubectl("delete", "flowschema,prioritylevelconfiguration", hold, "--ignore-not-found", check=False)
        if operator.proc is not None:
            operator.kill()
        delete_namespace(kubectl, target)
