"""The API server goes away mid-rollout and comes back: the operator rides it out and converges.

A control plane of the test's own (not the session's: Services created around the outage can leave
their nodePorts allocated until the API server's repair loop frees them minutes later, which broke the
next test's Services) has its kube-apiserver stopped (SIGTERM) for 20 s while a real operator process is
bringing a cluster up, then started again with the same command line on the same etcd.

kube-controller-manager is restarted once the API server is back: measured, its ReplicaSet controller
(v1.36) keeps failing its stale-informer check ("read version ... is not as new as written version")
for the ReplicaSets it wrote around the outage, backing off per key for minutes, so those report 0 ready
with their pods Running 4 minutes later; that is the controller-manager, not the operator under test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import localcluster

from .cloud import Cloud
from .conftest import Kube, install_crd, make_kubectl
from .helpers import WaitTimeout, wait_for
from .operator_process import OperatorProcess

pytestmark = pytest.mark.integration

DOWN_SECONDS = 20.0


@pytest.fixture
def own(tmp_path: Path) -> Iterator[tuple[Kube, Cloud]]:
    """A control plane of this test's own, the CRD, a namespace and an operator process watching it."""
    run_dir = tmp_path / "controlplane"
    cluster = localcluster.start(run_dir)
    operator: OperatorProcess | None = None
    try:
        kube = Kube(cluster.kubeconfig, "localcluster", cluster, cluster.startup_seconds)
        kubectl = make_kubectl(cluster.kubeconfig)
        install_crd(kubectl)
        namespace = "restart"
        kubectl("create", "namespace", namespace)
        wait_for(
            lambda: kubectl("get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0,
            30,
            what="the namespace's default ServiceAccount",
        )
        operator = OperatorProcess(cluster.kubeconfig, namespaces=(namespace,)).start()
        yield kube, Cloud(namespace, operator, kubectl)
    finally:
        if operator is not None and operator.proc is not None and operator.proc.poll() is None:
            operator.terminate()
        localcluster.stop(run_dir)


def test_api_server_down_for_20s_mid_rollout(own: tuple[Kube, Cloud]) -> None:
    kube, cloud = own
    assert kube.cluster is not None
    proc = cloud.operator.proc
    assert proc is not None
    cloud.apply()
    planned = cloud.planned_workloads()
    seen: dict[str, str] = {}

    def rolling_out() -> bool:
        seen.clear()
        seen.update({n: o["metadata"]["uid"] for n, o in cloud.workloads().items()})
        return bool(seen) and len(seen) < len(planned)

    wait_for(rolling_out, 60, interval=0.05, what="the first workloads of the rollout")
    kube.cluster.stop_component("kube-apiserver")
    stopped = time.monotonic()
    try:
        while (left := DOWN_SECONDS - (time.monotonic() - stopped)) > 0:
            assert proc.poll() is None, f"operator exited {proc.returncode} with the API server down"
            time.sleep(min(left, 0.5))  # the outage's length is the scenario; the loop checks the process
    finally:
        kube.cluster.start_component("kube-apiserver")
    assert proc.poll() is None, "the operator kept running through the outage"
    kube.cluster.stop_component("kube-controller-manager")
    kube.cluster.start_component("kube-controller-manager")
    back = time.monotonic()
    try:
        cloud.wait_ready(timeout=240)
    except WaitTimeout as exc:
        status = json.dumps(cloud.cr().get("status", {}).get("conditions"), indent=1)[-3000:]
        pods = cloud.kubectl("get", "pods", "-n", cloud.namespace, "-o", "wide", check=False).stdout[-3000:]
        rs = cloud.kubectl("get", "rs", "-n", cloud.namespace, check=False).stdout[-2000:]
        kcm = _log_tail(kube, "kube-controller-manager")
        raise AssertionError(
            f"{exc}\nconditions: {status}\npods:\n{pods}\nreplicasets:\n{rs}\nkcm:\n{kcm}\n"
            f"operator log:\n{cloud.operator.logs()[-3000:]}"
        ) from exc
    converged = time.monotonic() - back
    print(f"\n{len(seen)}/{len(planned)} workloads before the outage; Ready {converged:.1f}s after it")
    assert proc.poll() is None, "the operator kept running"
    after = {n: o["metadata"]["uid"] for n, o in cloud.workloads().items()}
    assert set(after) == planned, "every planned workload, nothing else"
    assert {n: after[n] for n in seen} == seen, "what existed before the outage was kept, not recreated"
    assert "Traceback" not in cloud.operator.logs()


def _log_tail(kube: Kube, component: str) -> str:
    assert kube.cluster is not None
    return (kube.cluster.logs_dir / f"{component}.log").read_text(errors="replace")[-3000:]
