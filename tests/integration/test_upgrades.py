"""Upgrades on the local control plane: a tag that cannot be pulled (or crash-loops) is shown at once and
never reaches the DaemonSets on the hosts; reverting or fixing the tag resumes; ``AllAtOnce`` rolls
everything at once as the Go operator does.

KWOK plays the kubelet (src/localcluster/kwok_stages.yaml): a container whose image ends in
``-unpullable`` waits with ErrImagePull then ImagePullBackOff, one ending in ``-crashloop`` with
CrashLoopBackOff. The Reconciler runs in-process (test_reconciler.py's harness, whose sync lists our
pods as the manager's Pod watch does).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloudpods_operator import kinds
from cloudpods_operator.kinds import JSON

from . import conftest
from .helpers import eventually
from .test_reconciler import Harness, conditions, open_harness

pytestmark = pytest.mark.integration
OLD, GOOD = "v3.11.5", "v3.11.6"


@pytest.fixture
async def harness(kube: conftest.Kube, crd: None, namespace: str) -> AsyncIterator[Harness]:
    async with open_harness(kube.kubeconfig, namespace) as opened:
        yield opened


async def _pass(harness: Harness) -> JSON:
    await harness.sync_nodes()
    outcome = await harness.reconcile()
    assert outcome.failures == [], outcome.failures
    return await harness.get(kinds.CLUSTER_KIND, "default")


async def _until(harness: Harness, check: Any, timeout: float = 180) -> JSON:  # noqa: ASYNC109
    async def once() -> JSON:
        cluster = await _pass(harness)
        check(cluster)
        return cluster

    return await eventually(once, timeout=timeout)


def _ready(cluster: JSON) -> None:
    assert conditions(cluster)["Ready"]["status"] == "True", conditions(cluster)["Ready"]


async def _templates(harness: Harness, kind: str) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Each workload of a kind: its generation and its template's images."""
    page = await harness.kube.list(kinds.RESOURCES[kind], harness.namespace)
    out = {}
    for item in page.get("items", []):
        pod = item["spec"]["template"]["spec"]
        images = tuple(c["image"] for c in (*pod.get("initContainers", []), *pod["containers"]))
        out[item["metadata"]["name"]] = (int(item["metadata"]["generation"]), images)
    return out


def _halted(cause: str, tag: str) -> Any:
    def check(cluster: JSON) -> None:
        conds = conditions(cluster)
        assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("True", cause), conds[
            "Degraded"
        ]
        assert conds["Ready"]["reason"] == cause  # the REASON column of `kubectl get oc -o wide`
        assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == ("False", "RolloutHalted")
        assert f":{tag}" in conds["Degraded"]["message"], conds["Degraded"]["message"]  # at most 1 KiB
        region = cluster["status"]["components"]["region"]
        assert f"region:{tag}" in region.get("message", ""), region

    return check


async def _bring_up(harness: Harness) -> None:
    await harness.apply_cluster()
    await _until(harness, _ready)


async def test_a_bad_tag_halts_before_the_daemonsets_and_a_fix_resumes(harness: Harness) -> None:
    await _bring_up(harness)
    daemonsets = await _templates(harness, "DaemonSet")
    assert any(i.endswith(f":{OLD}") for _, images in daemonsets.values() for i in images)

    bad = "v9.9.9-unpullable"
    await harness.patch_spec({"version": bad})
    started = time.monotonic()
    await _until(harness, _halted("ImagePullFailed", bad), timeout=30)
    print(f"halted, the image named in status, {time.monotonic() - started:.1f} s after the edit")
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    held = {n for n, c in live["status"]["components"].items() if "staged upgrade" in c.get("message", "")}
    assert held and all(live["status"]["components"][n]["kind"] == "DaemonSet" for n in held)
    assert await _templates(harness, "DaemonSet") == daemonsets  # no host agent ever got the bad tag
    deployments = await _templates(harness, "Deployment")
    assert any(bad in " ".join(images) for _, images in deployments.values())
    await _pass(harness)  # at rest while halted: no second Event for the same cause
    warned = [e for e in await harness.events() if e["reason"] == "ImagePullFailed"]
    assert len(warned) == 1 and f":{bad}" in warned[0]["note"], warned

    await harness.patch_spec({"version": OLD})  # revert: back to the old images, the DaemonSets never rolled
    await _until(harness, _ready)
    assert await _templates(harness, "DaemonSet") == daemonsets
    assert not any(bad in " ".join(i) for _, i in (await _templates(harness, "Deployment")).values())

    await harness.patch_spec({"version": GOOD})  # a good version: Deployments first, then the DaemonSets
    first = await _pass(harness)
    assert await _templates(harness, "DaemonSet") == daemonsets, "DaemonSets rolled with the Deployments"
    assert any(GOOD in " ".join(i) for _, i in (await _templates(harness, "Deployment")).values())
    assert any("staged upgrade" in c.get("message", "") for c in first["status"]["components"].values())
    done = await _until(harness, _ready)
    assert done["status"]["version"] == GOOD
    after = await _templates(harness, "DaemonSet")
    for name, (_, images) in daemonsets.items():
        if any(i.endswith(f":{OLD}") for i in images):
            assert any(i.endswith(f":{GOOD}") for i in after[name][1]), name


async def test_a_crash_loop_halts_too_and_all_at_once_rolls_everything(harness: Harness) -> None:
    await _bring_up(harness)
    daemonsets = await _templates(harness, "DaemonSet")

    crash = "v9.9.9-crashloop"
    await harness.patch_spec({"version": crash})
    await _until(harness, _halted("CrashLoop", crash), timeout=30)
    assert await _templates(harness, "DaemonSet") == daemonsets

    await harness.patch_spec({"version": OLD})
    await _until(harness, _ready)

    bad = "v9.9.9-unpullable"
    await harness.patch_spec({"version": bad, "upgradeStrategy": "AllAtOnce"})
    await _pass(harness)  # one pass: every workload at once, as the Go operator does
    rolled = await _templates(harness, "DaemonSet")
    changed = [n for n in daemonsets if rolled[n] != daemonsets[n]]
    assert changed and all(bad in " ".join(rolled[n][1]) for n in changed)
