"""What the watches saw, kept slim: a reconcile reads the cache, never GETs what a watch delivered.

Owned objects are stored as compact orjson bytes of their metadata and spec (no status, no
managedFields; a Secret's data is never kept), parsed again only when a reconcile compares
them with the plan; workloads also keep their rollout counters as a small WorkloadState.
At 100 clusters of ~100 objects that is a few MiB, not the ~13 KiB per object of parsed dicts.
"""

from __future__ import annotations

import base64
import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, MutableMapping

import orjson

from cloudpods_operator import catalog, credentials, kinds, render
from cloudpods_operator.kinds import JSON
from cloudpods_operator.observed import (
    INTENT_ANNOTATION,
    Cached,
    ClusterKey,
    ObjectKey,
    Observed,
    PodTrouble,
    pod_trouble,
    slim,
    workload_state,
)

NODE_LABELS = (catalog.CONTROLLER_LABEL, catalog.HOST_LABEL, catalog.LBAGENT_LABEL, catalog.BAREMETAL_LABEL)


def _owner(obj: JSON) -> tuple[ClusterKey | None, str | None]:
    meta = obj.get("metadata", {})
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == kinds.CLUSTER_KIND and ref.get("controller"):
            return (meta.get("namespace", ""), ref["name"]), ref.get("uid")
    instance = (meta.get("labels") or {}).get("app.kubernetes.io/instance", "")
    prefix = render.instance_label("")
    if instance.startswith(prefix):
        return (meta.get("namespace", ""), instance[len(prefix) :]), None
    return None, None


