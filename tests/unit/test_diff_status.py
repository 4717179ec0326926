"""diff (what to send) and status (what to report), table-driven over what the API server does to objects."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from clusters import cluster

from cloudpods_operator import diff, observed, planner, status
from cloudpods_operator.observed import Cached, slim, workload_state

CLUSTER = cluster({}, uid="u-1", generation=3)
PLAN = planner.plan(CLUSTER)
REGION = next(o for o in PLAN.objects if o.kind == "Deployment" and o.name == "default-region")


def _live(body: dict[str, Any], **server: Any) -> dict[str, Any]:
    """What the API server returns for an applied body: defaults added, status and metadata filled."""
    live = copy.deepcopy(body)
    live["metadata"].update({"uid": "x", "resourceVersion": "7", "generation": 1})
    spec = live["spec"]
    spec.setdefault("replicas", 1)
    spec["revisionHistoryLimit"] = 10
    pod = spec["template"]["spec"]
    pod["restartPolicy"] = "Always"
    for c in pod["containers"]:
        c["terminationMessagePath"] = "/dev/termination-log"
    live.update(server)
    return live


def _cached(obj: dict[str, Any]) -> Cached:
    return Cached("x", "7", ("onecloud", "default"), "u-1", "region", slim(obj), workload_state(obj))


def _changes(live: dict[str, Any] | None) -> list[diff.Change]:
    current = {REGION.key: _cached(live)} if live is not None else {}
    return diff.changes([REGION], current)


def test_missing_object_is_created() -> None:
    assert [c.action for c in _changes(None)] == ["create"]


def test_what_the_server_added_is_not_a_change() -> None:
    assert _changes(_live(diff.stamped(REGION.body))) == []


def test_a_hand_edited_image_is_drift() -> None:
    live = _live(diff.stamped(REGION.body))
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "evil/region:1"
    [change] = _changes(live)
    assert change.drifted and change.action == "update"


def test_another_managers_annotation_label_and_replicas_are_not_changes() -> None:
    live = _live(diff.stamped(REGION.body))
    live["metadata"]["annotations"]["team"] = "ops"
    live["metadata"]["labels"]["extra"] = "1"
    live["spec"]["replicas"] = 5  # an HPA: the plan does not set replicas when the spec does not
    live["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "X", "value": "y"}]
    assert _changes(live) == []


def test_a_field_we_stopped_applying_changes_the_intent_hash() -> None:
    old = copy.deepcopy(REGION.body)
    old["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "a"}
    live = _live(diff.stamped(old))
    [change] = _changes(live)
    assert not change.drifted  # our intent changed; the live object still holds the old one


@pytest.mark.parametrize(
    ("desired", "live", "same"),
    [
        ("500m", "0.5", True),
        ("1Gi", "1024Mi", True),
        ("100G", "100G", True),
        ("1", 1, True),
        ("1Gi", "1G", False),
        ("v3.11", "v3.12", False),
    ],
)
def test_quantities_compare_by_value(desired: str, live: str | int, same: bool) -> None:
    assert diff.covers({"cpu": live}, {"cpu": desired}) is same


def test_keyed_lists_match_by_name_atomic_lists_by_position() -> None:
    live = {"c": [{"name": "b", "x": 1}, {"name": "a", "x": 2, "extra": True}], "cmd": ["a", "b"]}
    assert diff.covers(live, {"c": [{"name": "a", "x": 2}]})
    assert not diff.covers(live, {"c": [{"name": "a", "x": 3}]})
    assert not diff.covers(live, {"cmd": ["a"]})


def test_prune_takes_only_our_unplanned_workloads_never_configmaps() -> None:
    disabled = cluster({"glance": {"disable": True}, "productVersion": "CMP"}, uid="u-1")
    plan = planner.plan(disabled)
    owned = [
        (("Deployment", "onecloud", "default-glance"), _cached_named("glance")),
        (("ConfigMap", "onecloud", "default-glance"), _cached_named("glance")),
        (("Service", "onecloud", "default-glance"), _cached_named("glance")),
        (("DaemonSet", "onecloud", "default-host"), _cached_named("host")),
        (("Service", "onecloud", "default-region"), _cached_named("region")),
        (("Deployment", "onecloud", "stranger"), _cached_named("x", owner_uid="someone-else")),
    ]
    pruned = diff.prunable(plan, owned, "u-1")
    # glance: disabled -> workload deleted, ConfigMap and Service kept; host: not in CMP -> deleted
    assert pruned == [("Deployment", "onecloud", "default-glance"), ("DaemonSet", "onecloud", "default-host")]


def _cached_named(component: str, owner_uid: str = "u-1") -> Cached:
    return Cached("x", "1", ("onecloud", "default"), owner_uid, component, orjson.dumps({}), None)


def _state(rolled: bool, images: tuple[str, ...]) -> observed.WorkloadState:
    return observed.WorkloadState(images, 1, 1 if rolled else 0, 1, 1, rolled)


def test_status_phases_and_conditions() -> None:
    expected = {
        c.name: tuple(str(r) for r in status.ordered_images(c))
        for c in PLAN.components
        if c.state is planner.State.ENABLED
    }
    workloads = {PLAN.component(n).workloads[0]: _state(True, imgs) for n, imgs in expected.items()}
    seen = observed.Observed(workloads=workloads)
    built = status.build(CLUSTER, PLAN, seen, [], {}, "2026-01-01T00:00:00Z")
    assert {c["phase"] for c in built["components"].values()} == {"Normal"}
    conds = {c["type"]: c for c in built["conditions"]}
    assert conds["Ready"]["status"] == "True" and conds["Degraded"]["status"] == "False"
    assert built["observedGeneration"] == 3 and built["specChecksum"]

    region = PLAN.component("region").workloads[0]
    workloads[region] = _state(False, ("old",))
    later = status.build(
        CLUSTER, PLAN, observed.Observed(workloads=workloads), [], built, "2026-01-01T00:01:00Z"
    )
    conds = {c["type"]: c for c in later["conditions"]}
    assert later["components"]["region"]["phase"] == "Upgrade"
    assert conds["Ready"]["status"] == "False" and "region" in conds["Ready"]["message"]
    assert conds["Ready"]["lastTransitionTime"] == "2026-01-01T00:01:00Z"
    assert conds["Degraded"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"  # unchanged: time kept
    assert status.without_times(later) != status.without_times(built)


def test_status_reports_the_database_and_degrades_on_its_error() -> None:
    built = status.build(CLUSTER, PLAN, observed.Observed(), [], {}, "2026-01-01T00:00:00Z")
    assert built["database"] == "NotManaged"
    ready = status.build(CLUSTER, PLAN, observed.Observed(), [], built, "2026-01-01T00:00:00Z", "Ready")
    assert ready["database"] == "Ready"
    assert {c["type"]: c for c in ready["conditions"]}["Degraded"]["status"] == "False"
    message = "MySQL at mysql.onecloud.svc:3306 is unavailable: Access denied (error 1045)"
    down = status.build(
        CLUSTER, PLAN, observed.Observed(), [], ready, "2026-01-01T00:01:00Z", "Unavailable", message
    )
    degraded = {c["type"]: c for c in down["conditions"]}["Degraded"]
    assert (down["database"], degraded["status"], degraded["reason"]) == (
        "Unavailable",
        "True",
        "DatabaseUnavailable",
    )
    assert degraded["message"] == message and down["specChecksum"] == ready["specChecksum"]  # kept, not new
    first = status.build(
        CLUSTER, PLAN, observed.Observed(), [], {}, "2026-01-01T00:00:00Z", "Unavailable", message
    )
    assert "specChecksum" not in first
