"""Taking over objects the Go operator wrote: its managedFields move to our manager (client-go csaupgrade)."""

from __future__ import annotations

from typing import Any

import pytest

from cloudpods_operator import takeover

GO = "onecloud-controller-manager"
OURS = "cloudpods-operator"


def _entry(manager: str, operation: str, fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "time": "2026-07-20T00:00:00Z",
        **extra,
    }


CONTROLLER = _entry("kube-controller-manager", "Update", {"f:status": {".": {}}}, subresource="status")
GO_SPEC = {
    "f:metadata": {"f:annotations": {"f:onecloud.yunion.io/last-applied-configuration": {}}},
    "f:spec": {"f:replicas": {}},
}


def test_the_go_operators_fields_become_ours() -> None:
    moved = takeover.upgraded_managed_fields(
        [_entry(GO, "Update", GO_SPEC), CONTROLLER], manager=OURS, adopt=[GO], api_version="apps/v1"
    )
    assert moved is not None
    assert [(e["manager"], e["operation"]) for e in moved] == [
        ("kube-controller-manager", "Update"),
        (OURS, "Apply"),
    ]
    assert moved[1]["fieldsV1"] == GO_SPEC


def test_fields_merge_into_an_existing_apply_entry() -> None:
    ours = _entry(OURS, "Apply", {"f:spec": {"f:template": {".": {}}}})
    moved = takeover.upgraded_managed_fields(
        [ours, _entry(GO, "Update", GO_SPEC)], manager=OURS, adopt=[GO], api_version="apps/v1"
    )
    assert moved is not None and len(moved) == 1
    assert moved[0]["fieldsV1"]["f:spec"] == {"f:template": {".": {}}, "f:replicas": {}}
    assert "f:metadata" in moved[0]["fieldsV1"]
    assert ours["fieldsV1"] == {"f:spec": {"f:template": {".": {}}}}  # the input is not modified


@pytest.mark.parametrize(
    "entries",
    [[], [CONTROLLER], [_entry(GO, "Apply", GO_SPEC)], [_entry("kubectl-edit", "Update", GO_SPEC)]],
    ids=["none", "controller-only", "go-applied", "someone-else"],
)
def test_nothing_to_move(entries: list[dict[str, Any]]) -> None:
    assert takeover.upgraded_managed_fields(entries, manager=OURS, adopt=[GO], api_version="apps/v1") is None


def test_selector_changed() -> None:
    live = {"spec": {"selector": {"matchLabels": {"app": "a"}}}}
    assert takeover.selector_changed(live, {"spec": {"selector": {"matchLabels": {"app": "b"}}}})
    assert not takeover.selector_changed(live, {"spec": {"selector": {"matchLabels": {"app": "a"}}}})
    assert not takeover.selector_changed({"spec": {}}, {"spec": {"selector": {"matchLabels": {}}}})


def test_differing_options_names_edits_only() -> None:
    old = "port: 30888\nregion: region0\nlog_level: debug\nenable_ssl: true\n"
    ours = {"port": 30888, "region": "region1", "enable_ssl": True}
    assert takeover.differing_options(old, ours) == ["region"]  # log_level: a library default, not ours
    assert takeover.differing_options("not: [valid", ours) == []
    assert takeover.differing_options("- a list", ours) == []
