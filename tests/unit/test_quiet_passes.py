"""Issue 19's levers, as pure rules: a status write waits for progress only, a plan is a function of what
its gates read, a diff never compares again what it already found to hold, and a list is kept page by page.

Before them one version bump of one cluster cost 24-26 status writes (one per rollout step) and every watch
event of a rolling workload planned and diffed the whole cluster again.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from clusters import cluster

from cloudpods_operator import diff, kinds, planner, render, status
from cloudpods_operator.cache import Cache
from cloudpods_operator.kinds import JSON
from cloudpods_operator.observed import Cached, Observed, WorkloadState, slim, workload_state

CLUSTER = cluster({"upgradeStrategy": "AllAtOnce"}, uid="u-1", generation=3)
STAGED = cluster({"upgradeStrategy": "Staged"}, uid="u-1", generation=3)


def _condition(kind: str, state: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": state, "reason": reason, "message": message, "observedGeneration": 3}


def _status(
    ready: str = "False", reason: str = "ComponentsNotReady", message: str = "", updated: int = 0, **top: Any
) -> dict[str, Any]:
    return {
        "observedGeneration": 3,
        "conditions": [_condition("Ready", ready, reason, message)],
        "components": {"region": {"phase": "Upgrade", "updated": updated}},
        **top,
    }


@pytest.mark.parametrize(
    ("previous", "new", "since", "delay"),
    [
        (_status(), _status(), 0.1, None),  # nothing moved: no write at all
        (_status(), _status(updated=1), 0.5, status.STATUS_INTERVAL - 0.5),  # progress waits
        (_status(), _status(message="2 not ready"), 1.0, status.STATUS_INTERVAL - 1.0),  # a message too
        (_status(), _status(updated=1), status.STATUS_INTERVAL, 0.0),  # ... until the interval has passed
        (_status(), _status(updated=1), None, 0.0),  # this process has not written it yet
        (_status(), _status("True", "AllComponentsReady", updated=1), 0.1, 0.0),  # a condition moved
        (_status(), _status(reason="ImagePullFailed"), 0.1, 0.0),  # a reason moved
        (_status(), {**_status(), "observedGeneration": 4}, 0.1, 0.0),  # a new generation
        (_status(), _status(specChecksum="abc"), 0.1, 0.0),  # a summary field
        (_status(), _status(version="v2"), 0.1, 0.0),
    ],
)
def test_status_write_delay(
    previous: dict[str, Any], new: dict[str, Any], since: float | None, delay: float | None
) -> None:
    assert status.write_delay(previous, new, since) == delay


def _rolling(observed_images: dict[str, tuple[str, ...]], **counters: int) -> Observed:
    return Observed(
        workloads={
            name: WorkloadState(images, rolled_out=False, **counters)
            for name, images in observed_images.items()
        },
        node_labels=frozenset({"onecloud.yunion.io/controller"}),
    )


def _bodies(plan: planner.Plan) -> list[tuple[str, str, Any, str]]:
    return [(c.name, c.state.value, [o.body for o in c.objects], c.reason) for c in plan.components]


@pytest.mark.parametrize("spec", [CLUSTER, STAGED], ids=["AllAtOnce", "Staged"])
@pytest.mark.parametrize(
    "counters",
    [
        {"desired": 3, "updated": 1, "ready": 0, "available": 0},
        {"desired": 3, "updated": 2, "ready": 2, "available": 2},
        {"desired": 1, "updated": 1, "ready": 1, "available": 1},
    ],
)
def test_a_plan_reads_only_its_gate_view(spec: Any, counters: dict[str, int]) -> None:
    """Plans from an observed state and from its gate view are the same plan, whatever the counters; the view
    is the same for rollout steps that open no gate (so the reconciler may reuse the plan)."""
    first = planner.plan(spec)
    images = {o.name: _images(o.body) for o in first.objects if o.kind in kinds.WORKLOAD_KINDS}
    old = {name: tuple(i.replace(":v", ":old-v") for i in imgs) for name, imgs in images.items()}
    for seen in (_rolling(images, **counters), _rolling(old, **counters)):
        assert _bodies(planner.plan(spec, seen)) == _bodies(planner.plan(spec, planner.gate_view(spec, seen)))
    step = {**counters, "updated": counters["updated"] + 1, "ready": counters["ready"] + 1}
    step["available"] = counters["available"] + (1 if counters["available"] else 0)  # still available or not
    assert planner.gate_view(spec, _rolling(images, **counters)) == planner.gate_view(
        spec, _rolling(images, **step)
    )
    opened = {**counters, "available": 1}
    if counters["available"] == 0:  # a first available replica opens the keystone gate: a new view
        assert planner.gate_view(spec, _rolling(images, **counters)) != planner.gate_view(
            spec, _rolling(images, **opened)
        )


def _images(body: dict[str, Any]) -> tuple[str, ...]:
    pod = body["spec"]["template"]["spec"]
    return tuple(c["image"] for c in (*pod.get("initContainers", []), *pod["containers"]))


PLAN = planner.plan(CLUSTER)
REGION = next(o for o in PLAN.objects if o.kind == "Deployment" and o.name == "default-region")


def _live(body: dict[str, Any], available: int = 0) -> Cached:
    live = copy.deepcopy(body)
    live["metadata"].update({"uid": "x", "resourceVersion": str(7 + available), "generation": 1})
    live["status"] = {"observedGeneration": 1, "availableReplicas": available}
    return Cached(
        "x", str(7 + available), ("ns", "default"), "u-1", "region", slim(live), workload_state(live)
    )


def test_a_diff_memo_skips_what_held_and_still_sees_an_edit() -> None:
    memo = diff.Memo()
    held = _live(diff.stamped(REGION.body))
    assert diff.changes([REGION], {REGION.key: held}, memo) == []
    assert memo.clean == {REGION.key: held.raw}
    # A rollout step: the status moved, the slim body (metadata and spec) did not: nothing to compare.
    stepped = _live(diff.stamped(REGION.body), available=1)
    assert stepped.raw == held.raw
    assert diff.changes([REGION], {REGION.key: stepped}, memo) == []
    # A hand edit changes the slim body: compared again, and found drifted.
    edited = copy.deepcopy(diff.stamped(REGION.body))
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "evil/region:1"
    [change] = diff.changes([REGION], {REGION.key: _live(edited)}, memo)
    assert change.drifted


def _deployment(name: str, version: str) -> JSON:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": name,
            "resourceVersion": version,
            "labels": {"app.kubernetes.io/instance": render.instance_label("default")},
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
    }


@pytest.mark.anyio
async def test_a_listing_is_kept_page_by_page_and_swapped_in_when_done() -> None:
    woken: list[Any] = []
    cache = Cache(woken.append)
    await cache.replace("Deployment", [_deployment("old", "1")])
    listing = cache.listing("Deployment")
    listing.add([_deployment("a", "2")])
    listing.add([_deployment("b", "3")])
    assert sorted(k[2] for k in cache.objects) == ["old"]  # nothing changes before the list is complete
    await listing.done()
    assert sorted(k[2] for k in cache.objects) == ["a", "b"]
    assert cache.get("Deployment", "ns", "a") is not None
    assert woken[-1] == ("ns", "default")
    unfinished = cache.listing("Deployment")
    unfinished.add([_deployment("c", "4")])  # a list that fails before its last page leaves the cache alone
    assert sorted(k[2] for k in cache.objects) == ["a", "b"]


def test_slim_bodies_are_compressed_and_read_back_whole() -> None:
    body = {"images": ["i:1"], "replicas": 3, "text": "x" * 2000}
    obj = {**_deployment("a", "1"), "kind": "Deployment", "apiVersion": "apps/v1", "spec": {"x": body}}
    cached = Cached("a", "1", None, None, "", slim(obj), None)
    assert cached.body()["spec"] == {"x": body}
    assert len(cached.raw) < len(repr(cached.body()))


def test_under_all_at_once_only_gate_sources_move_the_view() -> None:
    """A bump rolls every workload (new images, then rolled out): under AllAtOnce only keystone's and the
    DaemonSets others wait for change the view, so the rest of the rollout plans nothing again."""
    images = {o.name: _images(o.body) for o in PLAN.objects if o.kind in kinds.WORKLOAD_KINDS}
    before = _rolling(images, desired=1, updated=0, ready=0, available=1)
    region = dataclasses.replace(before.workloads["default-region"], images=("x:2",), rolled_out=True)
    rolled = dataclasses.replace(before, workloads={**before.workloads, "default-region": region})
    assert planner.gate_view(CLUSTER, before) == planner.gate_view(CLUSTER, rolled)
    assert planner.gate_view(STAGED, before) != planner.gate_view(STAGED, rolled)
    keystone = dataclasses.replace(before.workloads["default-keystone"], rolled_out=True)
    moved = dataclasses.replace(before, workloads={**before.workloads, "default-keystone": keystone})
    assert planner.gate_view(CLUSTER, before) != planner.gate_view(CLUSTER, moved)


def _view(
    keystone: tuple[bool, bool, int], vswitchd: tuple[bool, bool], baremetal: bool, spec: Any = CLUSTER
) -> Observed:
    """An observed state of PLAN's workloads: keystone (new images, rolled out, available), the OVS
    vswitchd DaemonSet host-ovn-controller waits for (new images, rolled out), and the nodes' labels."""
    images = {o.name: _images(o.body) for o in PLAN.objects if o.kind in kinds.WORKLOAD_KINDS}
    workloads = {name: WorkloadState(imgs, available=1, rolled_out=True) for name, imgs in images.items()}
    for name, (new, rolled, available) in (
        ("default-keystone", keystone),
        ("default-host-ovs-vswitchd", (*vswitchd, 1)),
    ):
        imgs = images[name] if new else tuple(i + "-old" for i in images[name])
        workloads[name] = WorkloadState(imgs, available=available, rolled_out=rolled)
    labels = {"onecloud.yunion.io/controller", *(["onecloud.yunion.io/baremetal"] if baremetal else [])}
    return planner.gate_view(spec, Observed(workloads=workloads, node_labels=frozenset(labels)))


