"""The hostile-input sweep's files: generated (seeded) and hand-written OnecloudClusters, and a valid set.

Shared by ``tests/unit/test_hostile.py`` (every file through ``plan``) and
``tests/integration/test_hostile.py`` (the CRD and a server-side dry-run of what ``plan`` accepts).

- ``wrong-type``: one wrong-typed value at EVERY leaf path of the generated CRD schema (so a new field
  is covered the day it is added), chosen by a seeded generator from the values of the wrong types;
- ``k8s-*``: values the API server refuses at every Kubernetes-typed field kind (quantities,
  tolerations, affinity, dnsConfig, nodeSelector, annotations, storageClassName, nodePorts, int32
  bounds, zone names, images, imagePullSecrets), each at a few seeded paths that have the field;
- ``yaml``, ``semantic``, ``huge``, ``unicode``: hand-written (alias bombs, nesting, duplicate keys, NaN,
  binary, multi-document, cross-field rules, 1 MB strings);
- ``valid``: the example CRs (this repository's, the Go operator's two, the takeover fixture's) and a
  non-trivial valid value at every Kubernetes-typed field kind: what must pass every stage.

Files are JSON (a subset of YAML: it can carry 2**80 and exact keys) unless YAML itself is the point.
"""

from __future__ import annotations

import functools
import json
import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cloudpods_operator import crdgen

SEED = 17
REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hostile"
HEAD: dict[str, Any] = {
    "apiVersion": "onecloud.yunion.io/v1alpha1",
    "kind": "OnecloudCluster",
    "metadata": {"name": "default"},
}
HEAD_YAML = "apiVersion: onecloud.yunion.io/v1alpha1\nkind: OnecloudCluster\nmetadata:\n  name: default\n"

INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Case:
    """One file of the sweep: ``valid`` ones must pass plan, the CRD and the dry-run."""

    name: str
    category: str
    data: bytes
    valid: bool = False


@dataclass(frozen=True)
class Leaf:
    """A leaf of the CRD's spec schema: its path (``[0]`` for an array item) and its schema node."""

    path: tuple[str, ...]
    schema: dict[str, Any]

    @property
    def kind(self) -> str:
        if self.schema.get("x-kubernetes-int-or-string"):
            return "int-or-string"
        return str(self.schema.get("type", "object"))


@functools.cache
def spec_leaves() -> list[Leaf]:
    """Every leaf path under ``spec`` of the generated CRD, arrays of objects walked into."""
    crd = crdgen.build_crd()
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    leaves: list[Leaf] = []

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> None:
        if node.get("type") == "object" and node.get("properties"):
            for key, child in node["properties"].items():
                walk(child, (*path, key))
            return
        leaves.append(Leaf(path, node))
        items = node.get("items") or {}
        if node.get("type") == "array" and items.get("type") == "object" and items.get("properties"):
            walk(items, (*path, "[0]"))

    walk(spec, ())
    return leaves


def nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``{"a": {"b": [ {"c": value} ]}}`` for the path ``a.b.[0].c``."""
    node: Any = value
    for key in reversed(path):
        node = [node] if key == "[0]" else {key: node}
    assert isinstance(node, dict)
    return node


def cluster(spec: Any, **metadata: Any) -> bytes:
    doc = {**HEAD, "metadata": {**HEAD["metadata"], **metadata}, "spec": spec}
    return json.dumps(doc, ensure_ascii=False).encode()


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = (
            _deep_merge(out[key], value)
            if isinstance(out.get(key), dict) and isinstance(value, dict)
            else value
        )
    return out


def spec_at(paths: list[tuple[str, ...]], value: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in paths:
        merged = _deep_merge(merged, nest(path, value))
    return merged


# ---- wrong types at every path -------------------------------------------------------------------

WRONG: dict[str, list[Any]] = {
    "integer": ["7", True, 7.5, "seven", [], {}, 2**80, -(2**63) - 1],
    "boolean": ["yes", 1, "true", "on", 0, [], {}],
    "string": [7, True, [], {}, 1.5, ["a"]],
    "int-or-string": [True, [], {}, 1.5, "lots", "1Gi ", -1],
    "number": ["x", True, []],
    "object": ["yes please", [], 5, True],
    "array": ["a string", {}, 5, [7], [[]]],
}


def _out_of_bounds(leaf: Leaf) -> list[Any]:
    """Values just past the schema's own bounds, patterns and lengths."""
    schema = leaf.schema
    values: list[Any] = []
    if "minimum" in schema:
        values.append(int(schema["minimum"]) - 1)
    if "maximum" in schema:
        values.append(int(schema["maximum"]) + 1)
    if "maxLength" in schema:
        values.append("a" * (int(schema["maxLength"]) + 1))
    if "enum" in schema:
        values.append("NotOneOfThem")
    return values


def wrong_type_cases(rng: random.Random) -> Iterator[Case]:
    """One wrong-typed value at every leaf, and one out-of-bounds value where the schema has bounds."""
    for leaf in spec_leaves():
        dotted = ".".join(leaf.path)
        value = rng.choice(WRONG.get(leaf.kind, WRONG["object"]))
        yield Case(f"wrong-type/{dotted}", "wrong-type", cluster(nest(leaf.path, value)))
        bounds = _out_of_bounds(leaf)
        if bounds:
            yield Case(f"bounds/{dotted}", "bounds", cluster(nest(leaf.path, rng.choice(bounds))))


