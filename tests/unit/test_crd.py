"""The generated CRD: committed copies up to date, a structural schema, and what users and kubectl rely on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
import yaml
from reference_table import NESTED_REFERENCE_KEYS, REFERENCE_SPEC_KEYS
from repo_paths import REPO

from cloudpods_operator import crdgen
from cloudpods_operator.model import (
    IMAGE_NAME_PATTERN,
    IMAGE_PATTERN,
    REPOSITORY_PATTERN,
    TAG_PATTERN,
    OnecloudClusterStatus,
)

CRD = crdgen.build_crd()
VERSION = CRD["spec"]["versions"][0]
SCHEMA: dict[str, Any] = VERSION["schema"]["openAPIV3Schema"]
SPEC: dict[str, Any] = SCHEMA["properties"]["spec"]


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


NODES = list(walk(SCHEMA))
BY_PATH = dict(NODES)
SPEC_NODES = [(p, n) for p, n in NODES if p.startswith(".spec")]


# ---- the committed files -------------------------------------------------------------------------


@cache
def rendered() -> str:
    return crdgen.render_yaml()


@pytest.mark.parametrize(
    "path",
    [
        "crd/onecloudclusters.onecloud.yunion.io.yaml",
        "charts/cloudpods-operator/crds/onecloudclusters.onecloud.yunion.io.yaml",
    ],
)
def test_committed_crd_is_up_to_date(path: str) -> None:
    committed = (REPO / path).read_text()
    assert committed == rendered(), f"{path} is stale: run `make crd` and commit the result"


def test_crd_paths_are_the_committed_ones() -> None:
    assert [p.relative_to(REPO).as_posix() for p in crdgen.crd_paths(REPO)] == [
        "crd/onecloudclusters.onecloud.yunion.io.yaml",
        "charts/cloudpods-operator/crds/onecloudclusters.onecloud.yunion.io.yaml",
    ]


def test_rendered_yaml_is_the_built_crd() -> None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert yaml.load(rendered(), Loader=loader) == CRD


# ---- identity ----------------------------------------------------------------------------------


def test_identity() -> None:
    assert CRD["apiVersion"] == "apiextensions.k8s.io/v1"
    assert CRD["kind"] == "CustomResourceDefinition"
    assert CRD["metadata"]["name"] == "onecloudclusters.onecloud.yunion.io"
    spec = CRD["spec"]
    assert spec["group"] == "onecloud.yunion.io"
    assert spec["scope"] == "Namespaced"
    names = spec["names"]
    assert names["kind"] == "OnecloudCluster"
    assert names["plural"] == "onecloudclusters"
    assert names["singular"] == "onecloudcluster"
    assert set(names["shortNames"]) >= {"oc", "onecloud"}
    assert [v["name"] for v in spec["versions"]] == ["v1alpha1"]
    assert VERSION["served"] is True and VERSION["storage"] is True


def test_status_subresource() -> None:
    assert VERSION["subresources"] == {"status": {}}
    assert "status" in SCHEMA["properties"]


def test_printer_columns() -> None:
    columns = {c["name"]: c for c in VERSION["additionalPrinterColumns"]}
    assert columns["Keystone"]["jsonPath"] == ".status.components.keystone.image"
    assert columns["Keystone"]["type"] == "string"
    assert {"Version", "Ready", "Age"} <= set(columns)
    assert columns["Age"] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    assert columns["Ready"]["jsonPath"].startswith(".status.conditions[")
    assert VERSION["additionalPrinterColumns"][0]["name"] == "Keystone"


# ---- structural schema ---------------------------------------------------------------------------

FORBIDDEN = ("$ref", "anyOf", "allOf", "oneOf", "not", "nullable", "default", "definitions", "$defs")


@pytest.mark.parametrize("key", FORBIDDEN)
def test_no_non_structural_keywords(key: str) -> None:
    assert [p for p, n in NODES if key in n] == []


def test_every_node_is_typed() -> None:
    untyped = [
        p
        for p, n in NODES
        if "type" not in n
        and not n.get("x-kubernetes-int-or-string")
        and not n.get("x-kubernetes-preserve-unknown-fields")
    ]
    assert untyped == []


def test_no_closed_objects_and_no_mixed_properties() -> None:
    assert [p for p, n in NODES if n.get("additionalProperties") is False] == []
    assert [p for p, n in NODES if "additionalProperties" in n and "properties" in n] == []


def test_arrays_have_items_and_map_lists_have_required_keys() -> None:
    for path, node in NODES:
        if node.get("type") == "array":
            assert isinstance(node.get("items"), dict), path
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", [])), path


def test_int_or_string_nodes_carry_no_type() -> None:
    for path, node in NODES:
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path


PRESERVE_ALLOWED = re.compile(r"^\.spec\.(?:etcd\.(?:pod|TLS)|monitorStack\.[a-z]+)$")


def test_unknown_fields_are_kept_only_where_the_reference_keeps_free_form_json() -> None:
    """affinity and dnsConfig are typed (corev1.Affinity, PodDNSConfig): unknown keys there are refused."""
    preserved = [p for p, n in NODES if n.get("x-kubernetes-preserve-unknown-fields")]
    assert [p for p in preserved if not PRESERVE_ALLOWED.match(p)] == []
    assert {".spec.etcd.pod", ".spec.etcd.TLS", ".spec.monitorStack.grafana"} <= set(preserved)
    for path in (".spec.keystone.affinity", ".spec.regionServer.dnsConfig", ".spec.hostagent.affinity"):
        assert "properties" in BY_PATH[path], path
    for path in preserved:
        assert BY_PATH[path].get("type") == "object", path


def test_root_metadata_is_a_plain_object() -> None:
    assert SCHEMA["properties"]["metadata"] == {"type": "object"}
    assert SCHEMA["type"] == "object"


# ---- constraints users rely on ---------------------------------------------------------------------


def _named(key: str) -> list[tuple[str, dict[str, Any]]]:
    return [(p, n) for p, n in SPEC_NODES if p.rsplit(".", 1)[-1] == key]


def test_replicas_minimum_zero() -> None:
    replicas = _named("replicas")
    assert len(replicas) > 30
    for path, node in replicas:
        assert node["type"] == "integer" and node["minimum"] == 0, path
    for path, node in _named("slave_replicas"):
        assert node["minimum"] == 0, path


def test_image_pull_policy_enum() -> None:
    policies = _named("imagePullPolicy")
    assert len(policies) > 50
    for path, node in policies:
        assert node["type"] == "string", path
        assert sorted(node["enum"]) == ["", "Always", "IfNotPresent", "Never"], (
            path
        )  # "": unset, as Go writes it


def test_product_version_enum() -> None:
    assert SPEC["properties"]["productVersion"]["enum"] == ["FullStack", "CMP", "Edge", "LightEdge", "AI", ""]


PATTERNS = {
    "repository": REPOSITORY_PATTERN,
    "imageRepository": REPOSITORY_PATTERN,
    "imageName": IMAGE_NAME_PATTERN,
    "tag": TAG_PATTERN,
    "image": IMAGE_PATTERN,
    "initContainerImage": IMAGE_PATTERN,
}


@pytest.mark.parametrize(("key", "pattern"), PATTERNS.items())
def test_image_fields_carry_the_model_patterns(key: str, pattern: str) -> None:
    nodes = _named(key)
    assert nodes
    # "" also passes: the Go operator's defaulting writes it for every string it leaves unset.
    for path, node in nodes:
        assert node.get("pattern") == f"^$|{pattern}", path
    assert SPEC["properties"]["version"]["pattern"] == f"^$|{TAG_PATTERN}"
    assert SPEC["properties"]["etcd"]["properties"]["version"]["pattern"] == f"^$|{TAG_PATTERN}"


# Constructs Go's RE2 (the API server's regex engine) does not support.
RE2_UNSUPPORTED = re.compile(r"\(\?[=!<>]|\(\?<[=!]|\\[1-9]|[*+?}]\+|\\[ACGZ]")

SCHEMA_PATTERNS = sorted({n["pattern"] for _, n in NODES if "pattern" in n})


@pytest.mark.parametrize("pattern", SCHEMA_PATTERNS)
def test_patterns_are_go_compatible(pattern: str) -> None:
    re.compile(pattern)
    assert not RE2_UNSUPPORTED.search(pattern), pattern
    assert pattern.startswith("^") and pattern.endswith("$")
    for count in re.findall(r"\{(\d+)(?:,(\d+))?\}", pattern):
        assert all(int(c) <= 1000 for c in count if c), pattern


ACCEPTED = {
    REPOSITORY_PATTERN: ["registry.cn-beijing.aliyuncs.com/zexi", "192.168.0.1:5000/yunionio", "localhost"],
    TAG_PATTERN: ["archdev-v36", "lzx-dev", "v3.11.5", "2.12.4-20260415", "release-1.36.4-6"],
    IMAGE_NAME_PATTERN: ["region", "cloudpods-ee", "telegraf-raid-plugin", "a/b"],
    IMAGE_PATTERN: [
        "192.168.0.1:5000/yunionio/region:lzx-dev",
        "registry.cn-beijing.aliyuncs.com/yunionio/etcd:3.5.12",
    ],
}
REFUSED = {
    REPOSITORY_PATTERN: ["", "Registry/UPPER", "r.io/x/", "https://r.io", "r.io//x"],
    TAG_PATTERN: ["", "-x", "a:b", "a/b", "x" * 129],
    IMAGE_NAME_PATTERN: ["", "Region", "a:b", "/a", "a/"],
    IMAGE_PATTERN: ["", "no spaces/x:y", "r.io/x:", "r.io/X:y"],
}


@pytest.mark.parametrize("pattern", list(ACCEPTED))
def test_patterns_accept_and_refuse(pattern: str) -> None:
    for value in ACCEPTED[pattern]:
        assert re.search(pattern, value), value
    for value in REFUSED[pattern]:
        assert not re.search(pattern, value), value


def test_cel_rules_on_spec() -> None:
    rules = SPEC["x-kubernetes-validations"]
    assert isinstance(rules, list) and rules
    for rule in rules:
        assert rule["rule"] and rule["message"]
    assert any("LightEdge" in r["rule"] and "disableLocalVpc" in r["rule"] for r in rules)


# ---- every reference key is in the schema ----------------------------------------------------------


def _has(path: str) -> bool:
    node: dict[str, Any] = SPEC
    for key in path.split("."):
        props = node.get("properties", {})
        if key not in props:
            return False
        node = props[key]
    return True


def test_reference_spec_keys_in_schema() -> None:
    missing = [k for k in REFERENCE_SPEC_KEYS if not _has(k)]
    assert missing in ([], ["s3gateway"])  # s3gateway: test_reference_s3gateway_key_in_schema


def test_reference_s3gateway_key_in_schema() -> None:
    assert _has("s3gateway")


def test_nested_reference_keys_in_schema() -> None:
    assert [k for k in NESTED_REFERENCE_KEYS if not _has(k)] == []


def test_our_status_fields_do_not_collide_with_the_go_operators() -> None:
    """The Go operator's status holds one object per component (``keystone``, ``region`` ...): a field of
    ours under such a name with another type would make the API server drop a taken-over CR's
    managedFields (its typed conversion fails), as ``status.keystone`` once did."""
    docs = [d for d in yaml.safe_load_all((REPO / "tests/fixtures/go_cluster/default.yaml").read_text()) if d]
    go = next(d for d in docs if d.get("kind") == "OnecloudCluster" and d.get("status"))["status"]
    ours = {f.alias or name for name, f in OnecloudClusterStatus.model_fields.items()}
    assert ours & set(go) == {"specChecksum"}