def _views(spec: Any) -> list[Observed]:
    return [
        _view((new, rolled, available), (vs_new, vs_rolled), baremetal, spec)
        for new in (False, True)
        for rolled in (False, True)
        for available in (0, 1, 2)
        for vs_new in (False, True)
        for vs_rolled in (False, True)
        for baremetal in (False, True)
    ]


@pytest.mark.parametrize(("spec", "classes"), [(CLUSTER, 8), (STAGED, None)], ids=["AllAtOnce", "Staged"])
def test_views_with_the_same_decisions_plan_the_same(spec: Any, classes: int | None) -> None:
    """The reconciler reuses a plan while planner.decisions are unchanged, so plan must read nothing else of
    the observed state: over 96 views, every view plans what the first view of its decisions planned."""
    first: dict[planner.Decisions, list[tuple[str, str, Any, str]]] = {}
    for view in _views(spec):
        plan = planner.plan(spec, view)
        assert plan.decisions == planner.decisions(spec, view)
        assert _bodies(plan) == first.setdefault(plan.decisions, _bodies(plan))
    if classes is not None:  # keystone's gate x the OVS chain's x baremetal nodes
        assert len(first) == classes, sorted(first, key=str)
    else:  # a staged upgrade also holds DaemonSets while keystone rolls
        assert len(first) > 8


