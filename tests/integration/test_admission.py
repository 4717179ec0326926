"""One rule for bad input: what the model refuses the CRD refuses at admission, and what both accept plans
objects the API server accepts (server-side dry runs on the local control plane)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from cloudpods_operator import planner
from cloudpods_operator.errors import SpecError
from cloudpods_operator.model import OnecloudCluster

from .helpers import REPO, Kubectl

pytestmark = pytest.mark.usefixtures("crd")

LONG = "a" * 256

# (case, spec fragment) that the API server would refuse in a workload: the CRD must refuse them too.
REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("etcd repository too long", {"etcd": {"repository": LONG, "disable": True}}),
    ("quantity with a space", {"keystone": {"requests": {"cpu": "1Gi "}}}),
    ("negative quantity", {"keystone": {"requests": {"memory": -1}}}),
    ("quantity word", {"keystone": {"limits": {"cpu": "lots"}}}),
    ("requests above limits", {"keystone": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}),
    ("pvc storage word", {"glance": {"requests": {"storage": "big"}}}),
    ("pvc storage zero", {"glance": {"requests": {"storage": "0"}}}),
    ("storage class", {"glance": {"storageClassName": "Bad Class"}}),
    (
        "toleration Exists with value",
        {"keystone": {"tolerations": [{"key": "a", "operator": "Exists", "value": "x"}]}},
    ),
    (
        "tolerationSeconds without NoExecute",
        {"keystone": {"tolerations": [{"key": "a", "tolerationSeconds": 5}]}},
    ),
    ("Equal without key", {"keystone": {"tolerations": [{"operator": "Equal", "value": "x"}]}}),
    ("toleration bad key", {"keystone": {"tolerations": [{"key": "bad key!", "operator": "Exists"}]}}),
    (
        "tolerationSeconds 2**80",
        {"keystone": {"tolerations": [{"key": "a", "effect": "NoExecute", "tolerationSeconds": 2**80}]}},
    ),
    ("affinity string", {"keystone": {"affinity": {"nodeAffinity": "yes please"}}}),
    ("affinity unknown key", {"keystone": {"affinity": {"nodeAffinity": {"whatever": 1}}}}),
    (
        "topologyKey missing",
        {
            "keystone": {
                "affinity": {
                    "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}
                }
            }
        },
    ),
    (
        "weight 0",
        {
            "keystone": {
                "affinity": {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 0, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}
                        ]
                    }
                }
            }
        },
    ),
    (
        "In without values",
        {
            "keystone": {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "In"}]}]
                        }
                    }
                }
            }
        },
    ),
    ("dnsConfig nameserver", {"regionServer": {"dnsConfig": {"nameservers": ["not-an-ip"]}}}),
    ("nodeSelector key", {"keystone": {"nodeSelector": {"bad key": "x"}}}),
    ("nodeSelector value", {"keystone": {"nodeSelector": {"a": "bad value"}}}),
    ("annotation key", {"keystone": {"annotations": {"bad key": "x"}}}),
    ("maxUnavailableCount int32", {"hostagent": {"maxUnavailableCount": 2**31}}),
    ("nodePort range", {"regionServer": {"service": {"nodePort": 8080}}}),
    ("zone uppercase", {"customZones": ["Zone1"]}),
    ("zone empty", {"customZones": [""]}),
    ("zone duplicate", {"customZones": ["z1", "z1"]}),
    ("zone too long", {"customZones": ["z" * 250]}),
    (
        "keystone same port",
        {"keystone": {"publicService": {"nodePort": 30357}, "adminService": {"internalOnly": True}}},
    ),
    (
        "apigateway same port",
        {"apiGateway": {"apiService": {"nodePort": 30443}, "wsService": {"internalOnly": True}}},
    ),
    ("ovnNorth on south-db", {"ovnNorth": {"service": {"nodePort": 32242}}}),
    ("uppercase repository", {"imageRepository": "UPPER/case"}),
    ("integer from string", {"keystone": {"replicas": "7"}}),
    ("boolean from string", {"keystone": {"disable": "yes"}}),
    ("light edge with local vpc", {"productVersion": "LightEdge", "disableLocalVpc": False}),
    ("int64 overflow", {"etcd": {"etcdBackendQuotaSize": 2**64}}),
]

# (case, spec fragment) valid for the API server: the model, the CRD and the planned objects accept them.
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    (
        "quantities",
        {"keystone": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": 2, "memory": "1e9"}}},
    ),
    (
        "tolerations",
        {
            "keystone": {
                "tolerations": [
                    {"operator": "Exists"},
                    {
                        "key": "k",
                        "operator": "Equal",
                        "value": "v",
                        "effect": "NoExecute",
                        "tolerationSeconds": 30,
                    },
                ]
            }
        },
    ),
    (
        "affinity",
        {
            "keystone": {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {"matchExpressions": [{"key": "n", "operator": "Gt", "values": ["3"]}]}
                            ]
                        }
                    },
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 100,
                                "podAffinityTerm": {
                                    "labelSelector": {"matchLabels": {"app": "keystone"}},
                                    "topologyKey": "kubernetes.io/hostname",
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
                    "nameservers": ["10.0.0.10", "fd00::1"],
                    "searches": ["svc.cluster.local"],
                    "options": [{"name": "ndots", "value": "2"}],
                }
            }
        },
    ),
    (
        "nodeSelector and annotations",
        {
            "keystone": {
                "nodeSelector": {"example.com/role": "api"},
                "annotations": {"Example.com/Note": "x", "kubernetes.io/description": "ok"},
            }
        },
    ),
    ("zones", {"customZones": ["zone1", "zone-2"]}),
    ("ovnNorth nodePort", {"ovnNorth": {"service": {"nodePort": 32000}}}),
    ("storage", {"glance": {"requests": {"storage": "20Gi"}, "storageClassName": "fast.ssd"}}),
]


def _go_spec() -> dict[str, Any]:
    """The spec the Go operator's defaulting writes back (``""`` everywhere, typed affinity, dnsConfig)."""
    docs = yaml.safe_load_all((REPO / "tests/fixtures/go_cluster/default.yaml").read_text())
    spec: dict[str, Any] = [d for d in docs if d and d.get("kind") == "OnecloudCluster"][-1]["spec"]
    return spec


