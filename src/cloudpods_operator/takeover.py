"""Taking over objects another operator wrote with Update (the Go operator), as client-go's csaupgrade does.

Pure. An object created or updated with PUT/POST keeps its fields owned by that manager (operation
``Update``); after our first server-side apply both would own them, and fields we no longer set (a
ConfigMap volume, a last-applied annotation, an old Ingress backend) would stay forever. Before the
first apply, :func:`upgraded_managed_fields` moves those entries into ours (operation ``Apply``), so the
apply then owns exactly what we send and removes what we leave out.

Also here: which superseded service-config ConfigMaps may go, and which of their options differ from
ours (named in a Warning Event, never with values).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from cloudpods_operator.kinds import JSON

GO_FIELD_MANAGERS = ("onecloud-controller-manager", "onecloud-operator")
"""Managers the Go operator writes as (its binary's name; no field manager is set in its client)."""


def _merge(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    """Union of two fieldsV1 tries (``f:``/``k:``/``v:`` keys and ``.`` leaves)."""
    for key, value in more.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif key not in into:
            into[key] = copy.deepcopy(value) if isinstance(value, Mapping) else value


def upgraded_managed_fields(
    entries: list[JSON], *, manager: str, adopt: Iterable[str], api_version: str
) -> list[JSON] | None:
    """The managedFields with every ``Update`` entry of an ``adopt`` manager merged into ``manager``'s
    ``Apply`` entry (created if missing); None when there is nothing to move."""
    adopted = set(adopt)
    moving = [e for e in entries if e.get("manager") in adopted and e.get("operation") == "Update"]
    if not moving:
        return None
    kept = [e for e in entries if e not in moving]
    mine = [e for e in kept if e.get("manager") == manager and e.get("operation") == "Apply"]
    found = next((e for e in mine if not e.get("subresource")), None)
    ours = dict(found) if found is not None else None
    if found is not None and ours is not None:
        kept[kept.index(found)] = ours  # a copy: the caller's entries stay as they were
    if ours is None:
        ours = {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": {},
        }
        kept.append(ours)
    fields: dict[str, Any] = copy.deepcopy(ours.get("fieldsV1") or {})
    for entry in moving:
        if entry.get("subresource"):
            continue  # status written by the Go operator stays its own (we never apply status of these)
        _merge(fields, entry.get("fieldsV1") or {})
    ours["fieldsV1"] = fields
    ours["time"] = max((str(e.get("time") or "") for e in (*moving, ours)), default="") or None
    if ours["time"] is None:
        ours.pop("time")
    return kept


def selector_changed(live: JSON, desired: JSON) -> bool:
    """A workload whose live selector differs from ours cannot be updated (immutable): it is replaced."""
    selector = live.get("spec", {}).get("selector")
    return bool(selector) and selector != desired["spec"]["selector"]


def differing_options(old_config: str, new_options: Mapping[str, object]) -> list[str]:
    """Keys of a superseded YAML config whose value differs from ours: a user's edits, named without values.

    Keys only in the old file are the service's library defaults the reference serialised, not edits."""
    try:
        old = yaml.safe_load(old_config)
    except yaml.YAMLError:
        return []
    if not isinstance(old, dict):
        return []
    return sorted(k for k, v in old.items() if k in new_options and new_options[k] != v)