@pytest.mark.parametrize(
    ("before", "after", "same"),
    [
        # keystone rolls (new image, its pods replaced, one replica available throughout): no gate moves
        (((False, True, 1), (True, True), True), ((True, False, 1), (True, True), True), True),
        (((True, False, 1), (True, True), True), ((True, True, 2), (True, True), True), True),
        # keystone's last replica goes: every component that needs keystone waits
        (((True, True, 1), (True, True), True), ((True, False, 0), (True, True), True), False),
        # vswitchd runs an old image: host-ovn-controller waits until it rolls out with the new one
        (((True, True, 1), (False, True), True), ((True, True, 1), (True, False), True), True),
        (((True, True, 1), (True, False), True), ((True, True, 1), (True, True), True), False),
        # a baremetal node appears: baremetal-agent gets its replica
        (((True, True, 1), (True, True), False), ((True, True, 1), (True, True), True), False),
    ],
)
def test_a_rollout_step_plans_again_only_when_a_gate_moves(
    before: tuple[Any, Any, bool], after: tuple[Any, Any, bool], same: bool
) -> None:
    """Under AllAtOnce a bump's rollout moves keystone's gate view at every step (images, rolled out) but
    its decisions only when a gate opens or closes: 3-4 plans of each cluster in a fleet bump became 1."""
    a, b = _view(*before), _view(*after)
    assert a != b
    assert (planner.decisions(CLUSTER, a) == planner.decisions(CLUSTER, b)) is same
