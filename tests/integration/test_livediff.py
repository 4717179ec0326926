"""``diff`` against the live cluster: exactly what would change, and nothing written while finding out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from cloudpods_operator import kinds, livediff, planner
from cloudpods_operator.kube.client import Kube
from cloudpods_operator.model import OnecloudCluster

from .cloud import WORKLOAD_PLURALS, Cloud
from .conftest import Kube as ClusterUnderTest

FIELD_MANAGER = "cloudpods-operator"


def _versions(cloud: Cloud) -> dict[str, str]:
    """Every object's resourceVersion in the namespace: a dry run must leave all of them as they are."""
    plurals = ",".join((*WORKLOAD_PLURALS, "services", "secrets", "configmaps", "onecloudclusters"))
    items = json.loads(cloud.kubectl("get", plurals, "-n", cloud.namespace, "-o", "json").stdout)["items"]
    return {f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in items}


def _templates(plan: planner.Plan) -> dict[str, Any]:
    return {
        f"{o.kind}/{o.name}": o.body["spec"]["template"]
        for o in plan.objects
        if o.kind in kinds.WORKLOAD_KINDS
    }


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = str(Path(sys.executable).parent / "cloudpods-operator")
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=120, check=False)


async def _diff(kube: ClusterUnderTest, doc: dict[str, Any]) -> livediff.Report:
    client = await Kube.connect(str(kube.kubeconfig))
    try:
        return await livediff.compute(
            client, OnecloudCluster.model_validate(doc), field_manager=FIELD_MANAGER
        )
    finally:
        await client.close()


async def test_diff_lists_what_a_bump_or_a_disable_would_do_and_writes_nothing(
    cloud: Cloud, kube: ClusterUnderTest, tmp_path: Path
) -> None:
    cloud.apply()
    cloud.wait_ready()
    before = _versions(cloud)
    current = cloud.manifest()

    same = await _diff(kube, current)
    assert not same.changed, livediff.render(same)
    assert {o.action for o in same.objects} == {"unchanged"}

    bumped = cloud.manifest(version="v3.11.6")
    report = await _diff(kube, bumped)
    old_plan = planner.plan(OnecloudCluster.model_validate(current))
    new_plan = planner.plan(OnecloudCluster.model_validate(bumped))
    old, new = _templates(old_plan), _templates(new_plan)
    expected = sorted(k for k in new if old.get(k) != new[k])
    assert expected, "the bump changes no pod template: the test would prove nothing"
    assert sorted(report.rolling) == expected
    assert all(o.action in ("changed", "unchanged") for o in report.objects), livediff.render(report)
    text = livediff.render(report)
    added = [line for line in text.splitlines() if line.startswith("+") and "image:" in line]
    assert any(line.endswith("/region:v3.11.6") for line in added), text
    assert "would roll: " in text

    webconsole = {f"{o.kind}/{o.name}" for o in old_plan.component("webconsole").objects}
    gone = await _diff(kube, cloud.manifest(webconsole={"disable": True}))
    pruned = {f"{o.kind}/{o.name}" for o in gone.objects if o.action == "pruned"}
    assert pruned and pruned <= webconsole, livediff.render(gone)
    assert "Deployment/default-webconsole" in pruned

    # the command line, as users run it: kubectl diff's exit codes
    config = str(kube.kubeconfig)
    for name, doc, code in (("same", current, 0), ("bumped", bumped, 1)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc))
        done = _cli("diff", "-f", str(path), "--kubeconfig", config)
        assert done.returncode == code, done.stdout[-2000:] + done.stderr
    assert "Deployment/default-region" in done.stdout.splitlines()[-1], done.stdout[-2000:]  # would roll: ...
    live = _cli("diff", "--cluster", f"{cloud.namespace}/default", "--kubeconfig", config)
    assert (live.returncode, live.stdout.splitlines()[-1]) == (0, "would roll: nothing"), (
        live.stdout + live.stderr
    )

    assert _versions(cloud) == before, "a diff wrote to the API server"
