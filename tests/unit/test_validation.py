"""One rule for bad input: the model refuses what the API server would refuse in a workload, with the
CRD's words, and the CRD carries the same bounds (tests/integration/test_admission.py sends both to a real
API server). Fact tables: (case, spec fragment, field path, words of the reason)."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from clusters import cluster
from pydantic import ValidationError

from cloudpods_operator import catalog, crdgen, planner
from cloudpods_operator.errors import SpecError
from cloudpods_operator.model import (
    INT64_MAX,
    MAX_SHOWN,
    MAX_ZONE_NAME,
    OnecloudCluster,
    describe_validation_error,
    quantity_value,
)

LONG = "a" * 256
AFFINITY_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
AFFINITY_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _terms(*expressions: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeAffinity": {AFFINITY_REQUIRED: {"nodeSelectorTerms": [{"matchExpressions": list(expressions)}]}}
    }


def _refusal(spec: dict[str, Any]) -> str:
    """The one line ``plan`` and the reconciler report for this spec (the model's, else the planner's)."""
    try:
        planner.plan(cluster(spec))
    except ValidationError as exc:
        return describe_validation_error(exc)
    except SpecError as exc:
        return str(exc)
    raise AssertionError(f"accepted: {spec}")


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    # strings that reach an object are bounded: no pydantic traceback from a later model
    (
        "etcd repository 256",
        {"etcd": {"repository": LONG, "disable": True}},
        "spec.etcd.repository",
        "Too long",
    ),
    ("tag 200", {"keystone": {"tag": "t" * 200}}, "spec.keystone.tag", "Too long"),
    ("any string", {"regionServer": {"dnsDomain": "d" * 2000}}, "spec.regionServer.dnsDomain", "Too long"),
    # quantities: resource.Quantity's grammar, no negatives, requests within limits, positive storage
    (
        "cpu trailing space",
        {"keystone": {"requests": {"cpu": "1Gi "}}},
        "spec.keystone.requests.cpu",
        "quantity",
    ),
    ("memory -1", {"keystone": {"requests": {"memory": -1}}}, "spec.keystone.requests.memory", ">= 0"),
    ("cpu -1 string", {"keystone": {"limits": {"cpu": "-1"}}}, "spec.keystone.limits.cpu", "quantity"),
    ("cpu lots", {"keystone": {"limits": {"cpu": "lots"}}}, "spec.keystone.limits.cpu", "quantity"),
    ("cpu list", {"keystone": {"requests": {"cpu": [1]}}}, "spec.keystone.requests.cpu", "integer or string"),
    (
        "requests above limits",
        {"keystone": {"requests": {"cpu": "1500m"}, "limits": {"cpu": 1}}},
        "spec.keystone.requests.cpu",
        "less than or equal to limits.cpu",
    ),
    (
        "memory above limits",
        {"glance": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1G"}}},
        "spec.glance.requests.memory",
        "less than or equal",
    ),
    ("storage big", {"glance": {"requests": {"storage": "big"}}}, "spec.glance.requests.storage", "quantity"),
    (
        "storage 0",
        {"glance": {"requests": {"storage": "0Gi"}}},
        "spec.glance.requests.storage",
        "greater than zero",
    ),
    (
        "storageClassName",
        {"glance": {"storageClassName": "Bad Class"}},
        "spec.glance.storageClassName",
        "RFC 1123",
    ),
    # tolerations: ValidateTolerations
    (
        "Exists with a value",
        {"keystone": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}},
        "spec.keystone.tolerations[0]",
        "value must be empty",
    ),
    (
        "seconds without NoExecute",
        {"keystone": {"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 3}]}},
        "spec.keystone.tolerations[0]",
        "NoExecute",
    ),
    (
        "Equal without key",
        {"keystone": {"tolerations": [{"operator": "Equal", "value": "v"}]}},
        "spec.keystone.tolerations[0]",
        "operator must be Exists when key is empty",
    ),
    (
        "key with a bang",
        {"keystone": {"tolerations": [{"key": "bad key!", "operator": "Exists"}]}},
        "spec.keystone.tolerations[0].key",
        "qualified name",
    ),
    (
        "seconds 2**80",
        {"keystone": {"tolerations": [{"key": "k", "effect": "NoExecute", "tolerationSeconds": 2**80}]}},
        "spec.keystone.tolerations[0].tolerationSeconds",
        "<=",
    ),
    # affinity and dnsConfig are typed
    (
        "nodeAffinity string",
        {"keystone": {"affinity": {"nodeAffinity": "yes please"}}},
        "spec.keystone.affinity.nodeAffinity",
        "object",
    ),
    (
        "affinity unknown key",
        {"keystone": {"affinity": {"nodeAffinity": {"x": 1}}}},
        "spec.keystone.affinity.nodeAffinity.x",
        "unknown field",
    ),
    (
        "affinity NaN weight",
        {
            "keystone": {
                "affinity": {
                    "podAffinity": {
                        AFFINITY_PREFERRED: [
                            {"weight": float("nan"), "podAffinityTerm": {"topologyKey": "h"}}
                        ]
                    }
                }
            }
        },
        "spec.keystone.affinity.podAffinity." + AFFINITY_PREFERRED + "[0].weight",
        "integer",
    ),
    (
        "weight 101",
        {
            "keystone": {
                "affinity": {
                    "podAffinity": {
                        AFFINITY_PREFERRED: [{"weight": 101, "podAffinityTerm": {"topologyKey": "h"}}]
                    }
                }
            }
        },
        "weight",
        "<= 100",
    ),
    (
        "no topologyKey",
        {"keystone": {"affinity": {"podAntiAffinity": {AFFINITY_REQUIRED: [{"labelSelector": {}}]}}}},
        "topologyKey",
        "Required value",
    ),
    (
        "In without values",
        {"keystone": {"affinity": _terms({"key": "a", "operator": "In"})}},
        "matchExpressions[0]",
        "required with In",
    ),
    (
        "Exists with values",
        {"keystone": {"affinity": _terms({"key": "a", "operator": "Exists", "values": ["x"]})}},
        "matchExpressions[0]",
        "forbidden with Exists",
    ),
    (
        "Gt not an integer",
        {"keystone": {"affinity": _terms({"key": "a", "operator": "Gt", "values": ["x"]})}},
        "matchExpressions[0]",
        "one integer",
    ),
    (
        "operator Maybe",
        {"keystone": {"affinity": _terms({"key": "a", "operator": "Maybe"})}},
        "operator",
        "Unsupported value",
    ),
    (
        "no terms",
        {"keystone": {"affinity": {"nodeAffinity": {AFFINITY_REQUIRED: {"nodeSelectorTerms": []}}}}},
        "nodeSelectorTerms",
        "at least 1",
    ),
    (
        "nameserver",
        {"regionServer": {"dnsConfig": {"nameservers": ["dns.example"]}}},
        "spec.regionServer.dnsConfig.nameservers[0]",
        "IP address",
    ),
    (
        "4 nameservers",
        {"regionServer": {"dnsConfig": {"nameservers": ["1.1.1.1"] * 4}}},
        "spec.regionServer.dnsConfig.nameservers",
        "Too long",
    ),
    (
        "dns option without name",
        {"regionServer": {"dnsConfig": {"options": [{"value": "2"}]}}},
        "options[0].name",
        "Required value",
    ),
    # label keys and values; annotation keys and total size
    (
        "nodeSelector key",
        {"keystone": {"nodeSelector": {"bad key": "x"}}},
        "spec.keystone.nodeSelector",
        "qualified name",
    ),
    (
        "nodeSelector value",
        {"keystone": {"nodeSelector": {"a": "not a value"}}},
        "spec.keystone.nodeSelector.a",
        "label value",
    ),
    (
        "nodeSelector uppercase prefix",
        {"keystone": {"nodeSelector": {"Example.com/a": "x"}}},
        "spec.keystone.nodeSelector",
        "qualified name",
    ),
    (
        "annotation key",
        {"keystone": {"annotations": {"bad key": "x"}}},
        "spec.keystone.annotations",
        "qualified name",
    ),
    (
        "annotation value 4 KiB",
        {"keystone": {"annotations": {"a": "x" * 4096}}},
        "spec.keystone.annotations.a",
        "Too long",
    ),
    (
        "65 annotations",
        {"keystone": {"annotations": {f"a{i}": "x" for i in range(65)}}},
        "spec.keystone.annotations",
        "Too long",
    ),
    # integers: the Go types' ranges; ports in the NodePort range
    (
        "maxUnavailableCount int32",
        {"hostagent": {"maxUnavailableCount": 2**31}},
        "spec.hostagent.maxUnavailableCount",
        "<=",
    ),
    ("replicas int32", {"keystone": {"replicas": 2**31}}, "spec.keystone.replicas", "<="),
    ("quota beyond int64", {"etcd": {"etcdBackendQuotaSize": 2**64}}, "spec.etcd.etcdBackendQuotaSize", "<="),
    (
        "nodePort 8080",
        {"regionServer": {"service": {"nodePort": 8080}}},
        "spec.regionServer.service.nodePort",
        "30000-32767",
    ),
    ("clientNodePort 40000", {"etcd": {"clientNodePort": 40000}}, "spec.etcd.clientNodePort", "<= 32767"),
    # zones name objects and label pods
    ("zone uppercase", {"customZones": ["Zone1"]}, "spec.customZones[0]", "RFC 1123 label"),
    ("zone space", {"esxiagent": {"zones": ["a b"]}}, "spec.esxiagent.zones[0]", "RFC 1123 label"),
    ("zone 250", {"baremetalagent": {"zones": ["z" * 250]}}, "spec.baremetalagent.zones[0]", "Too long"),
    ("zone empty", {"customZones": [""]}, "spec.customZones[0]", "at least 1"),
    ("zone duplicate", {"customZones": ["z1", "z1"]}, "spec.customZones", 'Duplicate value: "z1"'),
    ("33 zones", {"customZones": [f"z{i}" for i in range(33)]}, "spec.customZones", "Too long"),
    # one Service cannot list a port twice; two Services cannot share a nodePort
    (
        "keystone public on admin",
        {"keystone": {"publicService": {"nodePort": 30357}, "adminService": {"internalOnly": True}}},
        "spec.keystone.publicService.nodePort",
        "Duplicate value: 30357",
    ),
    (
        "apigateway ws on api",
        {"apiGateway": {"wsService": {"nodePort": 30300}, "apiService": {"internalOnly": True}}},
        "spec.apiGateway.wsService.nodePort",
        "Duplicate value: 30300",
    ),
    (
        "ovnNorth on south-db",
        {"ovnNorth": {"service": {"nodePort": 32242}}},
        "spec.ovnNorth.service.nodePort",
        "Duplicate value",
    ),
    (
        "etcd on region's",
        {"etcd": {"clientNodePort": 30888}},
        "spec.etcd.clientNodePort",
        "already used by region",
    ),
    # images: the kubelet's reading of a repository
    ("UPPER/case", {"imageRepository": "UPPER/case"}, "spec.imageRepository", "image repository"),
    (
        "image name over 255",
        {"imageRepository": "r.example.com/" + "p" * 240},
        "spec.imageRepository",
        "more than 255 characters",
    ),
    (
        "own image name over 255",
        {"keystone": {"repository": "r.example.com/" + "p" * 230, "imageName": "n" * 30}},
        "spec.keystone.repository",
        "more than 255 characters",
    ),
    (
        "Upper path",
        {"keystone": {"repository": "registry.example.com/Yunion"}},
        "spec.keystone.repository",
        "lowercase",
    ),
    # strict types, as the CRD's
    ("replicas true", {"keystone": {"replicas": True}}, "spec.keystone.replicas", "type integer"),
    ("replicas '7'", {"keystone": {"replicas": "7"}}, "spec.keystone.replicas", "type integer"),
    ("replicas 7.5", {"keystone": {"replicas": 7.5}}, "spec.keystone.replicas", "type integer"),
    ("disable 'yes'", {"keystone": {"disable": "yes"}}, "spec.keystone.disable", "type boolean"),
    ("disable 'true'", {"keystone": {"disable": "true"}}, "spec.keystone.disable", "type boolean"),
    ("disable 1", {"keystone": {"disable": 1}}, "spec.keystone.disable", "type boolean"),
    ("useHTTP 'on'", {"web": {"useHTTP": "on"}}, "spec.web.useHTTP", "type boolean"),
    # objects kept as written must be JSON the API server can store
    ("etcd pod a string", {"etcd": {"pod": "x"}}, "spec.etcd.pod", "must be of type object"),
    ("grafana NaN", {"monitorStack": {"grafana": {"a": float("nan")}}}, "spec.monitorStack.grafana", "JSON"),
    # the CRD's cross-field rule
    (
        "LightEdge with a local VPC",
        {"productVersion": "LightEdge", "disableLocalVpc": False},
        "spec.disableLocalVpc",
        "LightEdge runs without a local VPC",
    ),
]


@pytest.mark.parametrize(("case", "spec", "path", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_input_is_refused_naming_the_field(
    case: str, spec: dict[str, Any], path: str, words: str
) -> None:
    message = _refusal(spec)
    field, _, reason = message.partition(": ")
    assert field.endswith(path) or path in field, (case, message)
    assert words in reason, (case, message)
    assert "(and " not in message and ".int" not in field and ".str" not in field, message
    assert len(message) < 400, message


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    # the API server decodes an integral JSON number as an integer: the CRD admits 7.0 (the sweep saw it)
    ("replicas 7.0", {"keystone": {"replicas": 7.0}}),
    (
        "quantities",
        {
            "keystone": {
                "requests": {"cpu": "100m", "memory": 134217728},
                "limits": {"cpu": "2.666667", "memory": "1e9"},
            }
        },
    ),
    ("zero limit is no limit", {"keystone": {"requests": {"cpu": 2}, "limits": {"cpu": 0}}}),
    (
        "tolerations",
        {
            "keystone": {
                "tolerations": [
                    {"operator": "Exists"},
                    {"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": -1},
                ]
            }
        },
    ),
    (
        "typed affinity",
        {
            "keystone": {
                "affinity": {
                    **_terms({"key": "n", "operator": "Lt", "values": ["-3"]}),
                    "podAntiAffinity": {
                        AFFINITY_PREFERRED: [
                            {
                                "weight": 1,
                                "podAffinityTerm": {
                                    "labelSelector": {
                                        "matchLabels": {"app": "k"},
                                        "matchExpressions": [
                                            {"key": "tier", "operator": "NotIn", "values": ["x"]}
                                        ],
                                    },
                                    "topologyKey": "kubernetes.io/hostname",
                                    "namespaces": ["onecloud"],
                                },
                            }
                        ]
                    },
                }
            }
        },
    ),
    (
        "dnsConfig",
        {
            "regionServer": {
                "dnsConfig": {
                    "nameservers": ["10.0.0.10", "fd00::a"],
                    "searches": ["svc.cluster.local."],
                    "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
                }
            }
        },
    ),
    (
        "label and annotation keys",
        {
            "keystone": {
                "nodeSelector": {"node.example.com/role": "", "role": "api"},
                "annotations": {"Example.COM/Note": "x", "kubernetes.io/description": "d"},
            }
        },
    ),
    ("nodePorts", {"regionServer": {"service": {"nodePort": 30000}}, "etcd": {"clientNodePort": 32767}}),
    ("ovnNorth nodePort", {"ovnNorth": {"service": {"nodePort": 32000}}}),
    (
        "keystone ports swapped",
        {"keystone": {"publicService": {"nodePort": 30357}, "adminService": {"nodePort": 30500}}},
    ),
    ("zones", {"customZones": ["zone1", "z-2"], "esxiagent": {"zones": ["zone0", "e" * MAX_ZONE_NAME]}}),
    ("registry with a port, uppercase host", {"imageRepository": "Registry.Example.com:5000/yunion"}),
    ("dotless lowercase registry", {"imageRepository": "localhost/yunion"}),
    (
        "Go's empty strings",
        {"keystone": {"repository": "", "tag": "", "db_engine": "", "requests": {"cpu": ""}}},
    ),
    ("int64 bound", {"etcd": {"etcdBackendQuotaSize": INT64_MAX}}),
    ("free JSON is unbounded, as in the CRD", {"monitorStack": {"grafana": {"config": "x" * 5000}}}),
]


@pytest.mark.parametrize(("case", "spec"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_valid_kubernetes_values_plan(case: str, spec: dict[str, Any]) -> None:
    plan = planner.plan(cluster(spec))
    assert plan.objects, case


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", Decimal("0.1")),
        ("1Gi", Decimal(2**30)),
        ("1.5", Decimal("1.5")),
        ("1e3", Decimal(1000)),
        ("+.5k", Decimal(500)),
        ("2E", Decimal(2 * 10**18)),
        (7, Decimal(7)),
    ],
)
def test_quantity_value(text: int | str, value: Decimal) -> None:
    assert quantity_value(text) == value


def test_a_huge_value_is_shortened_in_the_message() -> None:
    message = _refusal({"keystone": {"tag": "x" * 10_000_000}})
    assert len(message) < 200 and "x" * 100 not in message, message[:300]
    message = _refusal({"keystone": {"imagePullPolicy": "y" * 10_000_000}})
    assert f'"{"y" * (MAX_SHOWN - 4)}...' in message and len(message) < 300, message[:300]


def test_messages_read_like_kubectl() -> None:
    message = _refusal({"keystone": {"repository": "Default"}})
    assert message == (
        'spec.keystone.repository: Invalid value: "Default": must be an image repository: '
        "a registry host with a dot or a port, then lowercase path components (OCI grammar)"
    )


# ---- the CRD says the same ------------------------------------------------------------------------

SPEC = crdgen.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _walk(node: dict[str, Any], path: str = "spec") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for key, child in node.get("properties", {}).items():
        out += _walk(child, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out += _walk(node[key], f"{path}[]")
    return out


NODES = _walk(SPEC)


def test_every_string_in_the_crd_has_a_max_length() -> None:
    assert [
        p for p, n in NODES if n.get("type") == "string" and "enum" not in n and "maxLength" not in n
    ] == []


def test_every_integer_in_the_crd_is_bounded() -> None:
    loose = [p for p, n in NODES if n.get("type") == "integer" and not {"minimum", "maximum"} <= set(n)]
    assert loose == []


def test_every_list_and_map_in_the_crd_is_bounded() -> None:
    assert [p for p, n in NODES if n.get("type") == "array" and "maxItems" not in n] == []
    maps = [
        p for p, n in NODES if isinstance(n.get("additionalProperties"), dict) and "maxProperties" not in n
    ]
    assert maps == []


def test_zone_lists_are_sets_with_a_bound() -> None:
    for path in ("spec.customZones", "spec.esxiagent.zones", "spec.baremetalagent.zones"):
        node = dict(NODES)[path]
        assert node["x-kubernetes-list-type"] == "set" and node["maxItems"] == 32, path


def test_zone_names_leave_room_for_the_longest_per_zone_agent() -> None:
    longest = max(len(c.app_label or c.name) for c in catalog.COMPONENTS if c.per_zone)
    assert MAX_ZONE_NAME + 1 + longest <= 63


def test_the_crd_has_a_rule_for_every_pair_of_ports_the_spec_can_move_together() -> None:
    rules = {r["fieldPath"] for r in SPEC["x-kubernetes-validations"] if "fieldPath" in r}
    assert {
        ".keystone.publicService.nodePort",
        ".apiGateway.apiService.nodePort",
        ".ovnNorth.service.nodePort",
    } <= rules


def test_no_service_spec_moves_two_ports_of_one_service() -> None:
    """ovnNorth's ``service.nodePort`` moved both of its ports onto one number: it could never be set."""
    for comp in catalog.COMPONENTS:
        for service in comp.services:
            moved = [p.spec_field for p in service.ports if p.node_port and p.movable]
            assert len(moved) == len(set(moved)), comp.name


