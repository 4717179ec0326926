"""The OnecloudCluster CRD, generated from :mod:`model` so the schema can never drift from the code.

pydantic's JSON JSON is turned into a Kubernetes *structural* schema: ``$ref`` inlined,
``Optional`` collapsed, ``int | str`` quantities marked ``x-kubernetes-int-or-string``, free-form
Kubernetes types (affinity, dnsConfig, etcd's pod policy) marked
``x-kubernetes-preserve-unknown-fields`` — the only places unknown keys survive.
``crd/`` and the chart's ``crds/`` hold the output; a unit test fails when either differs.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import yaml

from cloudpods_operator import catalog
from cloudpods_operator.kinds import CLUSTER_KIND, GROUP, JSON, VERSION
from cloudpods_operator.kinds import CLUSTER_PLURAL as PLURAL
from cloudpods_operator.model import (
    ANNOTATION_KEY_PATTERN,
    MAX_CLUSTER_NAME,
    QUALIFIED_NAME_PATTERN,
    OnecloudClusterSpec,
    OnecloudClusterStatus,
)

CRD_NAME = f"{PLURAL}.{GROUP}"
CRD_FILE = f"{CRD_NAME}.yaml"

_DROP = {"title", "default", "additionalProperties", "$defs"}


def _empty_allowed(node: JSON, required: bool) -> JSON:
    """An optional string field also admits ``""`` (unset, as the Go operator's defaulting writes it); a
    required one refuses it, as the model does (``""`` is unset there, and unset is missing)."""
    if node.get("x-kubernetes-int-or-string") and "pattern" in node:
        return {**node, "pattern": f"^$|{node['pattern']}"}
    if node.get("type") != "string":
        return node
    if required:
        return {**node, "minLength": max(1, node.get("minLength", 1))}
    if "pattern" in node:
        node = {**node, "pattern": f"^$|{node['pattern']}"}
    if "enum" in node and "" not in node["enum"]:
        node = {**node, "enum": [*node["enum"], ""]}
    return node


def _structural(node: JSON, defs: dict[str, JSON]) -> JSON:
    if "$ref" in node:
        return _structural(defs[node["$ref"].rsplit("/", 1)[1]], defs)
    if "anyOf" in node:
        return _any_of(node, defs)
    if not node:
        return {"x-kubernetes-preserve-unknown-fields": True}
    if node == {"type": "object"}:
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    out: JSON = {}
    for key, value in node.items():
        if key in _DROP or key == "required":
            continue
        if key == "properties":
            required = set(node.get("required", ()))
            out["properties"] = {
                k: _empty_allowed(_structural(v, defs), k in required) for k, v in value.items()
            }
        elif key in ("patternProperties", "propertyNames"):
            continue
        elif key == "items":
            out["items"] = _structural(value, defs)
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    extra = node.get("additionalProperties")
    if "patternProperties" in node:
        ((key_pattern, extra),) = node["patternProperties"].items()
        max_key = node.get("propertyNames", {}).get("maxLength", 253)
        rule = f"self.all(k, k.size() <= {max_key} && k.matches({_cel_string(key_pattern)}))"
        out.setdefault("x-kubernetes-validations", []).append(
            {"rule": rule, "message": f"keys: {_KEY_RULES.get(key_pattern, 'must match the pattern')}"}
        )
    if isinstance(extra, dict):
        inner = _structural(extra, defs)
        if inner.get("x-kubernetes-preserve-unknown-fields"):
            out["x-kubernetes-preserve-unknown-fields"] = True
        else:
            out["additionalProperties"] = inner
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "required" in node:
        out["required"] = node["required"]
    return out


def _any_of(node: JSON, defs: dict[str, JSON]) -> JSON:
    options = [o for o in node["anyOf"] if o.get("type") != "null"]
    types = {o.get("type") for o in options}
    extra = {k: v for k, v in node.items() if k not in ("anyOf", "title", "default")}
    if types == {"integer", "string"}:
        # controller-gen's form for a Quantity: each member's bounds beside the marker (a pattern only
        # applies to a string, a minimum to a number).
        merged: JSON = {}
        for option in options:
            merged.update({k: v for k, v in option.items() if k not in ("type", "title")})
        return {**merged, **extra, "x-kubernetes-int-or-string": True}
    if len(options) != 1:
        raise ValueError(f"cannot express anyOf {node['anyOf']} structurally")
    return {**_structural(options[0], defs), **extra}


_KEY_RULES = {
    QUALIFIED_NAME_PATTERN: "must be qualified names (label keys)",
    ANNOTATION_KEY_PATTERN: "must be qualified names (annotation keys)",
}
_TERSE = {"affinity", "dnsConfig", "tolerations", "requests", "limits", "imagePullSecrets"}
"""Kubernetes' own types, embedded in every component: the field keeps its description, its insides
drop theirs (the CRD must stay well under etcd's 1.5 MiB object limit)."""


def _terse(node: JSON, inside: bool = False) -> JSON:
    out: JSON = {}
    for key, value in node.items():
        if key == "description" and inside:
            continue
        if key == "properties":
            value = {k: _terse(v, inside or k in _TERSE) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            value = _terse(value, inside)
        out[key] = value
    return out


def _cel_string(text: str) -> str:
    """A CEL string literal (raw, single-quoted) for a regular expression."""
    assert "'" not in text
    return f"r'{text}'"


def _moved(key: str, port: catalog.ServicePort) -> str:
    """CEL for a Service port as rendered: its ServiceSpec's nodePort when set (not 0), else the catalog's."""
    if not (port.node_port and port.movable):
        return str(port.port)
    node = f"self.{key}.{port.spec_field}"
    return f"(has({node}) && has({node}.nodePort) && {node}.nodePort != 0 ? {node}.nodePort : {port.port})"


def service_port_rules() -> list[JSON]:
    """A Service cannot list one port twice, nodePorts or not (``internalOnly`` drops only the nodePorts):
    one rule per pair of ports of a catalog Service that the spec can move onto each other. The planner
    refuses the same (``planner.check_node_ports``) for ``plan`` and the reconciler."""
    rules: list[JSON] = []
    for comp in catalog.COMPONENTS:
        key = comp.own_spec_key
        for service in comp.services:
            for a, b in itertools.combinations(service.ports, 2):
                first, second = _moved(key, a), _moved(key, b)
                if first.isdigit() and second.isdigit():
                    continue
                moved = a if not first.isdigit() else b
                other = b if moved is a else a
                rules.append(
                    {
                        "rule": f"!has(self.{key}) || {first} != {second}",
                        "message": f"Duplicate value: {moved.spec_field}.nodePort would give Service "
                        f"ports {moved.name} and {other.name} the same number",
                        "fieldPath": f".{key}.{moved.spec_field}.nodePort",
                    }
                )
    return rules


def _schema_of(model: type[OnecloudClusterSpec] | type[OnecloudClusterStatus]) -> JSON:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _terse(_structural(raw, raw.get("$defs", {})))
    return schema if model is OnecloudClusterSpec else _without_min_length(schema)


def _without_min_length(node: JSON) -> JSON:
    """Status strings are the operator's own, where ``""`` is a value, not unset: no minLength there."""
    out: JSON = {}
    for key, value in node.items():
        if key == "minLength":
            continue
        if key == "properties":
            value = {k: _without_min_length(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            value = _without_min_length(value)
        out[key] = value
    return out


def build_crd() -> JSON:
    """The whole CustomResourceDefinition as a dict, the same on every call.

    Model docstrings become the schema's descriptions (what ``kubectl explain`` shows), except spec's and
    status's, written here. The name rules are CEL at the root, so ``metadata`` stays a plain object.
    """
    spec = _schema_of(OnecloudClusterSpec)
    spec["description"] = "The Cloudpods cluster to run; JSON keys as the reference operator's."
    spec["x-kubernetes-validations"] = [*spec.get("x-kubernetes-validations", []), *service_port_rules()]
    status = _schema_of(OnecloudClusterStatus)
    status["description"] = "Written by the operator only, through the status subresource."
    root: JSON = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.size() <= {MAX_CLUSTER_NAME}",
                "message": f"name must be at most {MAX_CLUSTER_NAME} characters: objects are named "
                "<name>-<component> and Service names are limited to 63",
            },
            {
                "rule": "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
                "message": "name must start with a letter: it prefixes Service names (DNS-1035 labels)",
            },
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": CLUSTER_KIND,
                "listKind": "OnecloudClusterList",
                "plural": PLURAL,
                "singular": "onecloudcluster",
                "shortNames": ["onecloud", "oc"],
                "categories": ["cloudpods"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _printer_columns(),
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def _printer_columns() -> list[JSON]:
    ready = '.status.conditions[?(@.type=="Ready")]'
    return [
        {
            "name": "Keystone",
            "type": "string",
            "jsonPath": ".status.components.keystone.image",
            "description": "The image keystone runs (read from status: the operator never writes the spec)",
        },
        {"name": "Version", "type": "string", "jsonPath": ".status.version"},
        {"name": "Ready", "type": "string", "jsonPath": f"{ready}.status"},
        {"name": "Reason", "type": "string", "jsonPath": f"{ready}.reason", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def render_yaml() -> str:
    """The CRD as committed: a do-not-edit header, then keys in schema order (not sorted)."""
    header = "# Generated by `cloudpods-operator crd` from src/cloudpods_operator/model.py: do not edit.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


def crd_paths(root: Path) -> list[Path]:
    """Both committed copies, the plain ``crd/`` one and the Helm chart's, under the project ``root``."""
    return [root / "crd" / CRD_FILE, root / "charts" / "cloudpods-operator" / "crds" / CRD_FILE]