# ---- Kubernetes-typed fields: what the API server refuses, and what it accepts ------------------------

BAD_K8S: dict[str, list[tuple[str, Any]]] = {
    "quantity": [
        ("trailing-space", "1Gi "),
        ("negative", -1),
        ("negative-string", "-1"),
        ("word", "lots"),
        ("two-dots", "1.5.5"),
        ("unit-only", "Gi"),
        ("nan-string", "NaN"),
        ("too-large", "99999999999999999999999Ei"),
    ],
    "storage": [("word", "big"), ("negative", "-1Gi"), ("space", "10 Gi"), ("int", -5)],
    "tolerations": [
        ("exists-with-value", [{"key": "k", "operator": "Exists", "value": "v"}]),
        (
            "seconds-without-noexecute",
            [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}],
        ),
        ("equal-without-key", [{"operator": "Equal", "value": "v"}]),
        ("bad-key", [{"key": "bad key!", "operator": "Exists"}]),
        (
            "huge-seconds",
            [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2**80}],
        ),
        ("long-key", [{"key": "k" * 317, "operator": "Exists"}]),
        ("bad-value", [{"key": "k", "operator": "Equal", "value": "bad value!"}]),
    ],
    "affinity": [
        ("string", {"nodeAffinity": "yes please"}),
        (
            "unknown-key",
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]
                    },
                    "bogus": 1,
                }
            },
        ),
        ("top-unknown", {"catAffinity": {}}),
        (
            "no-terms",
            {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
        ),
        (
            "in-without-values",
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "In"}]}]
                    }
                }
            },
        ),
        (
            "weight-1000",
            {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1000,
                            "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
                        }
                    ]
                }
            },
        ),
        (
            "no-topology-key",
            {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"a": "b"}}}
                    ]
                }
            },
        ),
        (
            "bad-operator",
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Maybe"}]}]
                    }
                }
            },
        ),
        ("list", [1, 2]),
    ],
    "dnsConfig": [
        ("bad-nameserver", {"nameservers": ["not-an-ip"]}),
        ("four-nameservers", {"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"]}),
        ("bad-search", {"searches": ["Bad Domain!"]}),
        ("options-string", {"options": "ndots:5"}),
        ("unknown-key", {"resolvers": ["1.1.1.1"]}),
        ("option-without-name", {"options": [{"value": "5"}]}),
    ],
    "nodeSelector": [
        ("bad-key", {"bad key!": "v"}),
        ("bad-value", {"k": "bad value!"}),
        ("long-value", {"k": "v" * 64}),
        ("empty-key", {"": "v"}),
        ("prefix-only", {"kubernetes.io/": "v"}),
        ("int-value", {"k": 5}),
    ],
    "annotations": [
        ("bad-key", {"bad key": "v"}),
        ("prefix-only", {"kubernetes.io/": "v"}),
        ("two-slashes", {"a/b/c": "v"}),
        ("over-256KiB", {"example.com/big": "x" * (257 * 1024)}),
        ("int-value", {"k": 5}),
    ],
    "storageClassName": [
        ("space", "Bad Class"),
        ("upper", "UPPER"),
        ("long", "s" * 300),
        ("underscore", "a_b"),
    ],
    "nodePort": [
        ("below-range", 29999),
        ("above-range", 32768),
        ("zero", 0),
        ("negative", -1),
        ("over-65535", 65536),
    ],
    "int32": [("2**31", 2**31), ("2**63", 2**63), ("negative", -1)],
    "zones": [
        ("upper", ["UPPER"]),
        ("space", ["with space"]),
        ("long", ["z" * 250]),
        ("empty", [""]),
        ("duplicate", ["zone-a", "zone-a"]),
        ("underscore", ["zone_a"]),
    ],
    "repository": [
        ("upper-path", "UPPER/case"),
        ("upper-host-path", "registry.example.com/UPPER"),
        ("trailing-slash", "registry.example.com/"),
        ("space", "registry example.com/x"),
        ("long", "r" * 300),
    ],
    "tag": [("colon", ":latest"), ("long", "t" * 200), ("space", "v 1"), ("leading-dot", ".v1")],
    "imageName": [("upper", "UPPER"), ("slash-end", "name/"), ("space", "a b")],
    "image": [("words", "not an image"), ("upper", "Registry/UPPER:v1"), ("empty-tag", "repo/name:")],
    "imagePullSecrets": [
        ("bad-name", [{"name": "Bad Name"}]),
        ("empty-name", [{"name": ""}]),
        ("string", ["x"]),
    ],
}
"""Values the API server refuses, by field kind; each goes to a few seeded paths that have the field."""