class Cache:
    """The watches' sink (:class:`kube.watch.Sink`), keyed like the API: clusters by (namespace, name),
    owned objects by (kind, namespace, name). Every change that matters wakes its cluster's key."""

    def __init__(self, enqueue: Callable[[ClusterKey], None]) -> None:
        self._enqueue = enqueue
        self.clusters = Clusters()
        self.objects: dict[ObjectKey, Cached] = {}
        self.by_owner: dict[ClusterKey, set[ObjectKey]] = defaultdict(set)
        self.credentials: dict[ClusterKey, dict[str, str]] = {}
        """The decoded data of each cluster's ``<cluster>-credentials``: the one Secret whose values are
        kept (the service configs are rendered from them)."""
        self.nodes: dict[str, frozenset[str]] | None = None
        """Onecloud node labels per node; None until the (optional) Node watch has listed."""
        self.troubles: dict[tuple[str, str], tuple[ClusterKey, str, PodTrouble]] = {}
        """Pods that cannot run, by (namespace, pod): their cluster, component and trouble. A pod that
        runs is not kept at all."""

    # ---- Sink --------------------------------------------------------------------------------

    def listing(self, kind: str) -> _Listing:
        """A (re-)list of ``kind``, kept page by page (:class:`kube.watch.Listing`)."""
        return _Listing(self, kind)

    async def replace(self, kind: str, items: list[JSON]) -> None:
        """A full list of one kind at once: forget what it no longer holds, wake each cluster that changed."""
        listing = self.listing(kind)
        listing.add(items)
        await listing.done()

    async def event(self, kind: str, event_type: str, obj: JSON) -> None:
        """One watch event; our own writes (already remembered, same resourceVersion) wake nobody."""
        obj.setdefault("kind", kind)
        if kind == kinds.CLUSTER_KIND:
            key = _key(obj)
            held = self.clusters.version(key)
            version = obj.get("metadata", {}).get("resourceVersion")
            if event_type != "DELETED" and held == version:
                return  # our own status write, already remembered
            if event_type != "DELETED" and _later(held, version):
                self._enqueue(key)  # what we hold (a write's answer) includes it: a pass, on what we hold
                return
            if event_type == "DELETED":
                self.clusters.pop(key, None)
            else:
                self.clusters[key] = _strip_cluster(obj)
            self._enqueue(key)
        elif kind == "Node":
            name = obj["metadata"]["name"]
            labels = None if event_type == "DELETED" else _node_labels(obj)
            nodes = self.nodes if self.nodes is not None else {}
            if nodes.get(name) != labels:
                if labels is None:
                    nodes.pop(name, None)
                else:
                    nodes[name] = labels
                self.nodes = nodes
                self._enqueue_all(self.clusters)
        elif kind == "Pod":
            key = _key(obj)
            before = self.troubles.get(key)
            self._pod(obj, deleted=event_type == "DELETED")
            after = self.troubles.get(key)
            if before != after:
                self._enqueue_all(t[0] for t in (before, after) if t)
        else:
            okey = (kind, *_key(obj))
            known = self.objects.get(okey)
            version = obj.get("metadata", {}).get("resourceVersion")
            if event_type != "DELETED" and known is not None and known.resource_version == version:
                return  # our own write, already remembered from the response
            if event_type != "DELETED" and known is not None and _later(known.resource_version, version):
                if known.owner is not None:  # what we hold (a write's answer) includes it
                    self._enqueue(known.owner)
                return
            owner = known.owner if known else None
            if event_type == "DELETED":
                self._forget(okey)
            else:
                owner = self._store(obj) or owner
            if owner is not None:
                self._enqueue(owner)

    async def remember(self, obj: JSON) -> None:
        """Store what a write returned, without waking anyone: the watch will confirm it.

        Unless the watch has already delivered a later version: the response of a write can be handled
        after the watch events that followed it (the writer awaits more before it gets here, and under CPU
        load the watch task runs first). Storing it then put a Deployment's rollout counters back to the
        create's zeros for good (no later event comes for a workload at rest), and the cluster stalled
        short of Ready while every resync planned from that stale entry.
        """
        version = obj.get("metadata", {}).get("resourceVersion")
        if obj.get("kind") == kinds.CLUSTER_KIND:
            key = _key(obj)
            if not _later(self.clusters.version(key), version):
                self.clusters[key] = _strip_cluster(obj)
            return
        meta = obj.get("metadata", {})
        known = self.objects.get((str(obj.get("kind")), meta.get("namespace", ""), meta.get("name", "")))
        if known is None or not _later(known.resource_version, version):
            self._store(obj)

    # ---- queries -----------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Cached | None:
        """The cached object, or None (never a GET: the watch is the source)."""
        return self.objects.get((kind, namespace, name))

    def owned_by(self, key: ClusterKey) -> list[tuple[ObjectKey, Cached]]:
        """Every cached object labelled or owned as this cluster's, in a stable order."""
        return [(k, self.objects[k]) for k in sorted(self.by_owner.get(key, ())) if k in self.objects]

    def observed(self, key: ClusterKey) -> Observed:
        """The planner's gate inputs for one cluster: its workloads' rollout and the nodes' labels."""
        workloads = {
            k[2]: c.workload
            for k, c in self.owned_by(key)
            if c.workload is not None and k[0] in kinds.WORKLOAD_KINDS
        }
        labels = None
        if self.nodes is not None:
            labels = frozenset(label for node in self.nodes.values() for label in node)
        troubles: dict[str, list[PodTrouble]] = defaultdict(list)
        for owner, component, trouble in self.troubles.values():
            if owner == key:
                troubles[component].append(trouble)
        return Observed(
            workloads=workloads,
            node_labels=labels,
            troubles={c: tuple(sorted(t)) for c, t in troubles.items()},
        )

    # ---- internals ---------------------------------------------------------------------------

    def _store(self, obj: JSON) -> ClusterKey | None:
        return self._put(*_entry(obj))

    def _put(self, okey: ObjectKey, cached: Cached, decoded: dict[str, str] | None) -> ClusterKey | None:
        old = self.objects.get(okey)
        if old is not None:
            if old.raw == cached.raw:  # a rollout step moves the status, not the slim body: keep one copy
                cached = dataclasses.replace(cached, raw=old.raw)
            self._forget(okey)
        self.objects[okey] = cached
        owner = cached.owner
        if owner is not None:
            self.by_owner[owner].add(okey)
            if decoded is not None:
                self.credentials[owner] = decoded
        return owner

    def _pod(self, obj: JSON, *, deleted: bool) -> None:
        key = _key(obj)
        entry = _pod_entry(obj, deleted=deleted)
        if entry is None:
            self.troubles.pop(key, None)
        else:
            self.troubles[key] = entry

    def _forget(self, okey: ObjectKey) -> None:
        cached = self.objects.pop(okey, None)
        if cached is not None and cached.owner is not None:
            self.by_owner[cached.owner].discard(okey)
            if okey[0] == "Secret" and okey[2] == credentials.secret_name(cached.owner[1]):
                self.credentials.pop(cached.owner, None)

    def _enqueue_all(self, keys: Iterable[ClusterKey]) -> None:
        for key in set(keys):
            self._enqueue(key)


Entry = tuple[ObjectKey, Cached, "dict[str, str] | None"]
"""What the cache keeps of one owned object: its key, the slim record, the credentials' decoded data."""


def _entry(obj: JSON) -> Entry:
    meta = obj.get("metadata", {})
    okey = (str(obj["kind"]), meta.get("namespace", ""), meta["name"])
    owner, owner_uid = _owner(obj)
    component = (meta.get("labels") or {}).get("app.kubernetes.io/component", "")
    cached = Cached(
        uid=meta.get("uid", ""),
        resource_version=meta.get("resourceVersion", ""),
        owner=owner,
        owner_uid=owner_uid,
        component=component,
        raw=slim(obj),
        workload=workload_state(obj),
        intent=(meta.get("annotations") or {}).get(INTENT_ANNOTATION),
    )
    decoded = None
    if owner is not None and okey[0] == "Secret" and okey[2] == credentials.secret_name(owner[1]):
        decoded = _decoded(obj.get("data") or {})
    return okey, cached, decoded


