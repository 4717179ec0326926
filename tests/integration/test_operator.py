"""The operator process against a real API server: the seed's scenarios, done with kubectl as users do."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.api_client import ApiClient

from cloudpods_operator import planner, status

from .cloud import WORKLOAD_PLURALS, Cloud
from .conftest import Kube
from .helpers import Kubectl, wait_for
from .operator_process import OperatorProcess

pytestmark = pytest.mark.integration

PINNED_TAGS = (
    ":2.12.4-20260415",
    ":1.6.0",
    ":v1.0.8",
    ":v0.0.4",
    ":release-1.36.4-6",
    ":release-1.36-1",
    ":v1.129.1-1",
    ":3.5.12",
    ":1.37.0-glibc",
)


def _follows_version(image: str) -> bool:
    return not image.endswith(PINNED_TAGS)


def _passes(cloud: Cloud, **labels: str) -> float:
    """Reconcile passes the operator has finished (each one counted once it is done)."""
    return cloud.operator.metric("controller_runtime_reconcile_total", **labels)


def _wait_passes(cloud: Cloud, count: float, timeout: float, what: str, **labels: str) -> None:
    """Until `count` reconcile passes (with these metric labels) have finished."""
    wait_for(lambda: _passes(cloud, **labels) >= count, timeout, interval=0.2, what=what)


def _at_rest(cloud: Cloud, timeout: float = 60.0) -> float:
    """Once Ready: wait until two reconcile passes in a row finish without a write (the first may have been
    under way already, the second started after the count was read, so the echo of the last status write
    has been handled); returns the write count."""
    deadline = time.monotonic() + timeout
    while True:
        writes, passes = cloud.operator.writes(), _passes(cloud)
        left = max(deadline - time.monotonic(), 0.0)
        _wait_passes(cloud, passes + 2, left, "two reconcile passes")
        if cloud.operator.writes() == writes:
            return writes
        assert time.monotonic() < deadline, f"still writing {timeout:.0f}s after Ready"


def test_example_cluster_comes_up_ready_with_printer_columns(cloud: Cloud, kubectl: Kubectl) -> None:
    cloud.apply()
    cr = cloud.wait_ready()
    planned = {(o.kind, o.name) for o in cloud.plan().objects}
    for kind, name in sorted(planned):
        kubectl("get", kind.lower(), name, "-n", cloud.namespace)
    assert set(cr["status"]["components"]) == {
        c.name for c in cloud.plan().components if c.state is not planner.State.DISABLED
    }
    table = kubectl("get", "onecloudclusters.onecloud.yunion.io", "-n", cloud.namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "KEYSTONE", "VERSION", "READY", "AGE"]
    row = table[1].split()
    assert row[:4] == [
        "default",
        "registry.cn-beijing.aliyuncs.com/yunionio/keystone:v3.11.5",
        "v3.11.5",
        "True",
    ]
    short = kubectl("get", "oc", "-n", cloud.namespace, "default", "-o", "jsonpath={.status.version}").stdout
    assert short == "v3.11.5"


def test_version_and_repository_roll_every_component(cloud: Cloud) -> None:
    cloud.apply()
    cloud.wait_ready()
    cloud.patch({"spec": {"version": "archdev-v36"}})
    cloud.wait_ready()
    images = [i for imgs in cloud.images().values() for i in imgs]
    assert all(i.endswith(":archdev-v36") for i in images if _follows_version(i)), images
    assert any(not _follows_version(i) for i in images)  # third-party images keep their own tags

    cloud.patch({"spec": {"imageRepository": "registry.cn-beijing.aliyuncs.com/zexi"}})
    cloud.wait_ready()
    images = [i for imgs in cloud.images().values() for i in imgs]
    assert all(i.startswith("registry.cn-beijing.aliyuncs.com/zexi/") for i in images), images
    assert all(i.endswith(":archdev-v36") for i in images if _follows_version(i))


def _status_writes(cloud: Cloud) -> float:
    """PATCHes that were not object applies: the status applies (Events are POSTs)."""
    patches = cloud.operator.metric("rest_client_requests_total", method="PATCH")
    return patches - cloud.operator.metric("cloudpods_operator_applies_total")


def test_a_version_bump_writes_status_on_condition_changes_and_otherwise_every_two_seconds(
    cloud: Cloud,
) -> None:
    """One write per rollout step made 24-26 status writes per bump; now a condition's change is written at
    once, progress at most every ``STATUS_INTERVAL``, and the last write carries the final counters."""
    cloud.apply()
    cloud.wait_ready()
    _at_rest(cloud)
    before = _status_writes(cloud)
    started = time.monotonic()
    cloud.patch({"spec": {"version": "v3.11.7"}})
    cloud.wait_ready()
    _at_rest(cloud)
    took = time.monotonic() - started
    writes = _status_writes(cloud) - before
    # the new generation, Ready again, and progress in between at most once per interval (+1: a boundary)
    bound = 2 + took / status.STATUS_INTERVAL + 1
    assert 2 <= writes <= bound, f"{writes:.0f} status writes in {took:.1f}s (at most {bound:.1f})"
    components = cloud.cr()["status"]["components"]
    live = cloud.workloads()
    for name, entry in components.items():
        obj = live[entry["name"]]
        assert entry["phase"] == "Normal", (name, entry)
        ready = obj["status"].get("readyReplicas", obj["status"].get("numberReady", 0))
        assert entry["ready"] == ready, (name, entry, obj["status"])


def test_region_override_changes_region_and_nothing_else(cloud: Cloud, kubectl: Kubectl) -> None:
    cloud.apply()
    cloud.wait_ready()
    before = {
        n: (o["metadata"]["resourceVersion"], o["metadata"]["generation"])
        for n, o in cloud.workloads().items()
    }
    cloud.patch({"spec": {"regionServer": {"repository": "192.168.0.1:5000/yunionio", "tag": "lzx-dev"}}})
    cloud.wait_ready()
    out = kubectl("get", "deployment", "-n", cloud.namespace, "default-region", "-o", "yaml").stdout
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("image:")]
    assert lines and set(lines) == {"image: 192.168.0.1:5000/yunionio/region:lzx-dev"}, lines
    after = {
        n: (o["metadata"]["resourceVersion"], o["metadata"]["generation"])
        for n, o in cloud.workloads().items()
    }
    changed = {n for n in before if before[n] != after[n]}
    assert changed == {"default-region"}, changed


def test_an_unpullable_tag_shows_in_kubectl_get_within_seconds_and_spares_the_daemonsets(
    cloud: Cloud, kubectl: Kubectl
) -> None:
    """The running operator's Pod watch: KWOK's kubelet cannot pull a tag ending in -unpullable."""
    cloud.apply()
    cloud.wait_ready()
    daemonsets = {
        n: o["metadata"]["generation"] for n, o in cloud.workloads().items() if o["kind"] == "DaemonSet"
    }
    assert daemonsets
    bad = "v9.9.9-unpullable"
    cloud.patch({"spec": {"version": bad}})

    def shown() -> list[str]:
        table = kubectl("get", "oc", "-n", cloud.namespace, "-o", "wide").stdout.splitlines()
        assert table[0].split()[:5] == ["NAME", "KEYSTONE", "VERSION", "READY", "REASON"], table[0]
        row = table[1].split()
        assert row[3:5] == ["False", "ImagePullFailed"], row
        return row

    wait_for(shown, timeout=10, what="REASON ImagePullFailed in kubectl get oc -o wide")
    assert f":{bad}" in cloud.condition("Degraded")["message"]  # names components and images (<= 1 KiB)

    def region_says() -> bool:
        return f"region:{bad}" in cloud.cr()["status"]["components"]["region"].get("message", "")

    wait_for(region_says, timeout=10, what="region's status names its image")
    assert cloud.condition("Progressing")["reason"] == "RolloutHalted"
    now = {n: o["metadata"]["generation"] for n, o in cloud.workloads().items() if o["kind"] == "DaemonSet"}
    assert now == daemonsets, "a DaemonSet got the tag that cannot be pulled"


def test_resync_at_rest_sends_no_writes(cloud: Cloud) -> None:
    cloud.apply()
    cloud.wait_ready()
    writes = _at_rest(cloud)
    passes = _passes(cloud)
    versions = {
        (kind, item["metadata"]["name"]): item["metadata"]["resourceVersion"]
        for kind in ("deployments", "daemonsets", "statefulsets", "services", "configmaps", "ingresses")
        for item in cloud.get(kind)["items"]
    }
    # Two resync passes (the fixture runs the operator with --resync 5) within 12 s, sending nothing.
    _wait_passes(cloud, passes + 2, 12, "two resync passes")
    assert cloud.operator.writes() == writes
    assert cloud.operator.metric("cloudpods_operator_apply_skipped_total") > 0
    now = {
        (kind, item["metadata"]["name"]): item["metadata"]["resourceVersion"]
        for kind in ("deployments", "daemonsets", "statefulsets", "services", "configmaps", "ingresses")
        for item in cloud.get(kind)["items"]
    }
    assert now == versions


def test_other_managers_fields_survive_and_hand_edits_are_reverted(cloud: Cloud, kubectl: Kubectl) -> None:
    cloud.apply()
    cloud.wait_ready()
    ns = cloud.namespace
    kubectl("annotate", "deployment", "default-scheduler", "-n", ns, "team=ops")
    kubectl("scale", "deployment", "default-scheduler", "-n", ns, "--replicas=3")
    kubectl("set", "image", "deployment/default-webconsole", "-n", ns, "web=evil.example.com/webconsole:1")
    expected = "registry.cn-beijing.aliyuncs.com/yunionio/webconsole:v3.11.5"

    def reverted() -> bool:
        pod = cloud.get("deployment", "default-webconsole")["spec"]["template"]["spec"]
        return bool({c["name"]: c["image"] for c in pod["containers"]}["web"] == expected)

    wait_for(reverted, 30, what="hand-edited image put back")
    passes = cloud.operator.metric("controller_runtime_reconcile_total")
    wait_for(lambda: cloud.operator.metric("controller_runtime_reconcile_total") >= passes + 2, 30)
    scheduler = cloud.get("deployment", "default-scheduler")
    assert scheduler["metadata"]["annotations"]["team"] == "ops"
    assert scheduler["spec"]["replicas"] == 3
    events = cloud.get("events")["items"]
    assert any(
        e.get("reason") == "DriftCorrected"
        and "default-webconsole" in (e.get("message") or e.get("note") or "")
        for e in events
    )


def test_disable_deletes_the_workload_keeps_config_and_reenable_restores(
    cloud: Cloud, kubectl: Kubectl
) -> None:
    cloud.apply()
    cloud.wait_ready()
    uid = cloud.get("secret", "default-glance-config")["metadata"]["uid"]
    pvc = cloud.get("pvc", "default-glance")["metadata"]["uid"]
    cloud.patch({"spec": {"glance": {"disable": True}}})
    wait_for(lambda: "default-glance" not in cloud.workloads(), 30, what="glance Deployment deleted")
    assert cloud.get("secret", "default-glance-config")["metadata"]["uid"] == uid  # its config is kept
    assert cloud.get("pvc", "default-glance")["metadata"]["uid"] == pvc
    assert "glance" not in cloud.wait_ready()["status"]["components"]
    cloud.patch({"spec": {"glance": {"disable": False}}})
    cr = cloud.wait_ready()
    assert cr["status"]["components"]["glance"]["phase"] == "Normal"
    assert "default-glance" in cloud.workloads()


def test_deleting_the_cluster_removes_what_it_owned(cloud: Cloud, kubectl: Kubectl) -> None:
    cloud.apply()
    cloud.wait_ready()
    kubectl("delete", "oc", "-n", cloud.namespace, "default")

    def gone() -> bool:
        left = [cloud.get(kind)["items"] for kind in (*WORKLOAD_PLURALS, "services")]
        return not any(left) and not cloud.get("configmaps")["items"][1:]  # kube-root-ca.crt stays

    wait_for(gone, 60, what="owned objects garbage-collected")
    assert {p["metadata"]["name"] for p in cloud.get("pvc")["items"]} >= {"default-glance"}  # data is kept


async def _first_deployment_with(api: ApiClient, namespace: str, since: str, tag: str) -> str:
    """Follows the namespace's Deployments from resourceVersion `since` (a watch delivers every change);
    returns the name of the first whose pod template carries an image tagged `tag`."""
    resp: Any = await k8s.AppsV1Api(api).list_namespaced_deployment(
        namespace,
        watch=True,
        resource_version=since,
        allow_watch_bookmarks=False,
        timeout_seconds=120,
        _preload_content=False,
    )
    try:
        while line := await resp.content.readline():
            event = json.loads(line)
            assert event.get("type") != "ERROR", event
            obj = event.get("object") or {}
            containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
            if any(c["image"].endswith(tag) for c in containers):
                return str(obj["metadata"]["name"])
    finally:
        resp.release()
    raise AssertionError(f"no Deployment in {namespace} was given an image tagged {tag}")


async def test_sigkill_mid_rollout_converges_after_restart(cloud: Cloud, kube: Kube, api: ApiClient) -> None:
    cloud.apply()
    cloud.wait_ready()
    ns = cloud.namespace
    since = (await k8s.AppsV1Api(api).list_namespaced_deployment(ns)).metadata.resource_version
    rolled = asyncio.create_task(_first_deployment_with(api, ns, since, ":v3.12.0"))
    await asyncio.to_thread(cloud.patch, {"spec": {"version": "v3.12.0"}})
    first = await asyncio.wait_for(rolled, 60)
    # The state that proves the rollout is under way: the watch saw a first workload at the new version. The
    # operator is frozen at once (SIGSTOP), so the state read next is the one the SIGKILL lands in, however
    # late this test gets the CPU back: some workloads at the new version, some not.
    cloud.operator.freeze()
    following = {n: [i for i in imgs if _follows_version(i)] for n, imgs in cloud.images().items()}
    cloud.operator.kill()
    assert all(i.endswith(":v3.12.0") for i in following[first]), following[first]
    behind = sorted(n for n, imgs in following.items() if not all(i.endswith(":v3.12.0") for i in imgs))
    assert behind, "the operator was frozen after the rollout had finished: it must be killed in the middle"
    print(f"\nSIGKILL after {first}, with {len(behind)} of {len(following)} workloads on the old version")
    restarted = OperatorProcess(kube.kubeconfig, namespaces=(cloud.namespace,)).start()
    cloud.operator = restarted
    cloud.wait_ready()
    live = cloud.workloads()
    assert set(live) == cloud.planned_workloads()
    images = [i for imgs in cloud.images().values() for i in imgs]
    assert all(i.endswith(":v3.12.0") for i in images if _follows_version(i)), images
    replicasets = cloud.get("replicasets")["items"]
    current = [rs for rs in replicasets if rs["spec"].get("replicas", 0) > 0]
    assert len(current) == sum(
        1 for o in live.values() if o["kind"] == "Deployment" and o["spec"]["replicas"] > 0
    )


def test_schema_rejects_bad_input_at_admission(cloud: Cloud, kubectl: Kubectl) -> None:
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "negative replicas": ({"regionServer": {"replicas": -1}}, "replicas"),
        "bad repository": ({"regionServer": {"repository": "HTTP://not a repo"}}, "repository"),
        "bad tag": ({"version": "v1 with spaces"}, "version"),
        "bad pull policy": ({"keystone": {"imagePullPolicy": "Sometimes"}}, "imagePullPolicy"),
        "unknown product": ({"productVersion": "Baremetal"}, "productVersion"),
        "unknown field": ({"regionServr": {}}, "regionServr"),
        "LightEdge with local VPC": (
            {"productVersion": "LightEdge", "disableLocalVpc": False},
            "disableLocalVpc",
        ),
    }
    for label, (spec, field) in cases.items():
        doc = cloud.manifest(**spec)
        done = kubectl("apply", "-f", "-", input=json.dumps(doc), check=False)
        assert done.returncode != 0, label
        assert field in done.stderr, (label, done.stderr)
    assert cloud.get("onecloudclusters.onecloud.yunion.io")["items"] == []


def test_spec_that_cannot_be_planned_degrades_without_touching_workloads(
    cloud: Cloud, kubectl: Kubectl
) -> None:
    cloud.apply()
    cloud.wait_ready()
    before = {n: o["metadata"]["resourceVersion"] for n, o in cloud.workloads().items()}
    ns = cloud.namespace
    kubectl("annotate", "oc", "-n", ns, "default", "onecloud.yunion.io/edition=platinum", "--overwrite")
    cloud.patch({"spec": {"version": "v9.9.9"}})

    def degraded() -> bool:
        cond = cloud.condition("Degraded")
        return cond.get("status") == "True" and cond.get("reason") == "InvalidSpec"

    wait_for(degraded, 30, what="Degraded=True InvalidSpec")
    assert "platinum" in cloud.condition("Degraded")["message"]
    # Later passes over the bad spec (the echo, the resync) must leave every workload as it was, too: two
    # more, as the pass that wrote the condition may not have been counted yet.
    terminal = "controller_runtime_terminal_reconcile_errors_total"  # a spec error is a terminal error
    refused = cloud.operator.metric(terminal)
    wait_for(lambda: cloud.operator.metric(terminal) >= refused + 2, 30, interval=0.2, what="two more passes")
    assert {n: o["metadata"]["resourceVersion"] for n, o in cloud.workloads().items()} == before
    events = cloud.get("events")["items"]
    assert any(e.get("type") == "Warning" and e.get("reason") == "InvalidSpec" for e in events)
    assert cloud.operator.proc is not None and cloud.operator.proc.poll() is None
    kubectl("annotate", "oc", "-n", ns, "default", "onecloud.yunion.io/edition=ce", "--overwrite")
    cloud.wait_ready()
    assert cloud.condition("Degraded")["status"] == "False"
    assert all(i.endswith(":v9.9.9") for imgs in cloud.images().values() for i in imgs if _follows_version(i))


def test_sigterm_finishes_and_exits_zero_quickly(cloud: Cloud) -> None:
    cloud.apply()
    cloud.wait_ready()
    started = time.monotonic()
    assert cloud.operator.terminate(timeout=10) == 0
    assert time.monotonic() - started < 10
    assert '"stopped"' in cloud.operator.logs()
