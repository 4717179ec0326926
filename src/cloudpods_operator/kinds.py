"""Every Kubernetes kind the operator touches, in one table: where it lives, when it is applied,
whether it is pruned, and how its rollout is read.

Pure data. The API client (:mod:`kube.client`) builds paths from it, the manager watches the
kinds marked ``owned``, the reconciler applies in ``rank`` order, :mod:`diff` prunes the
``prunable`` ones and :mod:`observed` reads the rollout counters of the workload kinds. A new
kind is one new row here (and a rule in the chart's RBAC, which a unit test checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

JSON = dict[str, Any]
"""A Kubernetes object (or any JSON document) as plain dicts and lists."""

GROUP = "onecloud.yunion.io"
VERSION = "v1alpha1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
CLUSTER_KIND = "OnecloudCluster"
CLUSTER_PLURAL = "onecloudclusters"


class Rollout(StrEnum):
    """How a workload kind reports progress in its status."""

    REPLICAS = "replicas"  # Deployment: replicas, updatedReplicas, availableReplicas
    SCHEDULED = "scheduled"  # DaemonSet: desiredNumberScheduled, updatedNumberScheduled, ...
    REVISION = "revision"  # StatefulSet: replicas and currentRevision == updateRevision


@dataclass(frozen=True)
class Resource:
    """One kind: its REST location and the operator's policy for it."""

    kind: str
    group_version: str
    plural: str
    namespaced: bool = True
    owned: bool = False
    """Created by the operator and watched with its managed-by label selector."""
    rank: int = 0
    """Apply wave: 0 config and Services, 1 workloads (their pods find the config), 2 Ingress."""
    prunable: bool = False
    """Deleted when the plan no longer wants it (ConfigMaps, Secrets and PVCs never are)."""
    rollout: Rollout | None = None
    retired: bool = False
    """Objects of this kind that a newer form replaced (a service config that moved into a Secret) are
    deleted once nothing refers to them."""

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path, e.g. ``/apis/apps/v1/namespaces/ns/deployments/name/status``."""
        prefix = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        parts = [prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace)}")
        parts.append(self.plural)
        if name:
            parts.append(quote(name))
        if subresource:
            parts.append(subresource)
        return "/".join(parts)


RESOURCES: dict[str, Resource] = {
    r.kind: r
    for r in (
        Resource(CLUSTER_KIND, GROUP_VERSION, CLUSTER_PLURAL),
        Resource(
            "Deployment",
            "apps/v1",
            "deployments",
            owned=True,
            rank=1,
            prunable=True,
            rollout=Rollout.REPLICAS,
        ),
        Resource(
            "DaemonSet", "apps/v1", "daemonsets", owned=True, rank=1, prunable=True, rollout=Rollout.SCHEDULED
        ),
        Resource(
            "StatefulSet",
            "apps/v1",
            "statefulsets",
            owned=True,
            rank=1,
            prunable=True,
            rollout=Rollout.REVISION,
        ),
        Resource("Service", "v1", "services", owned=True, prunable=True),
        Resource("ConfigMap", "v1", "configmaps", owned=True, retired=True),
        Resource("Secret", "v1", "secrets", owned=True),
        Resource("ServiceAccount", "v1", "serviceaccounts", owned=True, prunable=True),
        Resource("PersistentVolumeClaim", "v1", "persistentvolumeclaims", owned=True),
        Resource("Ingress", "networking.k8s.io/v1", "ingresses", owned=True, rank=2, prunable=True),
        Resource("Event", "events.k8s.io/v1", "events"),
        # Watched for why they cannot run (the cache keeps only that); deleted: the Go operator's bare etcd.
        Resource("Pod", "v1", "pods"),
        Resource("Lease", "coordination.k8s.io/v1", "leases"),
        Resource("Node", "v1", "nodes", namespaced=False),
    )
}

OWNED_KINDS: tuple[str, ...] = tuple(k for k, r in RESOURCES.items() if r.owned)
WORKLOAD_KINDS: frozenset[str] = frozenset(k for k, r in RESOURCES.items() if r.rollout is not None)
PRUNABLE_KINDS: frozenset[str] = frozenset(k for k, r in RESOURCES.items() if r.prunable)


def rank(kind: str) -> int:
    """Apply wave of a kind (unknown kinds go first, with the config)."""
    resource = RESOURCES.get(kind)
    return resource.rank if resource else 0
