"""etcd's Services follow ``spec.etcd`` (clientNodePort), as the reference's embedded etcd does."""

from __future__ import annotations

from typing import Any

from clusters import cluster

from cloudpods_operator import planner


def _client_service(spec: dict[str, Any]) -> dict[str, Any]:
    plan = planner.plan(cluster(spec, namespace="x"))
    return next(o.body for o in plan.objects if o.name == "default-etcd-client")


def test_client_node_port_defaults_to_30379_and_follows_the_spec() -> None:
    default = _client_service({})["spec"]
    assert default["ports"] == [
        {"name": "client", "port": 2379, "targetPort": 2379, "protocol": "TCP", "nodePort": 30379}
    ]
    moved = _client_service({"etcd": {"clientNodePort": 31379}})["spec"]
    assert moved["ports"][0]["nodePort"] == 31379
