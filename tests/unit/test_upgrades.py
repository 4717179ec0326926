"""Staged upgrades and pod trouble, pure: what a kubelet's waiting reasons become, which DaemonSets a
staged upgrade holds, and the conditions that say so."""

from __future__ import annotations

from typing import Any

import pytest
from clusters import merge, plan_for

from cloudpods_operator import catalog, planner, status
from cloudpods_operator.observed import Observed, PodTrouble, WorkloadState, pod_trouble

BASE: dict[str, Any] = {"loadBalancerEndpoint": "10.0.0.10", "version": "v3.11.5"}


def _pod(waiting: str | None = None, unscheduled: bool = False, init: bool = False) -> dict[str, Any]:
    statuses = [
        {
            "name": "c",
            "image": "r/region:v9",
            "state": {"waiting": {"reason": waiting}} if waiting else {"running": {}},
        }
    ]
    conditions = (
        [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}] if unscheduled else []
    )
    key = "initContainerStatuses" if init else "containerStatuses"
    return {"metadata": {"name": "p"}, "status": {key: statuses, "conditions": conditions}}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (_pod("ErrImagePull"), PodTrouble("ErrImagePull", "r/region:v9", "p")),
        (_pod("ImagePullBackOff"), PodTrouble("ImagePullBackOff", "r/region:v9", "p")),
        (_pod("InvalidImageName"), PodTrouble("InvalidImageName", "r/region:v9", "p")),
        (_pod("CrashLoopBackOff", init=True), PodTrouble("CrashLoopBackOff", "r/region:v9", "p")),
        (_pod("CreateContainerConfigError"), PodTrouble("CreateContainerConfigError", "r/region:v9", "p")),
        (_pod(unscheduled=True), PodTrouble("Unschedulable", "", "p")),
        (_pod("ContainerCreating"), None),  # on its way: not a trouble
        (_pod(), None),
        ({"metadata": {"name": "p"}}, None),
    ],
)
def test_pod_trouble(pod: dict[str, Any], expected: PodTrouble | None) -> None:
    assert pod_trouble(pod) == expected


def test_trouble_summary_counts_pods_per_reason_and_image() -> None:
    troubles = (
        PodTrouble("ImagePullBackOff", "r/a:v9", "p1"),
        PodTrouble("ImagePullBackOff", "r/a:v9", "p2"),
        PodTrouble("Unschedulable", "", "p3"),
    )
    assert status.trouble_summary(troubles) == "ImagePullBackOff: 2 pods, image r/a:v9; Unschedulable: 1 pod"


def _rolled(plan: planner.Plan, *, images_of: planner.Plan | None = None) -> dict[str, WorkloadState]:
    """Every workload rolled out, with the images of ``images_of`` (default: this plan's)."""
    source = images_of or plan
    out = {}
    for comp in source.components:
        if comp.state is planner.State.DISABLED:
            continue
        images = tuple(str(ref) for ref in status.ordered_images(comp))
        for name in comp.workloads:
            out[name] = WorkloadState(images, 1, 1, 1, 1, True)
    return out


def _held(plan: planner.Plan) -> dict[str, str]:
    return {c.name: c.reason for c in plan.components if c.reason.startswith("staged upgrade")}


@pytest.mark.parametrize("strategy", [None, "Staged", "AllAtOnce"])
def test_a_version_bump_holds_every_daemonset_until_the_control_plane_rolled_out(
    strategy: str | None,
) -> None:
    old = plan_for(BASE, "ce")
    spec = merge(BASE, {"version": "v3.11.6", **({"upgradeStrategy": strategy} if strategy else {})})
    new_cluster = plan_for(spec, "ce").cluster
    live = _rolled(old)  # everything still on the old version
    bumped = planner.plan(new_cluster, Observed(live))
    held = _held(bumped)
    daemonsets = {
        c.name
        for c in bumped.components
        if c.component.kind is catalog.Kind.DAEMONSET and c.state is not planner.State.DISABLED
    }
    changed = {
        c.name
        for c in bumped.components
        if c.name in daemonsets
        and live[c.workloads[0]].images != tuple(str(r) for r in status.ordered_images(c))
    }
    if strategy == "AllAtOnce":
        assert held == {}
        return
    assert changed and set(held) == changed  # a DaemonSet whose images do not change is not held
    assert not any(
        c.component.kind is not catalog.Kind.DAEMONSET for c in bumped.components if c.name in held
    )
    # Once every Deployment (and etcd) runs its new images, rolled out, the DaemonSets go.
    control = {
        **live,
        **{
            k: v
            for k, v in _rolled(bumped).items()
            if not k.startswith(tuple(f"default-{d}" for d in daemonsets))
        },
    }
    assert _held(planner.plan(new_cluster, Observed(control))) == {}


def test_bring_up_and_a_single_override_hold_nothing() -> None:
    plan = plan_for(BASE, "ce")
    assert _held(planner.plan(plan.cluster, Observed({}))) == {}
    override = plan_for(merge(BASE, {"regionServer": {"tag": "v3.11.6"}}), "ce").cluster
    assert _held(planner.plan(override, Observed(_rolled(plan)))) == {}


def test_troubles_degrade_halt_and_name_the_image() -> None:
    plan = plan_for(BASE, "ce")
    troubles = {"region": (PodTrouble("ImagePullBackOff", "r/region:v9-unpullable", "p"),)}
    observed = Observed(_rolled(plan), troubles=troubles)
    components = {
        c.name: status.component_status(c, observed)
        for c in plan.components
        if c.state is not planner.State.DISABLED
    }
    components["region"]["phase"] = "Upgrade"
    found = status.troubles_check(plan, observed, components)
    assert found == ("ImagePullFailed", "region: ImagePullBackOff: 1 pod, image r/region:v9-unpullable")
    checks = status.checks(components, [], None, None, found)
    assert (checks["Degraded"].reason, checks["Ready"].reason, checks["Progressing"].reason) == (
        "ImagePullFailed",
    ) * 2 + ("RolloutHalted",)
    # A component rolled out (Normal) with an odd pod left over is not a halt.
    components["region"]["phase"] = "Normal"
    assert status.troubles_check(plan, observed, components) is None