GOOD_K8S: dict[str, Any] = {
    "quantity": None,  # requests/limits, set as a pair below (requests below limits)
    "storage": "10Gi",
    "tolerations": [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
        {
            "key": "example.com/dedicated",
            "operator": "Equal",
            "value": "cloud",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
        {"operator": "Exists"},
    ],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "onecloud.yunion.io/controller", "operator": "In", "values": ["enable"]}
                        ]
                    }
                ]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "preference": {
                        "matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}]
                    },
                }
            ],
        },
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app": "x"}},
                    },
                }
            ]
        },
    },
    "dnsConfig": {
        "nameservers": ["10.0.0.53", "fd00::53"],
        "searches": ["cloud.example.com"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    },
    "nodeSelector": {"kubernetes.io/os": "linux", "example.com/tier": "control_plane.1"},
    "annotations": {"example.com/owner": "team a", "note": "x" * 1000},
    "storageClassName": "local-path.ssd-1",
    "int32": INT32_MAX,
    "repository": "registry.example.com:5000/yunion-io/sub_path",
    "tag": "v3.11.5-rc.1_build.7",
    "imageName": "region-custom",
    "image": "registry.example.com:5000/yunion/region:v3.11.5",
    "imagePullSecrets": [{"name": "registry-creds"}],
}
"""A non-trivial valid value per field kind; every one must pass plan, the CRD and the dry-run."""

_FIELD_OF = {
    "storage": ("requests", "storage"),
    "tolerations": ("tolerations",),
    "affinity": ("affinity",),
    "dnsConfig": ("dnsConfig",),
    "nodeSelector": ("nodeSelector",),
    "annotations": ("annotations",),
    "storageClassName": ("storageClassName",),
    "repository": ("repository",),
    "tag": ("tag",),
    "imageName": ("imageName",),
    "image": ("image",),
    "imagePullSecrets": ("imagePullSecrets",),
}
INT32_FIELDS = (
    "replicas",
    "maxUnavailable",
    "maxUnavailableCount",
    "cache_ttl",
    "CloudmonPingDuration",
    "rententionPeriodDays",
)


