"""What the operator saw of the live cluster, as small immutable values the pure core can read.

The cache (:mod:`cache`) turns watch events into these; the planner reads :class:`Observed`
(rollout gates), :mod:`diff` compares plans with :class:`Cached` bodies, :mod:`status` reports
:class:`WorkloadState`. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cloudpods_operator import kinds
from cloudpods_operator.kinds import JSON

ClusterKey = tuple[str, str]
"""(namespace, name) of an OnecloudCluster: the work queue's key."""
ObjectKey = tuple[str, str, str]
"""(kind, namespace, name) of an owned object."""


@dataclass(frozen=True)
class WorkloadState:
    """A live workload as the cache keeps it: its template images and rollout counters."""

    images: tuple[str, ...]
    desired: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0
    rolled_out: bool = False


@dataclass(frozen=True, order=True)
class PodTrouble:
    """One pod that cannot run, as its kubelet says: the waiting reason (``ImagePullBackOff``, ...) or
    ``Unschedulable``, and the image of the container that waits (``""`` when unscheduled)."""

    reason: str
    image: str
    pod: str


TROUBLE_CAUSES: Mapping[str, str] = {
    "ErrImagePull": "ImagePullFailed",
    "ImagePullBackOff": "ImagePullFailed",
    "InvalidImageName": "ImagePullFailed",
    "ErrImageNeverPull": "ImagePullFailed",
    "CrashLoopBackOff": "CrashLoop",
    "CreateContainerConfigError": "ContainerConfigError",
    "CreateContainerError": "ContainerConfigError",
    "RunContainerError": "ContainerConfigError",
    "Unschedulable": "Unschedulable",
}
"""A kubelet's (or the scheduler's) reason -> the cause a Degraded condition names."""


def pod_trouble(obj: JSON) -> PodTrouble | None:
    """Why this pod cannot run, or None: all that is kept of a pod (the memory budget of a fleet)."""
    status = obj.get("status") or {}
    name = str(obj.get("metadata", {}).get("name", ""))
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason in TROUBLE_CAUSES:
                return PodTrouble(str(reason), str(cs.get("image", "")), name)
    for cond in status.get("conditions") or []:
        unscheduled = cond.get("type") == "PodScheduled" and cond.get("status") == "False"
        if unscheduled and cond.get("reason") == "Unschedulable":
            return PodTrouble("Unschedulable", "", name)
    return None


@dataclass(frozen=True)
class Observed:
    """The inputs of the planner's gates: workloads by name, the onecloud labels nodes carry, and the
    databases ensured."""

    workloads: Mapping[str, WorkloadState] = field(default_factory=dict)
    node_labels: frozenset[str] | None = None
    """None until the (optional) Node watch has listed."""
    databases: frozenset[str] | None = None
    """The MySQL databases this process has ensured for the cluster; None: not managed (no
    ``spec.mysql.host``), nothing waits for a database."""
    troubles: Mapping[str, tuple[PodTrouble, ...]] = field(default_factory=dict)
    """component -> why some of its pods cannot run (an image that does not pull, a crash loop)."""
    accounts: Mapping[str, str] | None = None
    """The keystone service accounts ensured, user -> :func:`password_digest` of the password keystone
    holds; None: keystone not managed (``--keystone-url none``), nothing waits for an account."""


def password_digest(password: str) -> str:
    """What the gate compares: a rotated password in the credentials Secret holds its components back
    until keystone has it too."""
    return hashlib.sha256(password.encode()).hexdigest()[:16]


INTENT_ANNOTATION = "onecloud.yunion.io/desired-hash"
"""The hash of the body our last apply sent, stamped on the object (diff.stamped)."""


@dataclass(frozen=True)
class Cached:
    """One owned object: identity, owner, and its slim body as compressed orjson bytes (parsed only to
    diff)."""

    uid: str
    resource_version: str
    owner: ClusterKey | None
    owner_uid: str | None
    component: str
    raw: bytes
    workload: WorkloadState | None = None
    intent: str | None = None
    """Its :data:`INTENT_ANNOTATION` as the cache read it (None: it has none, or nobody read it)."""

    def body(self) -> JSON:
        """The slim body, parsed again (only diffs need it)."""
        loaded: JSON = orjson.loads(zlib.decompress(self.raw))
        return loaded


def workload_state(obj: JSON) -> WorkloadState | None:
    """Rollout counters of a Deployment, DaemonSet or StatefulSet (None for other kinds).

    ``rolled_out`` means what ``kubectl rollout status`` means: the controller saw the current
    generation and every replica is updated and available.
    """
    resource = kinds.RESOURCES.get(str(obj.get("kind")))
    if resource is None or resource.rollout is None:
        return None
    spec, status = obj.get("spec", {}), obj.get("status", {})
    pod = spec.get("template", {}).get("spec", {})
    images = tuple(c.get("image", "") for c in (*pod.get("initContainers", []), *pod.get("containers", [])))
    current = status.get("observedGeneration", 0) >= obj.get("metadata", {}).get("generation", 0)
    if resource.rollout is kinds.Rollout.SCHEDULED:
        desired = int(status.get("desiredNumberScheduled", 0))
        updated = int(status.get("updatedNumberScheduled", 0))
        ready, available = int(status.get("numberReady", 0)), int(status.get("numberAvailable", 0))
        rolled = current and updated == desired and available == desired
    else:
        desired = int(spec.get("replicas", 1))
        updated = int(status.get("updatedReplicas", 0))
        ready, available = int(status.get("readyReplicas", 0)), int(status.get("availableReplicas", 0))
        total = int(status.get("replicas", 0))
        rolled = current and updated == desired and available == desired and total == desired
        if resource.rollout is kinds.Rollout.REVISION:
            rolled = rolled and status.get("currentRevision") == status.get("updateRevision")
    return WorkloadState(images, desired, updated, ready, available, rolled)


_KEPT_METADATA = ("name", "namespace", "uid", "labels", "annotations", "ownerReferences")


def slim(obj: JSON) -> bytes:
    """What a diff needs of an object: identity, labels, annotations, spec/data; a Secret's data only as
    digests (:func:`secret_digest`)."""
    meta = obj.get("metadata", {})
    out: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: meta[k] for k in _KEPT_METADATA if k in meta},
    }
    for key in ("spec", "data"):
        if key in obj:
            out[key] = obj[key]
    if obj.get("kind") == "Secret":
        out["data"] = secret_digest(obj.get("data") or {})
        out["type"] = obj.get("type", "Opaque")
    # Compressed: 8,900 objects of a 100-cluster fleet hold 48 MiB as JSON and about a fifth of that so;
    # a pass decompresses only what it compares (tens of microseconds an object).
    return zlib.compress(orjson.dumps(out), 1)


def secret_digest(data: dict[str, str]) -> dict[str, str]:
    """A Secret's data as digests: enough to see that a value changed, nothing to learn it from."""
    return {k: "sha256:" + hashlib.sha256(str(v).encode()).hexdigest() for k, v in data.items()}
