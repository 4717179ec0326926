"""The catalog against the reference fact table (tests/unit/fixtures/reference_components.yaml).

The table was written from the Go operator's code and shared/reference/cloudpods-operator.md;
every component is one case, so a drift names the component and the fact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudpods_operator import catalog

FIXTURE = Path(__file__).parent / "fixtures" / "reference_components.yaml"
REFERENCE: list[dict[str, Any]] = yaml.safe_load(FIXTURE.read_text())
KINDS = {"Deployment": "Deployment", "DaemonSet": "DaemonSet", "Pods(etcd)": "StatefulSet"}


def _ids(entry: dict[str, Any]) -> str:
    return str(entry["component"])


def test_every_reference_component_is_in_the_catalog() -> None:
    assert {e["component"] for e in REFERENCE} == set(catalog.BY_NAME)


@pytest.fixture(params=REFERENCE, ids=_ids)
def ref(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.param  # type: ignore[no-any-return]


def test_identity_and_gates(ref: dict[str, Any]) -> None:
    comp = catalog.BY_NAME[ref["component"]]
    assert comp.spec_key == ref["spec_key"]
    assert comp.kind.value == KINDS[ref["kind"]]
    assert comp.group.value == ref["group"]
    assert comp.products == frozenset(ref["product_versions"])
    assert (comp.edition or "any") == ref["edition"]
    assert comp.feature == ref["feature_flag"]
    # influxdb is not run by the reference at all; ours plans it only when enabled explicitly.
    assert comp.default_off == (bool(ref["default_disabled"]) or ref["group"] == "not-run")


def test_image_rule(ref: dict[str, Any]) -> None:
    comp = catalog.BY_NAME[ref["component"]]
    rule, image = comp.containers[0].image, ref["image"]
    assert rule.name == image["name"]
    assert rule.hyper == bool(image["hyper"])
    assert rule.pinned_tag == image["pinned_tag"]
    assert rule.edition == image.get("when_edition")
    if image.get("edition_name"):
        assert rule.edition_name == image["edition_name"]


def test_containers(ref: dict[str, Any]) -> None:
    comp = catalog.BY_NAME[ref["component"]]
    expected = [c["name"] for c in ref["containers"] if c.get("name")]
    if len(expected) == len(ref["containers"]):
        assert [c.name for c in comp.containers if c.name in expected] == expected
    inits = [c["name"] for c in ref["init_containers"] if c.get("name")]
    assert [c.name for c in comp.init_containers if c.name in inits] == inits
    assert len(comp.init_containers) == len(ref["init_containers"])


def test_services(ref: dict[str, Any]) -> None:
    comp = catalog.BY_NAME[ref["component"]]
    expected = {(p["name"], p["port"], p["targetPort"]) for s in ref["services"] for p in s["ports"]}
    ours = {(p.name, p.port, p.target_port) for s in comp.services for p in s.ports}
    assert ours == expected


def test_side_objects_and_privileges(ref: dict[str, Any]) -> None:
    comp = catalog.BY_NAME[ref["component"]]
    assert (comp.config is not None) == (ref["configmap"] is not None)
    assert (comp.pvc is not None) == (ref["pvc"] is not None)
    assert (comp.ingress is not None) == (ref["ingress"] is not None)
    assert comp.host_network == bool(ref["host_network"])
    assert any(c.privileged for c in comp.containers) == bool(ref["privileged"])
    assert comp.service_account == (ref["service_account"] is not None)
    assert comp.db == ref["db"]
    assert comp.read_only_slave == bool(ref.get("read_only_slave"))
    if isinstance(ref["node_selector"], dict):
        assert {comp.node_label: "enable"} == ref["node_selector"]
