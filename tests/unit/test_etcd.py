"""etcd's Services follow ``spec.etcd`` (clientNodePort), as the reference's embedded etcd does."""

from __future__ import annotations

from typing import Any

from cloudpods_operator import planner
from cloudpods_operator.model import OnecloudCluster


def _client_service(spec: dict[str, Any]) -> dict[str, Any]:
    cluster = OnecloudCluster.model_validate(
        {"metadata": {"name": "default", "namespace": "x"}, "spec": spec}
    )
    return next(o.body for o in planner.plan(cluster).objects if o.name == "default-etcd-client")


def test_client_node_port_defaults_to_30379_and_follows_the_spec() -> None:
    default = _client_service({})["spec"]
    assert default["ports"] == [
        {"name": "client", "port": 2379, "targetPort": 2379, "protocol": "TCP", "nodePort": 30379}
    ]
    moved = _client_service({"etcd": {"clientNodePort": 31379}})["spec"]
    assert moved["ports"][0]["nodePort"] == 31379