class Clusters(MutableMapping[ClusterKey, JSON]):
    """The OnecloudClusters by (namespace, name), each kept as one orjson blob and parsed again on every
    read (~40 us): a parsed CR is ~700 small objects, and every status write's answer and watch event
    replaced them among a pass's temporaries, so after a fleet bump those few survivors kept ~70 MB of
    Python's 1 MiB arenas from being freed (tracemalloc: two thirds of what a bump left alive)."""

    def __init__(self) -> None:
        self._held: dict[ClusterKey, tuple[str | None, bytes]] = {}

    def __getitem__(self, key: ClusterKey) -> JSON:
        loaded: JSON = orjson.loads(self._held[key][1])
        return loaded

    def __setitem__(self, key: ClusterKey, obj: JSON) -> None:
        self._held[key] = (obj.get("metadata", {}).get("resourceVersion"), orjson.dumps(obj))

    def __delitem__(self, key: ClusterKey) -> None:
        del self._held[key]

    def __iter__(self) -> Iterator[ClusterKey]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, key: object) -> bool:
        return key in self._held

    def version(self, key: ClusterKey) -> str | None:
        """The held CR's resourceVersion, without parsing it."""
        held = self._held.get(key)
        return held[0] if held is not None else None


class _Listing:
    """One list of one kind, page by page: each page is reduced to what the cache keeps as it arrives, and
    only ``done`` swaps it in (with the wake-ups of a full replacement)."""

    def __init__(self, cache: Cache, kind: str) -> None:
        self._cache = cache
        self._kind = kind
        self._clusters = Clusters()
        self._nodes: dict[str, frozenset[str]] = {}
        self._pods: list[tuple[tuple[str, str], tuple[ClusterKey, str, PodTrouble] | None]] = []
        self._entries: list[Entry] = []

    def add(self, items: list[JSON]) -> None:
        kind = self._kind
        for obj in items:
            if kind == kinds.CLUSTER_KIND:
                self._clusters[_key(obj)] = _strip_cluster(obj)
            elif kind == "Node":
                self._nodes[obj["metadata"]["name"]] = _node_labels(obj)
            elif kind == "Pod":
                self._pods.append((_key(obj), _pod_entry(obj, deleted=False)))
            else:
                obj.setdefault("kind", kind)  # list items carry neither kind nor apiVersion
                obj.setdefault("apiVersion", kinds.RESOURCES[kind].group_version)
                self._entries.append(_entry(obj))

    async def done(self) -> None:
        cache, kind = self._cache, self._kind
        if kind == kinds.CLUSTER_KIND:
            old = set(cache.clusters)
            cache.clusters = self._clusters
            cache._enqueue_all(old | set(cache.clusters))
        elif kind == "Node":
            cache.nodes = self._nodes
            cache._enqueue_all(cache.clusters)
        elif kind == "Pod":
            previous = cache.troubles
            cache.troubles = {key: entry for key, entry in self._pods if entry is not None}
            now = cache.troubles
            changed = {k for k in previous.keys() | now.keys() if previous.get(k) != now.get(k)}
            cache._enqueue_all(t[0] for k in changed for t in (previous.get(k), now.get(k)) if t)
        else:
            stale = [k for k in cache.objects if k[0] == kind]
            touched = {cache.objects[k].owner for k in stale} - {None}
            for k in stale:
                cache._forget(k)
            for entry in self._entries:
                touched.add(cache._put(*entry))
            cache._enqueue_all(k for k in touched if k is not None)


def _pod_entry(obj: JSON, *, deleted: bool) -> tuple[ClusterKey, str, PodTrouble] | None:
    """A pod's (cluster, component, trouble) when it is ours and cannot run, else None."""
    owner, _ = _owner(obj)
    component = (obj.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/component", "")
    trouble = None if deleted or owner is None else pod_trouble(obj)
    return None if trouble is None or owner is None else (owner, component, trouble)


def _decoded(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}


def _later(held: object, other: object) -> bool:
    """True when resourceVersion ``held`` is known to come after ``other`` for the same object.

    They are decimal etcd revisions, comparable as integers (KEP-5504, "comparable resource versions");
    anything else is not known to be later, and the caller does what it did before.
    """
    if not (isinstance(held, str) and isinstance(other, str) and held.isdecimal() and other.isdecimal()):
        return False
    return int(held) > int(other)


def _key(obj: JSON) -> ClusterKey:
    meta = obj.get("metadata", {})
    return (meta.get("namespace", ""), meta["name"])


def _strip_cluster(obj: JSON) -> JSON:
    meta = dict(obj.get("metadata", {}))
    meta.pop("managedFields", None)
    return {**obj, "metadata": meta}


def _node_labels(obj: JSON) -> frozenset[str]:
    labels = obj.get("metadata", {}).get("labels") or {}
    return frozenset(k for k in NODE_LABELS if labels.get(k) == "enable")
