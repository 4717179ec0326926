"""The OnecloudCluster model: a CR written for the reference parses and round-trips; bad input is refused.

Keys come from shared/reference/cloudpods-operator.md §2 (the reference's JSON keys, odd ones included:
db_engine, slave_replicas, cache_ttl, in_cloud_only, rententionPeriodDays, Guacd, SdnAgent, ...).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError
from reference_table import REFERENCE_SPEC_KEYS

from cloudpods_operator import catalog
from cloudpods_operator.model import OnecloudCluster, OnecloudClusterSpec

PLACEMENT: dict[str, Any] = {
    "nodeSelector": {"onecloud.yunion.io/controller": "enable"},
    "tolerations": [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule", "operator": "Exists"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
                ]
            }
        }
    },
    "annotations": {"example.com/a": "b"},
    "imagePullSecrets": [{"name": "regcred"}],
}

# A CR with many of the reference's keys, as a user (or the Go operator's defaulting) would write them.
REFERENCE_CR: dict[str, Any] = {
    "apiVersion": "onecloud.yunion.io/v1alpha1",
    "kind": "OnecloudCluster",
    "metadata": {
        "name": "default",
        "namespace": "onecloud",
        "uid": "0b7c7c1e-1111-4222-8333-444455556666",
        "generation": 3,
        "resourceVersion": "12345",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"app.kubernetes.io/instance": "onecloud-cluster-default"},
        "annotations": {"onecloud.yunion.io/edition": "ee"},
    },
    "spec": {
        "version": "v3.11.5",
        "imageRepository": "registry.cn-beijing.aliyuncs.com/yunionio",
        "productVersion": "FullStack",
        "useHyperImage": False,
        "region": "region0",
        "zone": "zone0",
        "customZones": ["zone1"],
        "loadBalancerEndpoint": "10.0.0.10",
        "disableResourceManagement": False,
        "disableLocalVpc": False,
        "enableCloudNet": True,
        "enableS3Gateway": True,
        "ipv6Cluster": False,
        "certSANs": ["10.0.0.10", "cloud.example.com"],
        "services": [{"name": "keystone", "type": "NodePort"}],
        "mysql": {"host": "mysql", "port": 3306, "username": "root", "password": "secret"},
        "clickhouse": {"host": "ch", "port": 9000, "username": "default"},
        "dameng": {"host": "dm", "port": 5236, "username": "sysdba"},
        "db_engine": "mysql",
        "minio": {"enable": True, "mode": "standalone"},
        "etcd": {
            "disable": False,
            "enableTls": True,
            "size": 3,
            "repository": "registry.cn-beijing.aliyuncs.com/yunionio",
            "version": "3.5.12",
            "paused": False,
            "pod": {
                "labels": {"a": "b"},
                "nodeSelector": {"onecloud.yunion.io/controller": "enable"},
                "antiAffinity": True,
                "resources": {"limits": {"memory": "1Gi"}},
                "busyboxImage": "busybox:1.37.0-glibc",
                "persistentVolumeClaimSpec": {"accessModes": ["ReadWriteOnce"]},
                "DNSTimeoutInSecond": 60,
            },
            "TLS": {"static": {"member": {"peerSecret": "etcd-peer", "serverSecret": "etcd-server"}}},
            "createdSecrets": True,
            "clientNodePort": 30379,
            "etcdBackendQuotaSize": 2048,
        },
        "keystone": {
            "replicas": 1,
            "slave_replicas": 1,
            "disableTLS": False,
            "bootstrapPassword": "b00tstrap",
            "publicService": {"nodePort": 30500},
            "adminService": {"nodePort": 30357, "internalOnly": False},
            "db_engine": "mysql",
            "tag": "v3.11.6",
            "imagePullPolicy": "IfNotPresent",
            "requests": {"cpu": "10m", "memory": "10Mi"},
            "limits": {"cpu": 2, "memory": "512Mi"},
            **PLACEMENT,
        },
        "regionServer": {
            "repository": "192.168.0.1:5000/yunionio",
            "tag": "lzx-dev",
            "image": "192.168.0.1:5000/yunionio/region:lzx-dev",
            "dnsServer": "10.0.0.10",
            "dnsDomain": "cloud.local",
            "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
            "service": {"internalOnly": False, "nodePort": 30888},
            "slave_replicas": 2,
        },
        "regionDNS": {
            "cache_ttl": 300,
            "in_cloud_only": True,
            "proxies": [{"from": ".", "to": ["114.114.114.114", "223.5.5.5"]}],
            "updateStrategy": "RollingUpdate",
        },
        "glance": {"storageClassName": "local-path", "switchToS3": False, "requests": {"storage": "100G"}},
        "webconsole": {
            "Guacd": {"repository": "docker.io/guacamole", "tag": "1.6.0", "imagePullPolicy": "Always"}
        },
        "victoriaMetrics": {"rententionPeriodDays": 93, "storageClassName": "local-path"},
        "influxdb": {"disable": True},
        "telegraf": {
            "initContainerImage": "registry.cn-beijing.aliyuncs.com/yunionio/telegraf-init:release-1.36-1",
            "enableRaidPlugin": True,
            "telegrafConfigDir": "/etc/telegraf",
            "TelegrafRaid": {"tag": "v4.0-20260115.0"},
        },
        "apiGateway": {
            "apiService": {"nodePort": 30300},
            "wsService": {"nodePort": 30443},
            "corsHosts": ["*"],
        },
        "web": {"useHTTP": False, "Overview": {"tag": "v1"}, "Docs": {"imageName": "docs-ee"}},
        "notify": {"plugins": {"tag": "v1"}},
        "hostagent": {
            "SdnAgent": {"imageName": "sdnagent"},
            "OvnController": {"tag": "2.12.4-20260415"},
            "HostHealth": {"tag": "v0.0.4"},
            "OvnEncapIpDetectionMethod": "interface=eth0",
            "disableSecurityGroup": False,
            "manageNtpConfiguration": True,
            "hostCpuPassthrough": True,
            "defaultQemuVersion": "10.0.7",
            "maxUnavailableCount": 3,
            "updateStrategy": "OnDelete",
        },
        "lbagent": {"OvnController": {"repository": "lb.example.com/ovs"}, "maxUnavailableCount": 3},
        "baremetalagent": {"zones": ["zone0", "zone1"], "storageClassName": "local-path"},
        "esxiagent": {"zones": ["zone1"]},
        "cloudmon": {"CloudmonPingDuration": 5},
        "echartsSSR": {"disable": False, "replicas": 1},
        "cloudmux": {"disable": True},
        "apiMap": {"disable": True},
        "monitorStack": {
            "disable": False,
            "minio": {"mode": "distributed", "accessKey": "monitor-admin", "secretKey": "xyz"},
            "grafana": {
                "disable": False,
                "adminUser": "admin",
                "subpath": "grafana",
                "oauth": {"enabled": True, "clientId": "c", "scopes": "user", "allowSignUp": False},
            },
            "loki": {
                "disable": False,
                "objectStoreConfig": {"bucket": "loki", "secure": True},
                "retentionDays": 7,
            },
            "prometheus": {"disable": True, "thanosSidecar": {"objectStoreConfig": {"bucket": "thanos"}}},
            "thanos": {"objectStoreConfig": {"bucket": "thanos"}},
        },
        "onecloudServiceOperator": {"disable": False},
        "ovnNorth": {"tag": "2.12.4-20260415"},
        "vpcAgent": {"disable": False},
        "bastionHost": {"disable": False},
        "mcpServer": {"imageName": "mcp-server-ee"},
        "aiproxy": {"service": {"nodePort": 31513}},
    },
    "status": {
        "observedGeneration": 3,
        "version": "v3.11.5",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "AllComponentsReady",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "components": {
            "keystone": {
                "kind": "Deployment",
                "name": "default-keystone",
                "image": "registry.cn-beijing.aliyuncs.com/yunionio/keystone:v3.11.6",
                "phase": "Normal",
                "desired": 1,
                "updated": 1,
                "ready": 1,
                "available": 1,
            }
        },
    },
}


def test_reference_cr_round_trips() -> None:
    d = copy.deepcopy(REFERENCE_CR)
    assert OnecloudCluster.model_validate(d).to_dict() == REFERENCE_CR


HEAD = {"apiVersion": "onecloud.yunion.io/v1alpha1", "kind": "OnecloudCluster"}


def test_an_empty_string_is_unset_as_in_the_go_operators_types() -> None:
    """A CR the Go operator defaulted carries "" in every string it left empty (about two hundred)."""
    d = {
        **HEAD,
        "metadata": {"name": "x"},
        "spec": {"imageRepository": "", "regionServer": {"tag": "", "db_engine": ""}},
    }
    spec = OnecloudCluster.model_validate(d).spec
    assert spec.image_repository is None and spec.region_server.tag is None
    assert "tag" not in spec.region_server.model_fields_set


def test_minimal_cr_round_trips_without_adding_defaults() -> None:
    d = {**HEAD, "metadata": {"name": "x"}}
    assert OnecloudCluster.model_validate(d).to_dict() == d


# Odd keys reach the right attribute (not merely survive): (spec fragment, attribute path, value).
ODD_KEYS: list[tuple[str, dict[str, Any], str, Any]] = [
    ("db_engine", {"db_engine": "dameng"}, "db_engine", "dameng"),
    ("component db_engine", {"logger": {"db_engine": "clickhouse"}}, "logger.db_engine", "clickhouse"),
    ("slave_replicas", {"regionServer": {"slave_replicas": 2}}, "region_server.slave_replicas", 2),
    ("cache_ttl", {"regionDNS": {"cache_ttl": 60}}, "region_dns.cache_ttl", 60),
    ("in_cloud_only", {"regionDNS": {"in_cloud_only": True}}, "region_dns.in_cloud_only", True),
    (
        "rententionPeriodDays",
        {"victoriaMetrics": {"rententionPeriodDays": 30}},
        "victoria_metrics.rentention_period_days",
        30,
    ),
    ("Guacd", {"webconsole": {"Guacd": {"tag": "1.5"}}}, "webconsole.guacd.tag", "1.5"),
    ("SdnAgent", {"hostagent": {"SdnAgent": {"tag": "s"}}}, "hostagent.sdn_agent.tag", "s"),
    ("OvnController", {"hostagent": {"OvnController": {"tag": "o"}}}, "hostagent.ovn_controller.tag", "o"),
    (
        "lbagent OvnController",
        {"lbagent": {"OvnController": {"tag": "l"}}},
        "lbagent.ovn_controller.tag",
        "l",
    ),
    ("HostHealth", {"hostagent": {"HostHealth": {"tag": "h"}}}, "hostagent.host_health.tag", "h"),
    ("TelegrafRaid", {"telegraf": {"TelegrafRaid": {"tag": "r"}}}, "telegraf.telegraf_raid.tag", "r"),
    ("Overview", {"web": {"Overview": {"tag": "ov"}}}, "web.overview.tag", "ov"),
    ("Docs", {"web": {"Docs": {"tag": "d"}}}, "web.docs.tag", "d"),
    (
        "OvnEncapIpDetectionMethod",
        {"hostagent": {"OvnEncapIpDetectionMethod": "cidr=10.0.0.0/8"}},
        "hostagent.ovn_encap_ip_detection_method",
        "cidr=10.0.0.0/8",
    ),
    ("disableTLS", {"keystone": {"disableTLS": True}}, "keystone.disable_tls", True),
    ("certSANs", {"certSANs": ["a.example.com"]}, "cert_sans", ["a.example.com"]),
    ("enableS3Gateway", {"enableS3Gateway": True}, "enable_s3_gateway", True),
    ("ipv6Cluster", {"ipv6Cluster": True}, "ipv6_cluster", True),
    ("regionDNS", {"regionDNS": {"disable": True}}, "region_dns.disable", True),
    ("echartsSSR", {"echartsSSR": {"disable": False}}, "echarts_ssr.disable", False),
    ("useHTTP", {"web": {"useHTTP": True}}, "web.use_http", True),
    ("switchToS3", {"glance": {"switchToS3": True}}, "glance.switch_to_s3", True),
    ("CloudmonPingDuration", {"cloudmon": {"CloudmonPingDuration": 3}}, "cloudmon.cloudmon_ping_duration", 3),
    ("etcd TLS", {"etcd": {"TLS": {"static": {}}}}, "etcd.tls", {"static": {}}),
    ("etcd pod", {"etcd": {"pod": {"busyboxImage": "b"}}}, "etcd.pod", {"busyboxImage": "b"}),
    ("proxies from", {"regionDNS": {"proxies": [{"from": "."}]}}, "region_dns.proxies.0.from_", "."),
]


def _attr(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


@pytest.mark.parametrize(("spec", "path", "value"), [k[1:] for k in ODD_KEYS], ids=[k[0] for k in ODD_KEYS])
def test_odd_reference_keys(spec: dict[str, Any], path: str, value: Any) -> None:
    d = {**HEAD, "metadata": {"name": "x"}, "spec": spec}
    cluster = OnecloudCluster.model_validate(copy.deepcopy(d))
    assert _attr(cluster.spec, path) == value
    assert cluster.to_dict() == d


def _with_spec(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "default"}, "spec": spec}


UNKNOWN: list[tuple[str, dict[str, Any], tuple[str | int, ...]]] = [
    ("top-level", {"metadata": {"name": "d"}, "foo": 1}, ("foo",)),
    ("spec", _with_spec({"foo": {}}), ("spec", "foo")),
    ("component", _with_spec({"keystone": {"foo": 1}}), ("spec", "keystone", "foo")),
    (
        "sub-spec",
        _with_spec({"hostagent": {"SdnAgent": {"foo": 1}}}),
        ("spec", "hostagent", "SdnAgent", "foo"),
    ),
    (
        "service",
        _with_spec({"regionServer": {"service": {"port": 1}}}),
        ("spec", "regionServer", "service", "port"),
    ),
    ("wrong case", _with_spec({"regionserver": {}}), ("spec", "regionserver")),
    (
        "replicas on a DaemonSet",
        _with_spec({"hostagent": {"replicas": 2}}),
        ("spec", "hostagent", "replicas"),
    ),
    ("not a component", _with_spec({"region": {"tag": "x"}}), ("spec", "region")),
]


@pytest.mark.parametrize(("doc", "loc"), [u[1:] for u in UNKNOWN], ids=[u[0] for u in UNKNOWN])
def test_unknown_fields_are_refused(doc: dict[str, Any], loc: tuple[str | int, ...]) -> None:
    with pytest.raises(ValidationError) as err:
        OnecloudCluster.model_validate(doc)
    assert any(e["loc"][: len(loc)] == loc for e in err.value.errors()), err.value.errors()


@pytest.mark.parametrize(
    "spec",
    [
        {"region_server": {"tag": "x"}},
        {"webconsole": {"guacd": {"tag": "x"}}},
        {"keystone": {"image_name": "x"}},
    ],
    ids=["region_server", "guacd", "image_name"],
)
def test_python_attribute_names_are_not_json_keys(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OnecloudCluster.model_validate(_with_spec(spec))


NEGATIVE = [
    ("replicas", {"keystone": {"replicas": -1}}),
    ("slave_replicas", {"regionServer": {"slave_replicas": -1}}),
    ("echartsSSR replicas", {"echartsSSR": {"replicas": -3}}),
    ("etcd size", {"etcd": {"size": -1}}),
    ("maxUnavailableCount", {"hostagent": {"maxUnavailableCount": 0}}),
    ("cache_ttl", {"regionDNS": {"cache_ttl": -5}}),
    ("nodePort below the range", {"regionServer": {"service": {"nodePort": 8080}}}),
    ("nodePort too big", {"regionServer": {"service": {"nodePort": 70000}}}),
]


@pytest.mark.parametrize("spec", [n[1] for n in NEGATIVE], ids=[n[0] for n in NEGATIVE])
def test_out_of_range_numbers_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OnecloudCluster.model_validate(_with_spec(spec))


def test_zero_replicas_is_allowed() -> None:
    assert (
        OnecloudCluster.model_validate(_with_spec({"keystone": {"replicas": 0}})).spec.keystone.replicas == 0
    )


BAD_IMAGE_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("repository uppercase path", {"regionServer": {"repository": "registry.io/YunionIO"}}),
    ("repository with scheme", {"regionServer": {"repository": "https://registry.io/x"}}),
    ("repository trailing slash", {"regionServer": {"repository": "registry.io/x/"}}),
    ("repository with tag", {"regionServer": {"repository": "registry.io/x:tag/y"}}),
    ("repository with space", {"imageRepository": "registry .io/x"}),
    ("repository double slash", {"hostagent": {"SdnAgent": {"repository": "r.io//x"}}}),
    ("tag leading dash", {"regionServer": {"tag": "-dev"}}),
    ("tag with colon", {"regionServer": {"tag": "a:b"}}),
    ("tag with slash", {"version": "v3/11"}),
    ("tag too long", {"version": "v" * 129}),
    ("tag with space", {"webconsole": {"Guacd": {"tag": "1.6 .0"}}}),
    ("imageName uppercase", {"regionServer": {"imageName": "Region"}}),
    ("imageName with tag", {"regionServer": {"imageName": "region:v1"}}),
    ("imageName leading slash", {"web": {"Docs": {"imageName": "/docs"}}}),
    ("imageName double separator", {"regionServer": {"imageName": "re..gion"}}),
    ("image not a reference", {"keystone": {"image": "not an image"}}),
    ("initContainerImage bad", {"telegraf": {"initContainerImage": "registry.io/Telegraf-init:1"}}),
    ("etcd version bad", {"etcd": {"version": "3.5.12 "}}),
]


@pytest.mark.parametrize("spec", [b[1] for b in BAD_IMAGE_FIELDS], ids=[b[0] for b in BAD_IMAGE_FIELDS])
def test_bad_image_fields_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as err:
        OnecloudCluster.model_validate(_with_spec(spec))
    assert err.value.errors()[0]["type"] in ("string_pattern_mismatch", "string_too_long")


GOOD_IMAGE_FIELDS: list[dict[str, Any]] = [
    {"imageRepository": "registry.cn-beijing.aliyuncs.com/zexi"},
    {"regionServer": {"repository": "192.168.0.1:5000/yunionio", "tag": "lzx-dev"}},
    {"imageRepository": "localhost:5000"},
    {"imageRepository": "docker.io/library"},
    {"imageRepository": "Registry.Example.COM/a__b/c-d/e.f"},
    {"version": "archdev-v36"},
    {"version": "v3.11.5_rc.1"},
    {"version": "_x"},
    {"regionServer": {"imageName": "team/region-ee"}},
    {"keystone": {"image": "registry.io:5000/a/b:c"}},
    {"keystone": {"image": "busybox"}},
]


@pytest.mark.parametrize("spec", GOOD_IMAGE_FIELDS)
def test_good_image_fields_are_accepted(spec: dict[str, Any]) -> None:
    OnecloudCluster.model_validate(_with_spec(spec))


@pytest.mark.parametrize("policy", ["Always", "IfNotPresent", "Never"])
def test_image_pull_policy_values(policy: str) -> None:
    cl = OnecloudCluster.model_validate(_with_spec({"keystone": {"imagePullPolicy": policy}}))
    assert cl.spec.keystone.image_pull_policy == policy


@pytest.mark.parametrize("policy", ["always", "Sometimes"])
def test_image_pull_policy_enum(policy: str) -> None:
    with pytest.raises(ValidationError):
        OnecloudCluster.model_validate(_with_spec({"keystone": {"imagePullPolicy": policy}}))


@pytest.mark.parametrize("value", ["Baremetal", "fullstack"])
def test_product_version_enum(value: str) -> None:
    with pytest.raises(ValidationError):
        OnecloudCluster.model_validate(_with_spec({"productVersion": value}))


@pytest.mark.parametrize("name", ["Default", "1cluster", "a_b", "x" * 40, ""])
def test_cluster_names_that_cannot_prefix_service_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        OnecloudCluster.model_validate({"metadata": {"name": name}})


def _aliases() -> set[str]:
    return {info.alias or name for name, info in OnecloudClusterSpec.model_fields.items()}


def test_every_catalog_spec_key_is_a_spec_field_alias() -> None:
    missing = {c.spec_key.split(".")[0] for c in catalog.COMPONENTS} - _aliases()
    assert missing <= {"s3gateway"}  # s3gateway: test_s3gateway_is_a_spec_field_alias


def test_s3gateway_is_a_spec_field_alias() -> None:
    assert "s3gateway" in _aliases()


def test_every_reference_spec_key_is_a_field() -> None:
    assert set(REFERENCE_SPEC_KEYS) - _aliases() == set()


ADDITIONS = {"upgradeStrategy"}
"""Keys of ours the Go CRD lacks (each documented in the CRD's description and the README)."""


def test_the_spec_has_no_key_the_reference_lacks_but_our_additions() -> None:
    assert len(set(REFERENCE_SPEC_KEYS)) == len(REFERENCE_SPEC_KEYS) == 21 + 51
    assert _aliases() - set(REFERENCE_SPEC_KEYS) == ADDITIONS