ACCEPTED.append(("the Go operator's defaulted CR", _go_spec()))


def _cluster(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "onecloud.yunion.io/v1alpha1",
        "kind": "OnecloudCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _dry_run(kubectl: Kubectl, body: dict[str, Any], *, apply: bool = False) -> tuple[int, str]:
    """A server-side dry run: a create as ``kubectl create`` (or the Go operator's Update) sends a CR, or
    (``apply``) a server-side apply with a fieldManager, as the operator sends its objects."""
    verb = ["apply", "--server-side", "--field-manager=admission-test"] if apply else ["create"]
    done = kubectl(*verb, "--dry-run=server", "-f", "-", input=json.dumps(body), check=False)
    return done.returncode, done.stderr


@pytest.mark.parametrize(("case", "spec"), REFUSED, ids=[c for c, _ in REFUSED])
def test_crd_refuses_what_the_model_refuses(
    kubectl: Kubectl, namespace: str, case: str, spec: dict[str, Any]
) -> None:
    body = _cluster("c1", namespace, spec)
    with pytest.raises((ValueError, SpecError)):
        planner.plan(OnecloudCluster.model_validate(yaml.safe_load(json.dumps(body))))
    code, err = _dry_run(kubectl, body)
    assert code != 0, f"{case}: the CRD admitted it"
    assert "is invalid" in err or "unknown field" in err, err


@pytest.mark.parametrize(("case", "spec"), ACCEPTED, ids=[c for c, _ in ACCEPTED])
def test_valid_values_pass_model_crd_and_planned_objects(
    kubectl: Kubectl, namespace: str, case: str, spec: dict[str, Any]
) -> None:
    body = _cluster("c1", namespace, spec)
    plan = planner.plan(OnecloudCluster.model_validate(body))
    code, err = _dry_run(kubectl, body)
    assert code == 0, f"{case}: {err}"
    objects = [{**o.body, "metadata": {**o.body["metadata"], "namespace": namespace}} for o in plan.objects]
    code, err = _dry_run(kubectl, {"apiVersion": "v1", "kind": "List", "items": objects}, apply=True)
    assert code == 0, f"{case}: a planned object was refused: {err}"


ETCD_LIMIT = 1_572_864  # etcd's default --max-request-bytes (1.5 MiB): a CRD must fit in one request


def test_the_stored_crd_leaves_room_under_the_etcd_limit(kubectl: Kubectl) -> None:
    """Typed Kubernetes values in ~50 components make a big schema: keep a tenth of etcd's limit free."""
    stored = kubectl(
        "get", "crd", "onecloudclusters.onecloud.yunion.io", "-o", "json", "--show-managed-fields"
    ).stdout  # fmt: skip
    assert len(json.dumps(json.loads(stored), separators=(",", ":"))) < 0.9 * ETCD_LIMIT