# ---- per-zone agents ------------------------------------------------------------------------------


def test_per_zone_agents_read_their_zone_and_select_apart() -> None:
    plan = planner.plan(cluster({"customZones": ["zone1", "zone2"]}))
    for agent in ("esxi-agent", "baremetal-agent"):
        selectors = {}
        for obj in plan.component(agent).objects:
            body = obj.body
            if body["kind"] == "Secret":
                config = json.loads(base64.b64decode(body["data"]["config"]))
                zone = body["metadata"]["name"].removesuffix("-config").rpartition(f"{agent}")[2].strip("-")
                assert config["zone"] == (zone or "zone0"), body["metadata"]["name"]
            if body["kind"] == "Deployment":
                selector = body["spec"]["selector"]["matchLabels"]
                assert body["spec"]["template"]["metadata"]["labels"].items() >= selector.items()
                selectors[body["metadata"]["name"]] = selector
        assert len(selectors) == 3, agent
        for name, selector in selectors.items():
            for other in selectors:
                if other != name:  # no Deployment's selector matches another's pods
                    pods = next(
                        o.body
                        for o in plan.component(agent).objects
                        if o.name == other and o.kind == "Deployment"
                    )
                    pod_labels = pods["spec"]["template"]["metadata"]["labels"]
                    assert not selector.items() <= pod_labels.items(), (name, other)
    default = next(o.body for o in plan.component("esxi-agent").objects if o.name == "default-esxi-agent")
    assert "zone" not in default["spec"]["selector"]["matchLabels"]  # the Go operator's, immutable


def test_go_operator_crs_still_plan() -> None:
    """The reference's defaulted CR (``""`` everywhere, typed affinity and dnsConfig) parses and plans."""
    import yaml
    from repo_paths import REPO

    docs = yaml.safe_load_all((REPO / "tests/fixtures/go_cluster/default.yaml").read_text())
    crs = [d for d in docs if d and d.get("kind") == "OnecloudCluster"]
    assert len(crs) == 2
    for cr in crs:
        cr.pop("status", None)
        cr["metadata"].setdefault("namespace", "onecloud")
        assert planner.plan(OnecloudCluster.model_validate(cr)).objects
