"""OnecloudCluster manifests for the scenarios, and what the planner says their workloads must carry."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from bench.kubeapi import JSON
from bench.tracker import Key, template_images
from cloudpods_operator import catalog, diff, kinds, observed, planner, render
from cloudpods_operator.cache import NODE_LABELS
from cloudpods_operator.model import OnecloudCluster, OnecloudClusterSpec
from cloudpods_operator.observed import workload_state

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "onecloudcluster.yaml"
CR_NAME = "default"
FLEET_NODE_PORT_BASE = 30000
# The operator's label on everything it manages: the benchmark's watches select on it.
MANAGED_SELECTOR = f"app.kubernetes.io/managed-by={render.MANAGED_BY}"
# The floor's copies carry a label value of the same length, so that the operator never sees them.
FLOOR_MANAGED_BY = "onecloud-benchflr"
assert len(FLOOR_MANAGED_BY) == len(render.MANAGED_BY)


def example(namespace: str, **spec: Any) -> JSON:
    """examples/onecloudcluster.yaml in ``namespace``, with ``spec`` merged over its spec.

    ``upgradeStrategy: AllAtOnce``: the version bumps measure every workload at once against a floor
    that sends them all, as before staged upgrades existed (issue 19 adds the Staged figures)."""
    doc: JSON = yaml.safe_load(EXAMPLE.read_text())
    doc["metadata"]["namespace"] = namespace
    doc["spec"]["upgradeStrategy"] = "AllAtOnce"
    doc["spec"].update(copy.deepcopy(spec))
    return doc


def _service_fields() -> dict[str, str]:
    """spec key -> which Service spec turns its NodePort off (as render._internal_only reads it)."""
    by_alias = {
        (info.alias or name): info.annotation for name, info in OnecloudClusterSpec.model_fields.items()
    }
    out: dict[str, str] = {}
    for comp in catalog.COMPONENTS:
        if not comp.services:
            continue
        root = comp.spec_key.split(".")[0]
        model = by_alias.get(root)
        fields = getattr(model, "model_fields", {})
        for attr, alias in (("admin_service", "adminService"), ("api_service", "apiService")):
            if attr in fields:
                out[root] = alias
                break
        else:
            if "service" in fields:
                out[root] = "service"
    return out


@functools.cache
def etcd_client_node_port_honoured() -> bool:
    """Whether the planner gives etcd's client Service the ``etcd.clientNodePort`` of the spec."""
    return node_ports(example("probe", etcd={"clientNodePort": FLEET_NODE_PORT_BASE})) == {
        FLEET_NODE_PORT_BASE,
        *(node_ports(example("probe")) - {30379}),
    }


def host_port_components(product: str) -> list[str]:
    """Components of ``product`` on the host network with container ports: two clusters' pods cannot share a
    node (the scheduler's NodePorts filter), and every fleet cluster shares the same few KWOK nodes."""
    return [
        c.name
        for c in catalog.COMPONENTS
        if c.host_network and product in c.products and any(ct.ports for ct in c.containers)
    ]


def fleet_member(namespace: str, index: int, product: str, version: str | None = None) -> JSON:
    """A cluster that can share the API server with 100 others: no NodePort but its own etcd client port.

    Generated from the catalog: every component spec that has a Service gets ``internalOnly: true``
    (keystone's ``adminService``, apiGateway's ``apiService``), and etcd a distinct ``clientNodePort``.
    Where the planner ignores ``etcd.clientNodePort`` (every cluster would claim 30379 and all but one
    fail), etcd is disabled instead: see ``etcd_client_node_port_honoured``."""
    etcd: JSON = {"clientNodePort": FLEET_NODE_PORT_BASE + index}
    if not etcd_client_node_port_honoured():
        etcd["disable"] = True
    spec: JSON = {"productVersion": product, "etcd": etcd}
    for root, field in sorted(_service_fields().items()):
        spec[root] = {field: {"internalOnly": True}}
    for name in host_port_components(product):
        spec.setdefault(catalog.BY_NAME[name].placement_spec_key, {})["disable"] = True
    if version:
        spec["version"] = version
    doc = example(namespace, **spec)
    ports = node_ports(doc)
    if ports - {FLEET_NODE_PORT_BASE + index}:
        raise AssertionError(f"fleet cluster {index} still asks for NodePorts {sorted(ports)}")
    return doc


def cluster_model(doc: JSON) -> OnecloudCluster:
    return OnecloudCluster.model_validate({k: v for k, v in doc.items() if k != "status"})


def plan(doc: JSON, observed: observed.Observed | None = None) -> planner.Plan:
    return planner.plan(cluster_model(doc), observed)


def node_ports(doc: JSON) -> set[int]:
    return {
        int(p["nodePort"])
        for o in plan(doc).objects
        if o.kind == "Service"
        for p in o.body["spec"].get("ports", [])
        if "nodePort" in p
    }