def paths_ending(leaves: list[Leaf], suffix: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The component paths (without ``suffix``) that have ``suffix`` (e.g. ``("requests", "cpu")``)."""
    return sorted({leaf.path[: -len(suffix)] for leaf in leaves if leaf.path[-len(suffix) :] == suffix})


def paths_with(leaves: list[Leaf], field: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The component paths that have ``field``, a leaf or a typed object (affinity's leaves lie below it)."""
    found = set()
    for leaf in leaves:
        for i in range(len(leaf.path) - len(field) + 1):
            if leaf.path[i : i + len(field)] == field:
                found.add(leaf.path[:i])
                break
    return sorted(found)


def _enabled(path: tuple[str, ...]) -> dict[str, Any]:
    """Optional components are disabled by default: a bad value there must still be seen."""
    has_disable = any(leaf.path == (*path, "disable") for leaf in spec_leaves())
    return nest(path, {"disable": False}) if len(path) == 1 and has_disable else {}


def k8s_cases(rng: random.Random) -> Iterator[Case]:
    """Each refused value at two seeded paths that have the field (enabled), and the valid value at all."""
    leaves = spec_leaves()
    for kind, values in BAD_K8S.items():
        for label, value in values:
            for path, suffix in _targets(leaves, kind, rng, 2):
                spec = _deep_merge(_enabled(path), nest((*path, *suffix), value))
                where = ".".join((*path, *suffix))
                yield Case(f"k8s-{kind}/{label}@{where}", f"k8s-{kind}", cluster(spec))
    # requests above limits, and a pair of valid ones
    for path in rng.sample(paths_ending(leaves, ("requests", "cpu")), 2):
        spec = _deep_merge(
            _enabled(path),
            nest(path, {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
        )
        yield Case(f"k8s-quantity/requests-above-limits@{'.'.join(path)}", "k8s-quantity", cluster(spec))


def _targets(
    leaves: list[Leaf], kind: str, rng: random.Random, count: int
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """``count`` seeded (component path, field suffix) pairs for a field kind."""
    pairs: list[tuple[tuple[str, ...], tuple[str, ...]]]
    if kind == "quantity":
        suffixes: list[tuple[str, ...]] = [("requests", "cpu"), ("limits", "memory")]
        pairs = [(p, s) for s in suffixes for p in paths_ending(leaves, s)]
    elif kind == "nodePort":
        pairs = [(p, ("nodePort",)) for p in paths_ending(leaves, ("nodePort",))]
        pairs += [(p, ("clientNodePort",)) for p in paths_ending(leaves, ("clientNodePort",))]
    elif kind == "int32":
        pairs = [(p, (f,)) for f in INT32_FIELDS for p in paths_ending(leaves, (f,))]
    elif kind == "zones":
        pairs = [((), ("customZones",))] + [(p, ("zones",)) for p in paths_ending(leaves, ("zones",))]
    else:
        suffix = _FIELD_OF[kind]
        pairs = [(p, suffix) for p in paths_with(leaves, suffix)]
    pairs = [p for p in pairs if p[0] or kind in ("zones", "repository", "tag")]
    if kind in ("repository", "tag"):  # the spec-wide ones too
        pairs.append(((), ("imageRepository",) if kind == "repository" else ("version",)))
    return rng.sample(pairs, min(count, len(pairs)))


def valid_k8s_cases(rng: random.Random) -> Iterator[Case]:
    """The valid value of each field kind at two seeded paths, enabled; plus requests below limits."""
    leaves = spec_leaves()
    for kind, value in GOOD_K8S.items():
        if value is None:
            continue
        for path, suffix in _targets(leaves, kind, rng, 2):
            spec = _deep_merge(_enabled(path), nest((*path, *suffix), value))
            where = ".".join((*path, *suffix))
            yield Case(f"valid/{kind}@{where}", "valid", cluster(spec), valid=True)
    for path in rng.sample(paths_ending(leaves, ("requests", "cpu")), 3):
        amounts = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": 2, "memory": "1.5Gi"}}
        yield Case(
            f"valid/quantity@{'.'.join(path)}",
            "valid",
            cluster(_deep_merge(_enabled(path), nest(path, amounts))),
            valid=True,
        )
    ports = {"keystone": {"publicService": {"nodePort": 30123}, "adminService": {"nodePort": 30124}}}
    yield Case("valid/nodePorts", "valid", cluster(ports), valid=True)
    yield Case(
        "valid/ovnNorth-nodePort",
        "valid",
        cluster({"ovnNorth": {"service": {"nodePort": 30642}}}),
        valid=True,
    )
    yield Case(
        "valid/zones", "valid", cluster({"zone": "zone-a", "customZones": ["zone-b", "zone-c1"]}), valid=True
    )
    yield Case(
        "valid/esxi-zones",
        "valid",
        cluster(
            {
                "esxiagent": {"disable": False, "zones": ["zone-a", "zone-b"]},
                "customZones": ["zone-a", "zone-b"],
            }
        ),
        valid=True,
    )
    yield Case(
        "valid/maxUnavailableCount", "valid", cluster({"hostagent": {"maxUnavailableCount": 3}}), valid=True
    )
    yield Case(
        "valid/annotations-on-cluster",
        "valid",
        cluster({}, annotations={"onecloud.yunion.io/edition": "ee", "example.com/x": "y"}),
        valid=True,
    )


def example_cases() -> Iterator[Case]:
    """This repository's example, the Go operator's two (whole files, other kinds included) and the
    takeover fixture's OnecloudClusters (the user's manifest and the spec the Go operator defaulted)."""
    yield Case(
        "valid/examples-onecloudcluster",
        "valid",
        (REPO / "examples" / "onecloudcluster.yaml").read_bytes(),
        valid=True,
    )
    for path in sorted(FIXTURES.glob("go-*.yaml")):
        yield Case(f"valid/{path.stem}", "valid", path.read_bytes(), valid=True)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = (REPO / "tests" / "fixtures" / "go_cluster" / "default.yaml").read_text()
    docs = [
        d
        for d in yaml.load_all(text, Loader=loader)
        if isinstance(d, dict) and d.get("kind") == "OnecloudCluster"
    ]
    for index, doc in enumerate(docs):
        doc.pop("status", None)
        yield Case(f"valid/takeover-cr-{index + 1}", "valid", json.dumps(doc).encode(), valid=True)


# ---- hand-written -------------------------------------------------------------------------------------


def alias_bomb(levels: int, fan: int = 10) -> list[str]:
    """Lines of ``levels`` anchors, each a list of ``fan`` aliases of the one before (fan**levels leaves)."""
    lines = ["a0: &a0 [" + ", ".join(["x"] * fan) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels)]
    return lines


def _under(path: tuple[str, ...], body_lines: list[str]) -> bytes:
    """YAML with ``body_lines`` as the mapping at ``spec.<path>``."""
    text = HEAD_YAML + "spec:\n"
    for depth, key in enumerate(path):
        text += "  " * (depth + 1) + key + ":\n"
    text += "".join("  " * (len(path) + 1) + line + "\n" for line in body_lines)
    return text.encode()


BOMB_PLACES = [
    ("keystone", "affinity"),
    ("regionServer", "dnsConfig"),
    ("etcd", "pod"),
    ("monitorStack", "grafana"),
]


def yaml_cases() -> Iterator[Case]:
    for place in BOMB_PLACES:
        dotted = ".".join(place)
        yield Case(f"yaml/alias-bomb-9x10@{dotted}", "yaml", _under(place, alias_bomb(9)))
        yield Case(f"yaml/alias-bomb-7x10@{dotted}", "yaml", _under(place, alias_bomb(7)))
        yield Case(
            f"yaml/nested-500-flow@{dotted}", "yaml", _under(place, ["a: " + "{a: " * 500 + "1" + "}" * 500])
        )
        yield Case(
            f"yaml/nested-70-block@{dotted}",
            "yaml",
            _under(place, [("  " * i) + "a:" for i in range(70)] + ["  " * 70 + "b: 1"]),
        )
    yield Case(
        "yaml/nested-30000-seq", "yaml", (HEAD_YAML + "spec: " + "[" * 30000 + "]" * 30000 + "\n").encode()
    )
    yield Case(
        "yaml/duplicate-component",
        "yaml",
        (HEAD_YAML + "spec:\n  keystone: {}\n  keystone: {disable: true}\n").encode(),
    )
    yield Case(
        "yaml/duplicate-field",
        "yaml",
        (HEAD_YAML + "spec:\n  keystone:\n    replicas: 1\n    replicas: 2\n").encode(),
    )
    yield Case("yaml/duplicate-kind", "yaml", (HEAD_YAML + "kind: ConfigMap\n").encode())
    yield Case("yaml/nan-replicas", "yaml", (HEAD_YAML + "spec:\n  keystone:\n    replicas: .nan\n").encode())
    yield Case(
        "yaml/inf-in-affinity",
        "yaml",
        (HEAD_YAML + "spec:\n  keystone:\n    affinity: {weight: .inf}\n").encode(),
    )
    yield Case("yaml/binary-tag", "yaml", (HEAD_YAML + "spec:\n  version: !!binary djM=\n").encode())
    yield Case("yaml/python-tag", "yaml", (HEAD_YAML + "spec: !!python/object/apply:os.getcwd []\n").encode())
    yield Case("yaml/timestamp-version", "yaml", (HEAD_YAML + "spec:\n  version: 2024-01-01\n").encode())
    yield Case(
        "yaml/base60-replicas", "yaml", (HEAD_YAML + "spec:\n  keystone:\n    replicas: 1:20\n").encode()
    )
    yield Case(
        "yaml/int-key", "yaml", (HEAD_YAML + "spec:\n  keystone:\n    nodeSelector: {1: a}\n").encode()
    )
    yield Case("yaml/two-clusters", "yaml", (HEAD_YAML + "---\n" + HEAD_YAML).encode())
    yield Case("yaml/list-document", "yaml", b"- kind: OnecloudCluster\n")
    yield Case("yaml/scalar-document", "yaml", (HEAD_YAML + "---\njust text\n").encode())
    yield Case("yaml/configmap-only", "yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    yield Case("yaml/empty", "yaml", b"")
    yield Case("yaml/comments-only", "yaml", b"# nothing\n---\n# here\n")
    yield Case("yaml/invalid-utf8", "yaml", HEAD_YAML.encode() + b"spec:\n  region: r\xe9gion\n")
    yield Case("yaml/utf16", "yaml", HEAD_YAML.encode("utf-16"))
    yield Case("yaml/binary-garbage", "yaml", random.Random(SEED).randbytes(4096))
    yield Case("yaml/nul", "yaml", HEAD_YAML.encode() + b"spec:\n  region: a\x00b\n")
    yield Case("yaml/escape-sequence", "yaml", HEAD_YAML.encode() + b"spec:\n  region: \x1b[31mred\n")
    yield Case("yaml/tab-indent", "yaml", (HEAD_YAML + "spec:\n\tkeystone: {}\n").encode())
    yield Case("yaml/unclosed", "yaml", (HEAD_YAML + "spec: {keystone: [\n").encode())
    yield Case("yaml/undefined-alias", "yaml", (HEAD_YAML + "spec: *nope\n").encode())
    yield Case(
        "yaml/over-4MiB",
        "yaml",
        (HEAD_YAML + "spec:\n  bootstrap: '" + "x" * (4 * 1024 * 1024) + "'\n").encode(),
    )
    yield Case(
        "yaml/merge-key",
        "yaml",
        (HEAD_YAML + "base: &b {disable: true}\nspec:\n  keystone:\n    <<: *b\n").encode(),
    )


def semantic_cases() -> Iterator[Case]:
    """Cross-field rules, names, and values that are well typed but wrong."""
    spec_cases: list[tuple[str, Any]] = [
        ("lightedge-with-local-vpc", {"productVersion": "LightEdge", "disableLocalVpc": False}),
        (
            "keystone-public-equals-admin",
            {"keystone": {"publicService": {"nodePort": 30357}, "adminService": {"nodePort": 30357}}},
        ),
        (
            "keystone-public-on-admin-port-internal",
            {"keystone": {"publicService": {"nodePort": 30357}, "adminService": {"internalOnly": True}}},
        ),
        (
            "apigateway-api-on-ws-port-internal",
            {"apiGateway": {"apiService": {"nodePort": 30443}, "wsService": {"internalOnly": True}}},
        ),
        (
            "apigateway-api-equals-ws",
            {"apiGateway": {"apiService": {"nodePort": 30500}, "wsService": {"nodePort": 30500}}},
        ),
        ("ovnnorth-on-a-taken-port", {"ovnNorth": {"service": {"nodePort": 30888}}}),
        ("etcd-client-on-region-port", {"etcd": {"clientNodePort": 30888}}),
        ("etcd-repository-256-disabled", {"etcd": {"disable": True, "repository": "r" * 256}}),
        (
            "two-components-one-port",
            {"glance": {"service": {"nodePort": 30100}}, "logger": {"service": {"nodePort": 30100}}},
        ),
        ("unknown-product", {"productVersion": "Bogus"}),
        ("unknown-component", {"regionserver2": {}}),
        ("version-latest-colon", {"version": ":latest"}),
        ("image-repository-upper", {"imageRepository": "UPPER/case"}),
        ("region-unicode", {"region": "régión"}),
        ("zone-zero-width", {"zone": "zone\u200b0"}),
        ("zones-100000", {"customZones": [f"z{i}" for i in range(100_000)]}),
        ("zones-1000", {"customZones": [f"z{i}" for i in range(1000)]}),
        ("mysql-bad-host", {"mysql": {"host": "bad host!"}}),
        ("mysql-port-0", {"mysql": {"host": "db", "port": 0}}),
        ("mysql-secret-no-key", {"mysql": {"host": "db", "passwordSecret": {"name": "x"}}}),
        ("services-bad", {"services": [{"name": "Bad Name", "type": ""}]}),
        ("certsans-bad", {"certSANs": ["not a name!"]}),
        ("load-balancer-endpoint-words", {"loadBalancerEndpoint": "not an address"}),
        ("disable-string-true", {"keystone": {"disable": "true"}}),
        ("replicas-string", {"keystone": {"replicas": "7"}}),
        ("replicas-float", {"keystone": {"replicas": 7.0}}),
        ("replicas-bool", {"keystone": {"replicas": True}}),
        ("replicas-beyond-int64", {"keystone": {"replicas": 2**64}}),
        ("spec-is-a-list", []),
    ]
    for label, spec in spec_cases:
        yield Case(f"semantic/{label}", "semantic", cluster(spec))
    yield Case("semantic/name-upper", "semantic", cluster({}, name="Bad_Name"))
    yield Case("semantic/name-300", "semantic", cluster({}, name="n" * 300))
    yield Case("semantic/namespace-bad", "semantic", cluster({}, namespace="Bad NS"))
    yield Case(
        "semantic/edition-bogus", "semantic", cluster({}, annotations={"onecloud.yunion.io/edition": "bogus"})
    )
    yield Case(
        "semantic/wrong-apiversion",
        "semantic",
        json.dumps({**HEAD, "apiVersion": "onecloud.yunion.io/v9"}).encode(),
    )
    yield Case("semantic/metadata-string", "semantic", json.dumps({**HEAD, "metadata": "default"}).encode())


def huge_cases() -> Iterator[Case]:
    big = "x" * 1_000_000
    huge: list[tuple[str, dict[str, Any]]] = [
        ("bootstrap-password", {"keystone": {"bootstrapPassword": big}}),
        ("load-balancer-endpoint", {"loadBalancerEndpoint": big}),
        ("dns-domain", {"regionServer": {"dnsDomain": big}}),
        ("cors-hosts", {"apiGateway": {"corsHosts": [big]}}),
        ("grafana", {"monitorStack": {"grafana": {"adminPassword": big}}}),
        ("repository", {"regionServer": {"repository": big}}),
        ("version", {"version": big}),
    ]
    for label, spec in huge:
        yield Case(f"huge/{label}", "huge", cluster(spec))


def unicode_cases() -> Iterator[Case]:
    for label, text in [
        ("rtl", "\u202eevil"),
        ("emoji", "\U0001f600"),
        ("combining", "e\u0301"),
        ("bell", "a\u0007b"),
        ("surrogate-free-cjk", "区域"),
    ]:
        yield Case(f"unicode/region-{label}", "unicode", cluster({"region": text}))
        yield Case(
            f"unicode/nodeSelector-{label}", "unicode", cluster({"keystone": {"nodeSelector": {"k": text}}})
        )
        yield Case(
            f"unicode/annotation-{label}",
            "unicode",
            cluster({"keystone": {"annotations": {"example.com/k": text}}}),
            valid=label != "bell",
        )


def all_cases() -> list[Case]:
    """The whole sweep, in a fixed order; names are unique."""
    rng = random.Random(SEED)
    cases = [
        *wrong_type_cases(rng),
        *k8s_cases(rng),
        *valid_k8s_cases(rng),
        *example_cases(),
        *yaml_cases(),
        *semantic_cases(),
        *huge_cases(),
        *unicode_cases(),
    ]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


# ---- running plan over the files, in a worker process with a per-file deadline ---------------------------

PER_FILE_SECONDS = 10.0
"""A file whose plan takes longer is a hang (the example plans in about 15 ms)."""
WORKER_MEMORY = 3 * 1024**3
"""The worker's address-space limit: an expansion that runs away ends in MemoryError, not in swap."""


@dataclass
class PlanResult:
    """What ``plan`` did with one file; ``doc`` and ``objects`` only when bodies were asked for."""

    name: str
    code: int | None = None
    err: str = ""
    seconds: float = 0.0
    uncaught: str | None = None
    hang: bool = False
    crash: str | None = None
    doc: dict[str, Any] | None = None
    objects: list[list[str]] | None = None
    bad_images: list[str] | None = None
    """``container: image: reason`` for each planned image the container runtime cannot pull."""
    bodies_error: str | None = None
    """Why the worker, after its verdict, sent no ``doc`` and ``objects`` (stage 2 fails the file): not
    plan's contract, so not a ``problem``, and the verdict's deadline does not include that work."""

    @property
    def accepted(self) -> bool:
        return self.code == 0 and self.problem is None

    @property
    def problem(self) -> str | None:
        """Why this run breaks the CLI's contract (a hang, a traceback, not one line), else None."""
        if self.hang:
            return f"hang: no result within {PER_FILE_SECONDS:g}s"
        if self.crash is not None:
            return f"crash: {self.crash}"
        if self.uncaught is not None:
            return f"traceback: {self.uncaught}"
        lines = self.err.splitlines()
        if "Traceback" in self.err:
            return "traceback: " + (lines[-1] if lines else "")
        if self.code == 0:
            return None
        if self.code != 2:
            return f"exit {self.code}: {first_line(self.err)}"
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return f"not one error line ({len(lines)} lines): {first_line(self.err)}"
        return None


_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)


def kubelet_refuses(image: str) -> str | None:
    """Why the container runtime cannot pull ``image`` (distribution's ParseNormalizedNamed, written anew
    from its grammar, not from the model's patterns under test), else None.

    The first component is a registry when it has a ``.`` or ``:``, is ``localhost`` or has uppercase;
    the rest, the repository, must be lowercase; the whole must match the reference grammar."""
    first, slash, rest = image.partition("/")
    has_domain = bool(slash) and (
        any(c in first for c in ".:") or first == "localhost" or first.lower() != first
    )
    remainder = rest if has_domain else image
    repository = remainder.split("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository[: repository.rindex(":")]
    if repository.lower() != repository:
        return "repository name must be lowercase"
    if not _REFERENCE.fullmatch(image):
        return "invalid reference format"
    if len((first + "/" if has_domain else "") + repository) > 255:
        return "repository name must not be more than 255 characters"
    return None


def first_line(text: str, limit: int = 160) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def run_plans(
    cases: list[Case], workdir: Path, namespace: str = "default", *, bodies: bool = False
) -> tuple[dict[str, PlanResult], dict[str, dict[str, Any]]]:
    """``plan -f FILE -o json -n NAMESPACE`` in-process in worker processes (one per core, each on a
    contiguous share), for every case; a file with no answer within PER_FILE_SECONDS is a hang (that
    worker is killed and a new one goes on with its next file).

    With ``bodies``: each accepted file's planned objects (as ``[kind, name, hash]``, in namespace
    ``namespace``) and its OnecloudCluster document, and the distinct bodies by hash. The worker sends them
    on a line of their own after the verdict's, with a deadline of their own: the hang deadline is plan's
    alone, as without bodies.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    workdir.mkdir(parents=True, exist_ok=True)
    listing = []
    for index, case in enumerate(cases):
        path = workdir / f"{index:05d}.yaml"
        path.write_bytes(case.data)
        listing.append({"name": case.name, "path": str(path)})
    # One worker per core, each on a contiguous share: the files are independent and plan is CPU-bound
    # (the threads here only wait on the workers' pipes).
    size = max(1, -(-len(listing) // (os.cpu_count() or 1)))
    parts = [listing[i : i + size] for i in range(0, len(listing), size)]
    with ThreadPoolExecutor(max_workers=max(1, len(parts))) as pool:
        answers = list(
            pool.map(lambda n: _run_shard(parts[n], workdir, f"{n}", namespace, bodies), range(len(parts)))
        )
    results: dict[str, PlanResult] = {}
    distinct: dict[str, dict[str, Any]] = {}
    for part_results, part_distinct in answers:
        results.update(part_results)
        distinct.update(part_distinct)
    return {item["name"]: results[item["name"]] for item in listing}, distinct


def _uncovered_env() -> dict[str, str]:
    """The environment without coverage's subprocess hooks: under ``make test``'s coverage the worker's
    ~9,000 plans took 106 s instead of 37 (measured), and what they reach is the planner's validation,
    which the unit tests measure in-process."""
    import os

    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START") and not k.startswith("COV_CORE_")
    }


def _run_shard(
    listing: list[dict[str, str]], workdir: Path, tag: str, namespace: str, bodies: bool
) -> tuple[dict[str, PlanResult], dict[str, dict[str, Any]]]:
    """:func:`run_plans` over one share of the files, in its own worker (a new one after a hang or crash)."""
    import os
    import select
    import subprocess
    import sys

    results: dict[str, PlanResult] = {}
    distinct: dict[str, dict[str, Any]] = {}
    start = 0
    while start < len(listing):
        todo = workdir / f"todo-{tag}-{start}.jsonl"
        todo.write_text("".join(json.dumps(item) + "\n" for item in listing[start:]))
        argv = [sys.executable, __file__, str(todo), namespace, *(["--bodies"] if bodies else [])]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_uncovered_env())
        assert proc.stdout is not None and proc.stderr is not None
        buffer = b""
        index = start
        try:
            while index < len(listing):
                line, buffer, state = _next_line(proc.stdout.fileno(), buffer, PER_FILE_SECONDS, select, os)
                name = listing[index]["name"]
                if state == "timeout":
                    results[name] = PlanResult(name, hang=True)
                    break
                if state == "eof":
                    results[name] = PlanResult(name, crash=_worker_exit(proc))
                    break
                result = results[name] = PlanResult(**json.loads(line))
                if bodies:
                    line, buffer, state = _next_line(
                        proc.stdout.fileno(), buffer, PER_FILE_SECONDS, select, os
                    )
                    if state != "ok":  # the verdict stands; the next worker goes on with the next file
                        lost = f"no bodies within {PER_FILE_SECONDS:g}s" if state == "timeout" else ""
                        result.bodies_error = lost or _worker_exit(proc)
                        break
                    extra = json.loads(line)
                    distinct.update(extra.pop("new", {}))
                    result.doc, result.objects = extra["doc"], extra.get("objects")
                index += 1
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            proc.stdout.close()
            proc.stderr.close()
        start = index + 1 if index < len(listing) else index
    return results, distinct


@dataclass(frozen=True)
class Sweep:
    """Every file of the corpus planned once, with everything both stages need: stage 1 (tests/unit) checks
    ``planned``'s verdicts and images, stage 2 (tests/integration) sends ``bodies`` and each accepted
    file's document to the API server in ``namespace``."""

    cases: list[Case]
    planned: dict[str, PlanResult]
    bodies: dict[str, dict[str, Any]]
    """The distinct planned bodies by hash (``PlanResult.objects`` names them)."""
    namespace: str
    """Where the bodies are planned: a fresh name, so stage 2 creates it and finds no other test's objects."""
    seconds: float


def sweep(workdir: Path) -> Sweep:
    """The whole pass of :func:`run_plans` over :func:`all_cases`, bodies included; the session-scoped
    ``hostile_sweep`` fixture (tests/conftest.py) runs it once for both stages."""
    started = time.monotonic()
    cases = all_cases()
    namespace = f"hostile-{uuid.uuid4().hex[:8]}"
    planned, bodies = run_plans(cases, workdir, namespace, bodies=True)
    return Sweep(cases, planned, bodies, namespace, time.monotonic() - started)


def _worker_exit(proc: Any) -> str:
    """The dead worker's exit status and the last line it wrote to stderr."""
    proc.wait(timeout=30)
    tail = proc.stderr.read().decode(errors="replace").strip().splitlines()
    return f"worker exit {proc.returncode}: {(tail or [''])[-1]}"


def _next_line(fd: int, buffer: bytes, timeout: float, select: Any, os: Any) -> tuple[bytes, bytes, str]:
    """The next line of the worker's output within ``timeout`` seconds: (line, rest, "ok"|"timeout"|"eof")."""
    import time

    deadline = time.monotonic() + timeout
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"", buffer, "timeout"
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return b"", buffer, "timeout"
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"", buffer, "eof"
        buffer += chunk
    line, _, rest = buffer.partition(b"\n")
    return line, rest, "ok"


def _worker(todo: Path, namespace: str, bodies: bool) -> None:
    """Each file through ``cli.main(["plan", ...])``, one JSON line per file on stdout, in order (with
    ``bodies``, a second line per file: its document and planned objects)."""
    import contextlib
    import hashlib
    import io
    import resource
    import sys
    import time
    import traceback

    import orjson

    from cloudpods_operator import cli, manifests, planner

    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    out = sys.stdout
    seen: set[str] = set()
    for raw in todo.read_text().splitlines():
        item = json.loads(raw)
        record: dict[str, Any] = {"name": item["name"]}
        captured_out, captured_err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(captured_out), contextlib.redirect_stderr(captured_err):
                record["code"] = cli.main(["plan", "-f", item["path"], "-o", "json", "-n", namespace])
        except SystemExit as exc:
            record["code"] = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # what the sweep looks for: anything cli.main lets escape
            record["uncaught"] = first_line("".join(traceback.format_exception_only(exc)))
        record["seconds"] = time.perf_counter() - started
        record["err"] = captured_err.getvalue()[:4000].replace(item["path"], "<file>")
        if record.get("code") == 0:
            items = json.loads(captured_out.getvalue())["items"]
            record["bad_images"] = [
                f"{body['kind']}/{body['metadata']['name']} {c['name']}: {c['image'][:100]}: {reason}"
                for body in items
                for c in cli.containers(body)
                if (reason := kubelet_refuses(c["image"])) is not None
            ]
        out.write(json.dumps(record) + "\n")
        out.flush()
        if not bodies:
            continue
        data = Path(item["path"]).read_bytes()
        try:
            docs = [d for d in manifests.load(data) if d.get("kind") == "OnecloudCluster"]
        except manifests.ManifestError:  # refused as YAML: kubectl would not send it either
            docs = []
        extra: dict[str, Any] = {"doc": docs[0] if len(docs) == 1 else None}
        if record.get("code") == 0:
            plan_cluster = cli.load_cluster(data, item["path"])
            plan_cluster.metadata.namespace = namespace
            objects, new = [], {}
            for obj in planner.plan(plan_cluster).objects:
                try:
                    digest = hashlib.sha256(orjson.dumps(obj.body, option=orjson.OPT_SORT_KEYS)).hexdigest()[
                        :20
                    ]
                except TypeError as exc:  # not JSON the operator could send: a dry-run failure of its own
                    digest = "unserializable:" + str(exc)
                objects.append([obj.kind, obj.name, digest])
                if digest not in seen and not digest.startswith("unserializable:"):
                    seen.add(digest)
                    new[digest] = obj.body
            extra["objects"], extra["new"] = objects, new
        out.write(json.dumps(extra) + "\n")
        out.flush()


if __name__ == "__main__":
    import sys

    _worker(Path(sys.argv[1]), sys.argv[2], "--bodies" in sys.argv[3:])
