"""The whole catalog on a real control plane: placement, OVS chain, products, editions, secrets."""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
import pytest

from cloudpods_operator import planner

from .cloud import Cloud
from .helpers import Kubectl, wait_for

pytestmark = pytest.mark.integration

MYSQL_PASSWORD = "Mysql-Pw-7f3a9c1e"
BOOTSTRAP_PASSWORD = "B00tstrap-Pw-4d2e8b"


def _pods_by_owner(cloud: Cloud) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for pod in cloud.get("pods")["items"]:
        for ref in pod["metadata"].get("ownerReferences") or []:
            out.setdefault(ref["name"], []).append(pod)
    return out


def test_fullstack_places_daemonsets_on_labelled_nodes_and_reports_every_component(
    cloud: Cloud, kubectl: Kubectl
) -> None:
    cloud.apply()
    cr = cloud.wait_ready()
    enabled = {c.name for c in cloud.plan().components if c.state is not planner.State.DISABLED}
    assert set(cr["status"]["components"]) == enabled
    assert all(c["phase"] == "Normal" for c in cr["status"]["components"].values())

    nodes = {
        n["metadata"]["name"]: n["metadata"].get("labels", {})
        for n in json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    }
    pods = _pods_by_owner(cloud)
    for name, ds in cloud.workloads().items():
        if ds["kind"] != "DaemonSet":
            continue
        selector = ds["spec"]["template"]["spec"].get("nodeSelector", {})
        eligible = {n for n, labels in nodes.items() if all(labels.get(k) == v for k, v in selector.items())}
        placed = {p["spec"].get("nodeName") for p in pods.get(name, [])}
        assert placed == eligible, (name, selector, placed, eligible)
        if selector:
            assert eligible != set(nodes), name  # a labelled subset, not everywhere


def test_ovs_chain_rolls_out_in_order(cloud: Cloud) -> None:
    cloud.apply()
    cloud.wait_ready()
    created: list[str] = []
    for line in cloud.operator.logs().splitlines():
        if not line.startswith("{"):
            continue
        entry = orjson.loads(line)
        msg = str(entry.get("msg", ""))
        if msg.startswith("created DaemonSet/default-host-o"):
            created.append(msg.split("/", 1)[1])
    assert created == [
        "default-host-ovsdb-server",
        "default-host-ovs-vswitchd",
        "default-host-ovn-controller",
    ]
    workloads = cloud.workloads()
    stamps = [workloads[n]["metadata"]["creationTimestamp"] for n in created]
    assert stamps == sorted(stamps)


def test_fullstack_to_cmp_deletes_exactly_what_cmp_does_not_run(cloud: Cloud) -> None:
    cloud.apply()
    cloud.wait_ready()
    before = {n: o["metadata"]["uid"] for n, o in cloud.workloads().items()}
    cloud.patch({"spec": {"productVersion": "CMP"}})
    cloud.wait_ready()
    expected = cloud.planned_workloads()
    after = {n: o["metadata"]["uid"] for n, o in cloud.workloads().items()}
    assert set(after) == expected
    removed = set(before) - set(after)
    assert removed and removed == set(before) - expected
    assert {n: before[n] for n in after} == after  # nothing else recreated
    assert "default-host" in removed and "default-region" in after


def test_edition_ee_adds_ee_components_and_renames_edition_images(cloud: Cloud, kubectl: Kubectl) -> None:
    cloud.apply()
    cloud.wait_ready()
    before_images = cloud.images()
    before_plan = cloud.planned_workloads()
    kubectl(
        "annotate", "oc", "-n", cloud.namespace, "default", "onecloud.yunion.io/edition=ee", "--overwrite"
    )
    wait_for(lambda: "default-meter" in cloud.workloads(), 60, what="EE components created")
    cloud.wait_ready()
    after_images = cloud.images()
    ee_plan = cloud.planned_workloads()
    assert set(after_images) == ee_plan
    assert ee_plan - before_plan == {
        "default-meter",
        "default-billing",
        "default-autoupdate",
        "default-itsm",
        "default-suggestion",
        "default-report",
        "default-bastionhost",
        "default-extdb",
        "default-yunionagent",
    }
    renamed = {n for n in before_images if before_images[n] != after_images.get(n)}
    assert renamed == {
        "default-region",
        "default-monitor",
        "default-cloudmon",
        "default-mcp-server",
        "default-apigateway",
        "default-climc",
        "default-web",
    }
    assert (
        after_images["default-region"] == ["registry.cn-beijing.aliyuncs.com/yunionio/region-ee:v3.11.5"] * 2
    )
    web = after_images["default-web"]
    assert web[0].endswith("/web-ee:v3.11.5") and len(web) == 3  # EE adds overview and docs


def test_no_secret_value_in_configmaps_events_status_or_logs(cloud: Cloud, kubectl: Kubectl) -> None:
    doc = cloud.manifest(
        mysql={"host": "mysql", "port": 3306, "username": "root", "password": MYSQL_PASSWORD},
        keystone={"bootstrapPassword": BOOTSTRAP_PASSWORD},
    )
    cloud.apply(doc)
    cr = cloud.wait_ready()
    credentials = cloud.get("secret", "default-credentials")
    assert set(credentials["data"]) >= {"sysadmin-password", "mysql-root-password", "region.db-password"}
    generated = [v for k, v in credentials["data"].items() if k.endswith("-password")]
    haystacks = {
        "configmaps": kubectl("get", "configmaps", "-n", cloud.namespace, "-o", "yaml").stdout,
        "events": kubectl("get", "events", "-n", cloud.namespace, "-o", "yaml").stdout,
        "status": json.dumps(cr["status"]),
        "operator log": cloud.operator.logs(),
    }
    secrets = [MYSQL_PASSWORD, BOOTSTRAP_PASSWORD, *(base64.b64decode(v).decode() for v in generated)]
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a password leaked into {where}"
    # The passwords are where the services read them: in each component's config Secret, mounted.
    values = {k: base64.b64decode(v).decode() for k, v in credentials["data"].items()}
    config = json.loads(base64.b64decode(cloud.get("secret", "default-region-config")["data"]["config"]))
    assert config["admin_password"] == values["region.keystone-password"]
    db = values["region.db-password"]
    assert config["sql_connection"].startswith(f"mysql+pymysql://yunioncloud:{db}@mysql:3306/yunioncloud?")
    keystone = json.loads(base64.b64decode(cloud.get("secret", "default-keystone-config")["data"]["config"]))
    assert keystone["bootstrap_admin_user_password"] == BOOTSTRAP_PASSWORD
    pod = cloud.get("deployment", "default-region")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert volume["secret"]["secretName"] == "default-region-config"
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "config")
    assert (mount["mountPath"], volume["secret"]["items"]) == (
        "/etc/yunion",
        [{"key": "config", "path": "region.conf"}],
    )
