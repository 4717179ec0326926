"""``slave_replicas``: the reference's read-only replica Deployment and Service."""

from __future__ import annotations

import pytest
from clusters import cluster

from cloudpods_operator import catalog, planner

SLAVES = ["keystone", "region", "glance", "ansibleserver", "billing", "meter"]


def _plan(component: str, replicas: int) -> planner.Plan:
    key = catalog.BY_NAME[component].spec_key
    return planner.plan(cluster({key: {"slave_replicas": replicas}}, "ee"))


@pytest.mark.parametrize("component", SLAVES)
def test_slave_replicas_add_a_read_only_deployment_and_cluster_ip_service(component: str) -> None:
    objects = {(o.kind, o.name): o.body for o in _plan(component, 2).objects}
    deployment = objects[("Deployment", f"default-{component}-slave")]
    assert deployment["spec"]["replicas"] == 2
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert labels["app"] == f"{component}-slave" and labels["read-only"] == "true"
    pod = deployment["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    assert pod["containers"][0]["command"][-1] == "--is-slave-node"
    main = objects[("Deployment", f"default-{component}")]["spec"]["template"]["spec"]["containers"][0]
    assert pod["containers"][0]["image"] == main["image"]
    service = objects[("Service", f"default-{component}-slave")]
    assert service["spec"]["type"] == "ClusterIP"
    assert all("nodePort" not in p for p in service["spec"]["ports"])
    assert service["spec"]["selector"] == labels


@pytest.mark.parametrize("component", SLAVES)
def test_no_slave_objects_without_slave_replicas(component: str) -> None:
    assert not [o for o in _plan(component, 0).objects if o.name.endswith("-slave")]


def test_components_without_read_only_support_ignore_the_field() -> None:
    assert not [o for o in _plan("scheduler", 3).objects if o.name.endswith("-slave")]