def expected_images(doc: JSON) -> dict[Key, tuple[str, ...]]:
    """(kind, namespace, name) -> the pod template images of every workload the plan wants."""
    return {o.key: template_images(o.body) for o in plan(doc).objects if o.kind in kinds.WORKLOAD_KINDS}


def changed_images(before: JSON, after: JSON) -> dict[Key, tuple[str, ...]]:
    """The workloads whose images differ between two specs, with their new images."""
    old, new = expected_images(before), expected_images(after)
    return {k: v for k, v in new.items() if old.get(k) != v}


def with_spec(doc: JSON, **spec: Any) -> JSON:
    out = copy.deepcopy(doc)
    out["spec"].update(copy.deepcopy(spec))
    return out


# ---- the floor's bodies -------------------------------------------------------------------------


def _relabel(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (FLOOR_MANAGED_BY if k == "app.kubernetes.io/managed-by" else _relabel(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_relabel(v) for v in node]
    return node


def node_labels(nodes: list[JSON]) -> frozenset[str]:
    """The onecloud node labels present on any node, as the operator's cache reports them to the planner."""
    return frozenset(
        label
        for node in nodes
        for label in NODE_LABELS
        if (node["metadata"].get("labels") or {}).get(label) == "enable"
    )


def settled_plan(doc: JSON, labels: frozenset[str] | None) -> planner.Plan:
    """The plan of a cluster whose workloads are all rolled out (no component waits), on nodes with
    ``labels``: what the operator applies for it at rest."""
    states = {
        key[2]: observed.WorkloadState(images, 1, 1, 1, 1, True)
        for key, images in expected_images(doc).items()
    }
    return plan(doc, observed.Observed(workloads=states, node_labels=labels))


def floor_bodies(doc: JSON, owner: JSON, labels: frozenset[str] | None = None) -> dict[Key, JSON]:
    """The workloads the operator would apply for ``doc``, stamped as it stamps them, owned by ``owner``
    (a ConfigMap standing in for the OnecloudCluster) and relabelled so the operator ignores them.
    ``labels`` are the nodes' onecloud labels (without a baremetal node, baremetal-agent gets 0 replicas).
    Host-network templates get ``hostNetwork: false`` (see ``_off_host_network``)."""
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    out = {}
    for obj in settled_plan(doc, labels).objects:
        if obj.kind not in kinds.WORKLOAD_KINDS:
            continue
        body = _off_host_network(_relabel(copy.deepcopy(obj.body)))
        body["metadata"]["ownerReferences"] = [ref]
        out[obj.key] = diff.stamped(body)
    return out


def _off_host_network(body: JSON) -> JSON:
    """``hostNetwork: false`` in a host-network pod template: the floor's copies live beside the operator's
    example cluster on the same KWOK nodes, and two host-network pods with the same ports (region-dns's 53,
    host's 8885) cannot share a node. One byte more per such body; the API server's work is the same."""
    pod = body.get("spec", {}).get("template", {}).get("spec", {})
    if pod.get("hostNetwork"):
        pod["hostNetwork"] = False
    return body


def operator_bodies(
    cr: JSON, live: list[JSON], nodes: list[JSON], secrets: dict[str, str] | None = None
) -> list[JSON]:
    """What the operator would apply for this live cluster: its plan (with the same observed state the
    operator's cache would give, and the cluster's ``<cluster>-credentials`` data, which the service configs
    and so the pod templates' config hash depend on) stamped, less the objects whose live hash already
    matches."""
    live_by_key = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in live}
    states = {
        k[2]: s for k, o in live_by_key.items() if k[0] in kinds.WORKLOAD_KINDS and (s := workload_state(o))
    }
    the_plan = planner.plan(
        cluster_model(cr), observed.Observed(workloads=states, node_labels=node_labels(nodes)), secrets
    )
    out = []
    for obj in the_plan.objects:
        if obj.kind not in kinds.WORKLOAD_KINDS:
            continue
        body = diff.stamped(obj.body)
        current = live_by_key.get(obj.key)
        have = ((current or {}).get("metadata", {}).get("annotations") or {}).get(diff.HASH_ANNOTATION)
        if have != body["metadata"]["annotations"][diff.HASH_ANNOTATION]:
            out.append(body)
    return out


def floor_support(doc: JSON, owner: JSON) -> list[JSON]:
    """What the floor's pods need to be admitted and scheduled (ServiceAccount, config Secrets, PVCs): the
    plan's own bodies, relabelled and owned like the floor's workloads. No Service: NodePorts are global."""
    ref = floor_bodies(doc, owner)
    owner_refs = next(iter(ref.values()))["metadata"]["ownerReferences"] if ref else []
    out = []
    for obj in plan(doc).objects:
        if obj.kind in ("ServiceAccount", "Secret", "PersistentVolumeClaim"):
            body = _relabel(copy.deepcopy(obj.body))
            body["metadata"]["ownerReferences"] = owner_refs
            out.append(body)
    return out
