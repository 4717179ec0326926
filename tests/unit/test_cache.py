"""The cache holds the latest version it was told of, whatever order the watch and a write's answer arrive in.

Under CPU load the watch task often runs before the writer resumes: the answer to a create (rollout
counters at zero) then comes after the events that followed it. Storing it anyway left a StatefulSet at
"0/1 updated" in the cache for good, and the cluster never became Ready (measured: 54 resync passes over
4 minutes, each planning from that entry). Each row is one order of arrival.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from cloudpods_operator import kinds, render
from cloudpods_operator.cache import Cache, Clusters
from cloudpods_operator.kinds import JSON
from cloudpods_operator.observed import ClusterKey

CLUSTER: ClusterKey = ("ns", "default")
Step = tuple[Literal["event", "remember"], str, int]
"""(how it arrives, resourceVersion, availableReplicas)."""


def _statefulset(version: str, available: int) -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": "default-etcd",
            "namespace": "ns",
            "uid": "u1",
            "generation": 1,
            "resourceVersion": version,
            "labels": {"app.kubernetes.io/instance": render.instance_label("default")},
            "ownerReferences": [
                {"kind": kinds.CLUSTER_KIND, "name": "default", "uid": "c1", "controller": True}
            ],
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "etcd", "image": "etcd:1"}]}}},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": available,
            "readyReplicas": available,
            "availableReplicas": available,
        },
    }


def _cluster(version: str, generation: int) -> JSON:
    return {
        "apiVersion": kinds.GROUP_VERSION,
        "kind": kinds.CLUSTER_KIND,
        "metadata": {
            "name": "default",
            "namespace": "ns",
            "resourceVersion": version,
            "generation": generation,
        },
        "spec": {},
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("steps", "available", "version", "wakes"),
    [
        # The watch first, then the create's answer (the order CPU load brings): the answer is older.
        ([("event", "10", 0), ("event", "11", 1), ("remember", "10", 0)], 1, "11", 2),
        # The answer first, then its echo and the controller's status: the usual order.
        ([("remember", "10", 0), ("event", "10", 0), ("event", "11", 1)], 1, "11", 1),
        # An update's answer after the watch's older event: the answer is newer and wins.
        ([("event", "10", 1), ("remember", "12", 1), ("event", "11", 0)], 1, "12", 2),
        # resourceVersions that are not decimal are not compared: last one stored wins, as before.
        ([("event", "b", 1), ("remember", "a", 0)], 0, "a", 1),
    ],
)
async def test_a_write_answer_never_replaces_a_later_watched_version(
    steps: list[Step], available: int, version: str, wakes: int
) -> None:
    woken: list[ClusterKey] = []
    cache = Cache(woken.append)
    for how, rv, avail in steps:
        obj = _statefulset(rv, avail)
        if how == "event":
            await cache.event("StatefulSet", "MODIFIED", obj)
        else:
            await cache.remember(obj)
    held = cache.get("StatefulSet", "ns", "default-etcd")
    assert held is not None and held.workload is not None
    assert (held.resource_version, held.workload.available) == (version, available)
    assert woken == [CLUSTER] * wakes


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("steps", "generation", "wakes"),
    [
        # A user's edit (rv 11) watched, then the answer of an older pass's status write (rv 10).
        ([("event", "9", 1), ("event", "11", 2), ("remember", "10", 1)], 2, 2),
        # The status write's answer (rv 12, it carries the edit) first, then the edit's event (rv 11):
        # what is held wins, and the key is still woken for the edit.
        ([("event", "9", 1), ("remember", "12", 2), ("event", "11", 2), ("event", "12", 2)], 2, 2),
    ],
)
async def test_a_status_write_answer_never_hides_a_later_edit(
    steps: list[Step], generation: int, wakes: int
) -> None:
    woken: list[ClusterKey] = []
    cache = Cache(woken.append)
    for how, rv, gen in steps:
        obj: Any = _cluster(rv, gen)
        if how == "event":
            await cache.event(kinds.CLUSTER_KIND, "MODIFIED", obj)
        else:
            await cache.remember(obj)
    assert cache.clusters[CLUSTER]["metadata"]["generation"] == generation
    assert woken == [CLUSTER] * wakes


def test_clusters_are_held_as_one_blob_each_and_read_back_whole() -> None:
    """A CR is kept as orjson bytes (a parsed one left ~700 small survivors per status write); every read
    is a fresh copy, so a pass that edits what it read changes nothing held."""
    held = Clusters()
    cr = _cluster("7", 3)
    held[("ns", "default")] = cr
    assert held.version(("ns", "default")) == "7" and held.version(("ns", "other")) is None
    read = held[("ns", "default")]
    assert read == cr and read is not cr
    read["spec"]["version"] = "edited"
    assert held[("ns", "default")]["spec"] == cr["spec"]
    assert list(held) == [("ns", "default")] and len(held) == 1 and ("ns", "default") in held
    assert held.get(("ns", "other")) is None
    del held[("ns", "default")]
    assert not held and held.version(("ns", "default")) is None
