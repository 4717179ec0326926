"""What a cluster keeps between passes: its plan with bodies as bytes, and what the diff found to hold.

A new plan (a version bump) must compare only the objects whose intent or live body moved, and must
still find drift in any other; a compact plan must be the same plan.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from clusters import cluster

from cloudpods_operator import cache, diff, planner
from cloudpods_operator.observed import Cached, slim, workload_state

CLUSTER = cluster({}, uid="u-1", generation=3)
PLAN = planner.plan(CLUSTER)
BUMPED = planner.plan(cluster({"version": "v9.9.9"}, uid="u-1", generation=4))


def _live(body: dict[str, Any]) -> dict[str, Any]:
    """What the API server answers for an applied body (metadata and a default filled in)."""
    live = copy.deepcopy(body)
    live["metadata"].update({"uid": "x", "resourceVersion": "7", "generation": 1})
    return live


def _cached(obj: dict[str, Any]) -> Cached:
    """As the cache stores it (its intent read from the annotation)."""
    _, cached, _ = cache._entry(obj)
    return cached


def _applied(plan: planner.Plan) -> dict[Any, Cached]:
    return {o.key: _cached(_live(diff.stamped(o.body))) for o in plan.objects}


@pytest.fixture
def compares(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The keys of the objects the diff compares field by field."""
    seen: list[Any] = []
    real = diff.covers

    def counting(live: Any, desired: Any) -> bool:
        if isinstance(desired, dict) and {"kind", "metadata"} <= desired.keys():  # not its recursive calls
            seen.append(desired["metadata"]["name"])
        return real(live, desired)

    monkeypatch.setattr(diff, "covers", counting)
    return seen


def test_the_cache_reads_the_intent_hash_and_a_test_built_entry_falls_back_to_the_body() -> None:
    body = _live(diff.stamped(PLAN.objects[0].body))
    assert _cached(body).intent == diff.intent_of(body)
    bare = Cached("x", "7", None, None, "", slim(body), workload_state(body))
    assert bare.intent is None and diff._live_intent(bare) == diff.intent_of(body)


def test_a_new_plan_compares_only_what_its_bump_changed(compares: list[Any]) -> None:
    live = _applied(PLAN)
    memo = diff.Memo()
    assert diff.changes(PLAN.objects, live, memo) == []
    assert len(compares) == sum(not o.create_only for o in PLAN.objects)  # the first pass: all but PVCs
    compares.clear()
    changed = diff.changes(BUMPED.objects, live, memo.successor())
    bumped = {c.desired.key for c in changed}
    assert bumped and all(k[0] in ("Deployment", "DaemonSet", "StatefulSet") for k in bumped)
    assert all(not c.drifted for c in changed)
    assert compares == [], "unchanged objects and changed intents need no field-by-field compare"


def test_what_held_is_compared_again_once_its_live_body_moved(compares: list[Any]) -> None:
    live = _applied(PLAN)
    memo = diff.Memo()
    diff.changes(PLAN.objects, live, memo)
    region = next(o for o in PLAN.objects if o.kind == "Deployment" and o.name == "default-region")
    edited = _live(diff.stamped(region.body))
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "evil/region:1"
    live[region.key] = _cached(edited)
    compares.clear()
    [change] = diff.changes(PLAN.objects, live, memo.successor())
    assert change.desired.key == region.key and change.drifted
    assert compares == ["default-region"]


def test_an_apply_answer_is_held_for_the_next_plan(compares: list[Any]) -> None:
    live = _applied(PLAN)
    memo = diff.Memo()
    for o in PLAN.objects:
        body = diff.stamped(o.body)
        memo.hold(o.key, diff.intent_of(body), live[o.key].raw)
    assert diff.changes(PLAN.objects, live, memo.successor()) == []
    assert compares == []


def test_rest_drops_the_stamped_bodies_but_not_what_held() -> None:
    live = _applied(PLAN)
    memo = diff.Memo()
    del live[PLAN.objects[0].key]
    diff.changes(PLAN.objects, live, memo)
    assert memo.bodies and memo.held
    memo.rest()
    assert memo.bodies == {} and memo.held and memo.clean


def test_a_compact_plan_is_the_same_plan_with_bodies_as_bytes() -> None:
    held = PLAN.compact()
    assert held is not PLAN and held.compact() is held
    assert held == PLAN
    for a, b in zip(held.objects, PLAN.objects, strict=True):
        assert a.compacted and not b.compacted
        assert (a.key, a.kind, a.name, a.namespace, a.api_version) == (
            b.key,
            b.kind,
            b.name,
            b.namespace,
            b.api_version,
        )
        assert a.body == b.body and a.body is not a.body  # parsed afresh on each read
    assert [c.state for c in held.components] == [c.state for c in PLAN.components]


def test_a_compact_plan_diffs_as_the_plan_does() -> None:
    live = _applied(PLAN)
    region = next(o for o in PLAN.objects if o.kind == "Deployment" and o.name == "default-region")
    del live[region.key]
    assert [c.desired.key for c in diff.changes(PLAN.compact().objects, live)] == [region.key]
    assert [c.desired.key for c in diff.changes(PLAN.objects, live)] == [region.key]
