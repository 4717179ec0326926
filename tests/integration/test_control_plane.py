"""The cluster under test is a real Kubernetes control plane: CRDs with printer columns, server-side apply
with conflicts, controllers (Deployment, DaemonSet, garbage collector), a scheduler and KWOK nodes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.api_client import ApiClient

from .conftest import Kube
from .helpers import Kubectl, eventually

pytestmark = pytest.mark.integration

APPLY = "application/apply-patch+yaml"
HOST_LABEL = "onecloud.yunion.io/host"


def _pod_ready(pod: Any) -> bool:
    conditions = pod.status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


async def test_apiserver_metrics_readable_by_admin(api: ApiClient) -> None:
    resp = await api.call_api("/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False)
    try:
        assert resp.status == 200
        text = await resp.text()
    finally:
        resp.release()
    assert "apiserver_request_total{" in text


async def test_nodes_are_ready(kube: Kube, kubectl: Kubectl) -> None:
    out = kubectl("get", "nodes", "-o", "wide").stdout
    assert " Ready " in out
    if kube.is_local:
        for name in ("node-controller-0", "node-host-0", "node-host-1", "node-lbagent-0"):
            assert name in out
        labels = kubectl("get", "nodes", "-l", f"{HOST_LABEL}=enable", "-o", "name").stdout.split()
        assert sorted(labels) == ["node/node-host-0", "node/node-host-1"]


async def test_crd_printer_columns_served(api: ApiClient, kubectl: Kubectl, namespace: str) -> None:
    group = f"it{uuid.uuid4().hex[:8]}.cloudpods.test"
    plural = "widgets"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "size": {"type": "integer"},
                                        "color": {"type": "string"},
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {"phase": {"type": "string"}},
                                },
                            },
                        }
                    },
                    "additionalPrinterColumns": [
                        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                        {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    ],
                }
            ],
        },
    }
    ext = k8s.ApiextensionsV1Api(api)
    custom = k8s.CustomObjectsApi(api)
    await ext.create_custom_resource_definition(crd)  # type: ignore[arg-type]  # the client takes plain dicts at run time
    try:

        async def established() -> None:
            got = await ext.read_custom_resource_definition(f"{plural}.{group}")
            conds = {c.type: c.status for c in (got.status.conditions or [])}
            assert conds.get("Established") == "True", conds

        await eventually(established, timeout=30)
        widget = {
            "apiVersion": f"{group}/v1alpha1",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 42, "color": "teal"},
        }

        async def create() -> None:  # discovery may lag a moment behind Established
            await custom.create_namespaced_custom_object(group, "v1alpha1", namespace, plural, widget)

        await eventually(create, timeout=30, retry_on=(k8s.ApiException,))
        await custom.patch_namespaced_custom_object_status(  # type: ignore[call-arg]  # the client takes plain dicts at run time
            group,
            "v1alpha1",
            namespace,
            plural,
            "w1",
            {"status": {"phase": "Running"}},
            _content_type="application/merge-patch+json",
        )

        def columns() -> None:
            out = kubectl("get", f"{plural}.{group}", "-n", namespace).stdout
            header, row = out.splitlines()[:2]
            assert header.split() == ["NAME", "SIZE", "COLOR", "PHASE"], out
            assert row.split() == ["w1", "42", "teal", "Running"], out

        await eventually(columns, timeout=30)
    finally:
        await ext.delete_custom_resource_definition(f"{plural}.{group}")


async def test_server_side_apply_conflict_and_noop(api: ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api)

    def cm(value: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ssa", "namespace": namespace},
            "data": {"key": value},
        }

    first = await core.patch_namespaced_config_map(  # type: ignore[call-arg]  # the client takes plain dicts at run time
        "ssa", namespace, cm("a"), field_manager="manager-a", _content_type=APPLY
    )
    assert first.data == {"key": "a"}
    assert [m.manager for m in first.metadata.managed_fields] == ["manager-a"]

    with pytest.raises(k8s.ApiException) as conflict:
        await core.patch_namespaced_config_map(  # type: ignore[call-arg]  # the client takes plain dicts at run time
            "ssa", namespace, cm("b"), field_manager="manager-b", _content_type=APPLY
        )
    assert conflict.value.status == 409
    assert "conflict" in str(conflict.value.body).lower()

    again = await core.patch_namespaced_config_map(  # type: ignore[call-arg]  # the client takes plain dicts at run time
        "ssa", namespace, cm("a"), field_manager="manager-a", _content_type=APPLY
    )
    assert again.metadata.resource_version == first.metadata.resource_version

    forced = await core.patch_namespaced_config_map(  # type: ignore[call-arg]  # the client takes plain dicts at run time
        "ssa", namespace, cm("b"), field_manager="manager-b", force=True, _content_type=APPLY
    )
    assert forced.data == {"key": "b"}
    assert forced.metadata.resource_version != first.metadata.resource_version


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "registry.invalid/cloudpods/pause:1"}]},
            },
        },
    }


async def test_deployment_pods_become_ready(kube: Kube, api: ApiClient, namespace: str) -> None:
    apps = k8s.AppsV1Api(api)
    core = k8s.CoreV1Api(api)
    await apps.create_namespaced_deployment(namespace, _deployment("web", 3))  # type: ignore[arg-type]  # the client takes plain dicts at run time

    async def rolled_out() -> None:
        dep = await apps.read_namespaced_deployment("web", namespace)
        assert dep.status.ready_replicas == 3, dep.status

    await eventually(rolled_out, timeout=60)
    pods = (await core.list_namespaced_pod(namespace, label_selector="app=web")).items
    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Running"
        assert _pod_ready(pod)
        assert pod.status.pod_ip
        assert pod.spec.node_name
    if kube.is_local:
        nodes = {p.spec.node_name for p in pods}
        for name in nodes:
            node = await core.read_node(name)
            assert node.metadata.annotations.get("kwok.x-k8s.io/node") == "fake"


async def test_daemonset_lands_only_on_matching_nodes(api: ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api)
    apps = k8s.AppsV1Api(api)
    all_nodes = (await core.list_node()).items
    matching = {n.metadata.name for n in all_nodes if (n.metadata.labels or {}).get(HOST_LABEL) == "enable"}
    labelled: list[str] = []
    if not matching:  # a foreign cluster: label one node for the duration of the test
        first = all_nodes[0].metadata.name
        await core.patch_node(first, {"metadata": {"labels": {HOST_LABEL: "enable"}}})
        labelled.append(first)
        matching = {first}
    try:
        labels = {"app": "host-agent"}
        ds = {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "host-agent"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": {HOST_LABEL: "enable"},
                        "containers": [{"name": "agent", "image": "registry.invalid/cloudpods/host:1"}],
                    },
                },
            },
        }
        await apps.create_namespaced_daemon_set(namespace, ds)  # type: ignore[arg-type]  # the client takes plain dicts at run time

        async def all_ready() -> None:
            got = await apps.read_namespaced_daemon_set("host-agent", namespace)
            assert got.status.desired_number_scheduled == len(matching), got.status
            assert got.status.number_ready == len(matching), got.status

        await eventually(all_ready, timeout=60)
        pods = (await core.list_namespaced_pod(namespace, label_selector="app=host-agent")).items
        assert sorted(p.spec.node_name for p in pods) == sorted(matching)
        assert all(_pod_ready(p) for p in pods)
    finally:
        for name in labelled:
            await core.patch_node(name, {"metadata": {"labels": {HOST_LABEL: None}}})


async def test_garbage_collector_deletes_dependents(api: ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api)
    apps = k8s.AppsV1Api(api)

    owner = await core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "owner"}, "data": {"role": "owner"}},  # type: ignore[arg-type]  # the client takes plain dicts at run time
    )
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    await core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "dependent", "ownerReferences": [ref]}, "data": {"role": "dependent"}},  # type: ignore[arg-type]  # the client takes plain dicts at run time
    )
    await core.create_namespaced_secret(
        namespace,
        {"metadata": {"name": "dependent-secret", "ownerReferences": [ref]}, "stringData": {"k": "v"}},  # type: ignore[arg-type]  # the client takes plain dicts at run time
    )
    await core.delete_namespaced_config_map("owner", namespace)

    async def dependents_gone() -> None:
        names = {c.metadata.name for c in (await core.list_namespaced_config_map(namespace)).items}
        assert "dependent" not in names, names
        secrets = {s.metadata.name for s in (await core.list_namespaced_secret(namespace)).items}
        assert "dependent-secret" not in secrets, secrets

    await eventually(dependents_gone, timeout=60)

    # Deployment -> ReplicaSet -> Pods, deleted in the foreground.
    await apps.create_namespaced_deployment(namespace, _deployment("gc", 2))  # type: ignore[arg-type]  # the client takes plain dicts at run time

    async def has_pods() -> None:
        pods = (await core.list_namespaced_pod(namespace, label_selector="app=gc")).items
        assert len(pods) == 2

    await eventually(has_pods, timeout=60)
    await apps.delete_namespaced_deployment("gc", namespace, propagation_policy="Foreground")

    async def all_gone() -> None:
        rs = (await apps.list_namespaced_replica_set(namespace, label_selector="app=gc")).items
        pods = (await core.list_namespaced_pod(namespace, label_selector="app=gc")).items
        deps = (await apps.list_namespaced_deployment(namespace)).items
        assert not rs and not pods and not deps, (len(rs), len(pods), len(deps))

    await eventually(all_gone, timeout=60)
