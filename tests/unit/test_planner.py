"""The planner against the reference's facts (reference_table.py, hand-written) and literal scenarios.

For each edition (ce, ce/support, ee), with and without useHyperImage, and each productVersion: which
components are planned, their objects (names, kinds), containers (init included), images and Service
ports. Then the gates (feature flags, default-off components, disable), the orderings the reference
enforces, labels and owner references, nodePort conflicts, and that no secret reaches any object.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, get_args

import pytest
from clusters import cluster, plan_for
from reference_table import (
    BY_NAME,
    COMPONENTS,
    EDITIONS,
    EVERYTHING_ON,
    PRODUCTS,
    Comp,
    Edition,
    Kind,
    Product,
    component_runs,
    container_runs,
    expected_image,
)

from cloudpods_operator import catalog, images, observed, planner
from cloudpods_operator.errors import SpecError
from cloudpods_operator.kinds import WORKLOAD_KINDS

VERSION = "v3.11.5"
UID = "6f1c1f0e-0000-4000-8000-000000000001"


# ---- helpers -------------------------------------------------------------------------------------


def enabled(plan: planner.Plan) -> set[str]:
    return {c.name for c in plan.components if c.state is planner.State.ENABLED}


def workloads(plan: planner.Plan) -> dict[str, dict[str, Any]]:
    return {o.name: o.body for o in plan.objects if o.kind in WORKLOAD_KINDS}


def pod(body: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = body["spec"]["template"]["spec"]
    return spec


def test_workload_kinds_are_the_reference_workload_kinds() -> None:
    """These tests find workloads by kinds.WORKLOAD_KINDS: it must be exactly the kinds the reference runs."""
    assert WORKLOAD_KINDS == set(get_args(Kind)) == {c.kind for c in COMPONENTS}


# ---- the matrix: edition x useHyperImage x productVersion -------------------------------------


def matrix_plan(edition: str, hyper: bool, product: str) -> planner.Plan:
    return plan_for({"productVersion": product, "useHyperImage": hyper, "version": VERSION}, edition)


MATRIX: list[tuple[Edition, bool, Product]] = [
    (e, h, p) for e in EDITIONS for h in (False, True) for p in PRODUCTS
]


def summary_expected(comp: Comp, edition: Edition, hyper: bool, product: Product) -> dict[str, Any]:
    """What the reference plans for one running component, from the table alone."""
    objects: set[tuple[str, str]] = {(comp.kind, f"default-{comp.name}")}
    objects |= {("Service", f"default-{comp.name}{s.suffix}") for s in comp.services}
    if comp.config_map:  # the config holds passwords: a Secret <cluster>-<component>-config
        objects.add(("Secret", f"default-{comp.name}-config"))
    if comp.pvc:
        objects.add(("PersistentVolumeClaim", f"default-{comp.name}"))
    if comp.ingress:
        objects.add(("Ingress", f"default-{comp.name}"))
    runs = [i for i in comp.images if container_runs(i, edition=edition, product=product)]
    return {
        "objects": sorted(objects),
        "containers": [i.container for i in runs if not i.init],
        "init": [i.container for i in runs if i.init],
        "images": {
            i.container: expected_image(i, edition=edition, hyper=hyper, version=VERSION) for i in runs
        },
        "services": {
            f"default-{comp.name}{s.suffix}": {
                "type": s.type,
                "headless": s.headless,
                "ports": [(p.name, p.port, p.target, p.node_port) for p in s.ports],
            }
            for s in comp.services
        },
    }


def summary_actual(plan: planner.Plan, component: str) -> dict[str, Any]:
    objs = [o for o in plan.objects if o.component == component]
    [work] = [o.body for o in objs if o.kind in WORKLOAD_KINDS]
    spec = pod(work)
    return {
        "objects": sorted((o.kind, o.name) for o in objs),
        "containers": [c["name"] for c in spec["containers"]],
        "init": [c["name"] for c in spec.get("initContainers", [])],
        "images": {c["name"]: c["image"] for c in [*spec.get("initContainers", []), *spec["containers"]]},
        "services": {
            o.name: {
                "type": o.body["spec"]["type"],
                "headless": o.body["spec"].get("clusterIP") == "None",
                "ports": [
                    (p["name"], p["port"], p["targetPort"], p.get("nodePort"))
                    for p in o.body["spec"].get("ports", [])
                ],
            }
            for o in objs
            if o.kind == "Service"
        },
    }


@pytest.mark.parametrize(
    ("edition", "hyper", "product"),
    MATRIX,
    ids=[f"{e}-{'hyper' if h else 'plain'}-{p}" for e, h, p in MATRIX],
)
def test_matrix(edition: Edition, hyper: bool, product: Product) -> None:
    plan = matrix_plan(edition, hyper, product)
    expected_on = {c.name for c in COMPONENTS if component_runs(c, edition=edition, product=product)}
    assert enabled(plan) == expected_on
    assert {c.name for c in plan.components} == set(BY_NAME)
    actual = {name: summary_actual(plan, name) for name in sorted(expected_on)}
    expected = {
        name: summary_expected(BY_NAME[name], edition, hyper, product) for name in sorted(expected_on)
    }
    assert actual == expected
    planned_components = {o.component for o in plan.objects} - {"cluster"}
    assert planned_components == expected_on


# Literal lists for a few cells of the matrix, as a guard on the oracle in reference_table.py.
CE_FULLSTACK = {
    "etcd", "keystone", "region", "scheduler", "glance", "webconsole", "logger", "yunionconf",
    "victoria-metrics", "telegraf", "monitor", "apigateway", "web", "kubeserver", "ansibleserver",
    "cloudproxy", "cloudevent", "notify", "lbagent", "host", "host-deployer", "host-image",
    "host-sdnagent", "host-ovn-controller", "host-ovsdb-server", "host-ovs-vswitchd", "host-health",
    "baremetal-agent", "devtool", "cloudmon", "esxi-agent", "onecloud-service-operator", "ovn-north",
    "vpcagent", "cloudid", "scheduledtask", "llm", "mcp-server", "aiproxy", "climc", "region-dns",
}  # fmt: skip
EE_ONLY = {"meter", "billing", "autoupdate", "itsm", "suggestion", "report", "bastionhost", "extdb"}
LITERAL_CELLS: list[tuple[str, Product, set[str]]] = [
    ("ce", "FullStack", CE_FULLSTACK),
    ("ce/support", "FullStack", CE_FULLSTACK | {"yunionagent"}),
    ("ee", "FullStack", CE_FULLSTACK | {"yunionagent"} | EE_ONLY),
    (
        "ce",
        "LightEdge",
        {
            "etcd", "keystone", "region", "scheduler", "glance", "webconsole", "logger", "yunionconf",
            "victoria-metrics", "telegraf", "monitor", "apigateway", "web", "kubeserver", "notify", "host",
            "host-sdnagent", "host-ovsdb-server", "host-ovs-vswitchd", "host-health", "climc", "region-dns",
            "host-image", "host-deployer",  # HEAD f4a26910: the host family runs in LightEdge too
        },
    ),
    (
        "ce",
        "AI",
        {
            "etcd", "keystone", "region", "scheduler", "glance", "webconsole", "logger", "yunionconf",
            "victoria-metrics", "telegraf", "monitor", "apigateway", "web", "kubeserver", "ansibleserver",
            "notify", "lbagent", "host-sdnagent", "host-ovn-controller", "host-ovsdb-server",
            "host-ovs-vswitchd", "host-health", "devtool", "ovn-north", "vpcagent", "scheduledtask", "llm",
            "mcp-server", "aiproxy", "climc", "region-dns",
            "host", "host-image", "host-deployer",  # HEAD f4a26910: the host family runs in AI too
        },
    ),
    (
        "ce",
        "CMP",
        {
            "etcd", "keystone", "region", "scheduler", "glance", "webconsole", "logger", "yunionconf",
            "victoria-metrics", "monitor", "apigateway", "web", "kubeserver", "ansibleserver", "cloudproxy",
            "cloudevent", "notify", "devtool", "cloudmon", "esxi-agent", "onecloud-service-operator",
            "cloudid", "scheduledtask", "llm", "mcp-server", "aiproxy", "climc", "region-dns",
            "host-deployer",  # HEAD f4a26910: all five product versions
        },
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edition", "product", "names"), LITERAL_CELLS, ids=[f"{e}-{p}" for e, p, _ in LITERAL_CELLS]
)
def test_planned_components_literal(edition: str, product: Product, names: set[str]) -> None:
    assert enabled(matrix_plan(edition, False, product)) == names


# ---- gates -------------------------------------------------------------------------------------


def test_light_edge_runs_without_local_vpc() -> None:
    """``disableLocalVpc: false`` with LightEdge is refused by the model as by the CRD (test_validation)."""
    for spec in ({"productVersion": "LightEdge"}, {"productVersion": "LightEdge", "disableLocalVpc": True}):
        plan = plan_for(spec, "ee")
        on = enabled(plan)
        assert not on & {"ovn-north", "vpcagent", "host-ovn-controller"}
        assert {"host", "host-ovsdb-server", "host-ovs-vswitchd"} <= on
        assert "lbagent" not in on  # FEA: LightEdge does not run it at all
        lb = dict(plan.component("lbagent").containers)
        assert "ovn-controller" not in lb


def test_disable_local_vpc_drops_the_lbagent_ovn_controller_container() -> None:
    plan = plan_for({"disableLocalVpc": True})
    assert not enabled(plan) & {"ovn-north", "vpcagent", "host-ovn-controller"}
    assert [c["name"] for c in pod(workloads(plan)["default-lbagent"])["containers"]] == ["lbagent"]
    with_vpc = plan_for({})
    # HEAD: lbagent has one container whatever the local VPC (lbagent.OvnController builds none)
    assert [c["name"] for c in pod(workloads(with_vpc)["default-lbagent"])["containers"]] == ["lbagent"]


BOTH_FLAGS = {"enableCloudNet": True, "enableS3Gateway": True}
FEATURE_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("FullStack-no-flags", {}, set()),
    ("FullStack-flags", BOTH_FLAGS, {"cloudnet", "s3gateway"}),
    ("CMP-flags", {**BOTH_FLAGS, "productVersion": "CMP"}, {"s3gateway"}),  # cloudnet is FullStack only
    ("Edge-flags", {**BOTH_FLAGS, "productVersion": "Edge"}, set()),
    ("FullStack-cloudnet-only", {"enableCloudNet": True}, {"cloudnet"}),
]


@pytest.mark.parametrize(
    ("spec", "running"), [c[1:] for c in FEATURE_CASES], ids=[c[0] for c in FEATURE_CASES]
)
def test_feature_flags(spec: dict[str, Any], running: set[str]) -> None:
    assert enabled(plan_for(spec, "ee")) & {"cloudnet", "s3gateway"} == running


DEFAULT_OFF = [
    ("apimap", "apiMap"),
    ("cloudmux", "cloudmux"),
    ("echarts-ssr", "echartsSSR"),
]


def test_influxdb_is_never_run_as_in_the_reference() -> None:
    """The Go operator never runs it, and every CR it defaulted says influxdb.disable: false."""
    plan = plan_for({"influxdb": {"disable": False}}, "ee")
    assert plan.component("influxdb").state is planner.State.DISABLED
    assert not [o for o in plan.objects if o.component == "influxdb"]


@pytest.mark.parametrize(("component", "key"), DEFAULT_OFF, ids=[c for c, _ in DEFAULT_OFF])
def test_default_off_components_need_an_explicit_disable_false(component: str, key: str) -> None:
    def all_four(value: dict[str, Any]) -> planner.Plan:  # one plan per setting serves every case
        return plan_for({k: value for _, k in DEFAULT_OFF}, "ee")

    assert component not in enabled(plan_for({}, "ee"))
    assert component not in enabled(all_four({"replicas": 1}))
    assert component not in enabled(all_four({"disable": True}))
    on = all_four({"disable": False})
    assert component in enabled(on)
    assert f"default-{component}" in workloads(on)


def test_echarts_ssr_stays_ee_only_even_when_enabled() -> None:
    assert "echarts-ssr" not in enabled(plan_for({"echartsSSR": {"disable": False}}, "ce/support"))


DISABLE_CASES = [
    ("glance", "glance", {"Secret", "PersistentVolumeClaim"}),
    ("keystone", "keystone", {"Secret"}),
    ("victoria-metrics", "victoriaMetrics", {"PersistentVolumeClaim"}),
    ("region", "regionServer", {"Secret"}),
    ("baremetal-agent", "baremetalagent", {"Secret", "PersistentVolumeClaim"}),
]


@pytest.mark.parametrize(("component", "key", "kept"), DISABLE_CASES, ids=[c[0] for c in DISABLE_CASES])
def test_disable_true_drops_the_workload_and_keeps_config_and_data(
    component: str, key: str, kept: set[str]
) -> None:
    plan = plan_for({k: {"disable": True} for _, k, _ in DISABLE_CASES})  # one plan serves every case
    assert plan.component(component).state is planner.State.DISABLED
    assert not [o for o in plan.objects if o.component == component]
    for kind in ("Secret", "PersistentVolumeClaim"):  # its config (a Secret) and its data are kept
        assert plan.retained(component, kind), kind
    assert plan.retained(component, "Service")  # the product still runs it: the reference keeps its Service
    assert not plan.retained(component, BY_NAME[component].kind)
    assert kept <= {o.kind for o in plan_for({}).objects if o.component == component}


def test_product_exclusion_prunes_the_service_too() -> None:
    plan = plan_for({"productVersion": "CMP"})
    assert plan.component("vpcagent").state is planner.State.DISABLED
    assert not plan.retained("vpcagent", "Service")
    assert plan.retained("vpcagent", "Secret")
    assert not plan.retained("vpcagent", "Deployment")


def test_hostagent_disable_stops_the_host_family() -> None:
    on = enabled(plan_for({"hostagent": {"disable": True}}))
    assert not on & {"host", "host-sdnagent", "host-ovsdb-server", "host-ovs-vswitchd", "host-ovn-controller"}
    assert "host-health" not in on
    assert "host-image" in on  # HEAD: only hostimage.disable stops it
    assert "host-image" not in enabled(plan_for({"hostimage": {"disable": True}}))


# ---- switching product version and edition -------------------------------------------------------


def test_fullstack_to_cmp_removes_exactly_what_cmp_does_not_run() -> None:
    full = set(workloads(matrix_plan("ce", False, "FullStack")))
    cmp_ = set(workloads(matrix_plan("ce", False, "CMP")))
    assert cmp_ - full == set()
    assert full - cmp_ == {
        "default-telegraf",
        "default-ovn-north",
        "default-vpcagent",
        "default-host-image",
        "default-host",
        "default-host-sdnagent",
        "default-host-ovn-controller",
        "default-host-ovsdb-server",
        "default-host-ovs-vswitchd",
        "default-host-health",
        "default-baremetal-agent",
        "default-lbagent",
    }


def _images(plan: planner.Plan) -> dict[tuple[str, str], str]:
    return {
        (o.component, c["name"]): c["image"]
        for o in plan.objects
        if o.kind in WORKLOAD_KINDS
        for c in [*pod(o.body).get("initContainers", []), *pod(o.body)["containers"]]
    }


@pytest.mark.parametrize(
    ("edition", "added", "renamed", "new_containers"),
    [
        (
            "ee",
            {"yunionagent", *EE_ONLY},
            {
                ("region", "region"): "region-ee",
                ("region", "init"): "region-ee",
                ("monitor", "monitor"): "monitor-ee",
                ("cloudmon", "cloudmon"): "cloudmon-ee",
                ("mcp-server", "mcp-server"): "mcp-server-ee",
                ("apigateway", "api"): "apigateway-ee",
                ("climc", "climc"): "climc-ee",
                ("web", "web"): "web-ee",
            },
            {("apigateway", "ws"), ("web", "overview"), ("web", "docs")},
        ),
        (
            "ce/support",
            {"yunionagent"},
            {
                ("apigateway", "api"): "apigateway-ee",
                ("climc", "climc"): "climc-ee",
                ("web", "web"): "web-ee",
            },
            {("apigateway", "ws")},
        ),
    ],
)
def test_switching_edition_from_ce(
    edition: str, added: set[str], renamed: dict[tuple[str, str], str], new_containers: set[tuple[str, str]]
) -> None:
    ce, other = matrix_plan("ce", False, "FullStack"), matrix_plan(edition, False, "FullStack")
    assert enabled(other) - enabled(ce) == added
    assert enabled(ce) - enabled(other) == set()
    before, after = _images(ce), _images(other)
    common = {k: v for k, v in after.items() if k[0] not in added}
    assert set(common) - set(before) == new_containers
    changed = {k: v for k, v in common.items() if k in before and before[k] != v}
    prefix = "registry.cn-beijing.aliyuncs.com/yunionio/"
    assert changed == {k: f"{prefix}{name}:{VERSION}" for k, name in renamed.items()}


# ---- provenance: every image string comes from images.image_for --------------------------------

PROVENANCE_SPECS: list[tuple[str, str | None, dict[str, Any]]] = [
    ("ce-defaults", None, {}),
    ("ee-everything-hyper", "ee", {**EVERYTHING_ON, "useHyperImage": True, "version": "v4.0.0"}),
    (
        "ce-support-overrides",
        "ce/support",
        {
            "imageRepository": "reg.example.com:5000/mirror",
            "regionServer": {"repository": "192.168.0.1:5000/yunionio", "tag": "lzx-dev"},
            "hostagent": {"SdnAgent": {"imageName": "sdn"}, "OvnController": {"tag": "2.17"}},
            "telegraf": {"repository": "t.io/x", "tag": "t1", "enableRaidPlugin": True},
            "etcd": {"repository": "quay.io/coreos", "version": "3.5.1"},
        },
    ),
    ("light-edge", "ee", {"productVersion": "LightEdge", "useHyperImage": True}),
    ("zones", "ce", {"customZones": ["zone1", "zone2"], "version": "v3.10.0"}),
]


@pytest.mark.parametrize(
    ("edition", "spec"), [p[1:] for p in PROVENANCE_SPECS], ids=[p[0] for p in PROVENANCE_SPECS]
)
def test_every_container_image_comes_from_the_image_planner(
    edition: str | None, spec: dict[str, Any]
) -> None:
    plan = plan_for(spec, edition)
    model = cluster(spec, edition).spec
    checked = 0
    for obj in plan.objects:
        if obj.kind not in WORKLOAD_KINDS:
            continue
        comp = catalog.BY_NAME[obj.component]
        by_name = {c.name: c for c in (*comp.containers, *comp.init_containers)}
        for container in [*pod(obj.body).get("initContainers", []), *pod(obj.body)["containers"]]:
            source = by_name[container["name"]]
            resolved = images.image_for(model, images.edition_of(plan.cluster), comp, source.image)
            assert container["image"] == str(resolved), (obj.name, container["name"])
            checked += 1
    assert checked > 30


# ---- ordering gates ------------------------------------------------------------------------------

OVS_IMAGE = "registry.cn-beijing.aliyuncs.com/yunionio/openvswitch:2.12.4-20260415"
KEYSTONE_UP = observed.WorkloadState(images=(), desired=1, updated=1, ready=1, available=1, rolled_out=True)


def observe(**states: observed.WorkloadState) -> observed.Observed:
    return observed.Observed(workloads={f"default-{k.replace('_', '-')}": v for k, v in states.items()})


def states(plan: planner.Plan) -> dict[str, planner.State]:
    return {c.name: c.state for c in plan.components}


def test_no_gating_without_observations() -> None:
    plan = planner.plan(cluster({}), None)
    assert planner.State.WAITING not in states(plan).values()


def test_vswitchd_waits_for_ovsdb_server_rolled_out_with_the_expected_image() -> None:
    c = cluster({})
    nothing = states(planner.plan(c, observe(keystone=KEYSTONE_UP)))
    assert nothing["host-ovsdb-server"] is planner.State.ENABLED
    assert nothing["host-ovs-vswitchd"] is planner.State.WAITING
    assert nothing["host-ovn-controller"] is planner.State.WAITING

    rolling = observed.WorkloadState(images=(OVS_IMAGE,), desired=3, updated=1, ready=1, available=1)
    assert (
        states(planner.plan(c, observe(keystone=KEYSTONE_UP, host_ovsdb_server=rolling)))["host-ovs-vswitchd"]
        is planner.State.WAITING
    )

    old = observed.WorkloadState(images=(OVS_IMAGE.replace("20260415", "2"),), rolled_out=True)
    assert (
        states(planner.plan(c, observe(keystone=KEYSTONE_UP, host_ovsdb_server=old)))["host-ovs-vswitchd"]
        is planner.State.WAITING
    )

    done = observed.WorkloadState(
        images=(OVS_IMAGE,), desired=3, updated=3, ready=3, available=3, rolled_out=True
    )
    ready = planner.plan(c, observe(keystone=KEYSTONE_UP, host_ovsdb_server=done))
    assert states(ready)["host-ovs-vswitchd"] is planner.State.ENABLED
    assert states(ready)["host-ovn-controller"] is planner.State.WAITING  # waits on vswitchd in turn
    assert "default-host-ovs-vswitchd" in workloads(ready)
    assert "default-host-ovn-controller" not in workloads(ready)

    chain = planner.plan(c, observe(keystone=KEYSTONE_UP, host_ovsdb_server=done, host_ovs_vswitchd=done))
    assert states(chain)["host-ovn-controller"] is planner.State.ENABLED


def test_a_waiting_workload_is_neither_applied_nor_pruned() -> None:
    plan = planner.plan(cluster({}), observe(keystone=KEYSTONE_UP))
    assert plan.component("host-ovs-vswitchd").state is planner.State.WAITING
    assert "default-host-ovs-vswitchd" not in workloads(plan)
    assert plan.retained("host-ovs-vswitchd", "DaemonSet")


NEEDS_KEYSTONE = [
    "region", "scheduler", "glance", "webconsole", "logger", "yunionconf", "kubeserver", "ansibleserver",
    "apigateway", "monitor", "cloudmon", "notify", "host", "lbagent", "vpcagent", "climc", "cloudproxy",
    "cloudevent", "devtool", "cloudid", "scheduledtask", "llm", "mcp-server", "aiproxy", "esxi-agent",
    "baremetal-agent", "onecloud-service-operator", "region-dns",
]  # fmt: skip


@pytest.mark.parametrize(
    ("keystone", "waiting"),
    [
        (None, True),
        (observed.WorkloadState(images=(), desired=1, updated=1, ready=0, available=0), True),
        (KEYSTONE_UP, False),
    ],
    ids=["absent", "unavailable", "available"],
)
def test_services_wait_for_keystone(keystone: observed.WorkloadState | None, waiting: bool) -> None:
    seen = observe(keystone=keystone) if keystone else observed.Observed()
    got = states(planner.plan(cluster({}), seen))
    assert got["keystone"] is planner.State.ENABLED
    assert got["etcd"] is planner.State.ENABLED
    expected = planner.State.WAITING if waiting else planner.State.ENABLED
    assert {n: got[n] for n in NEEDS_KEYSTONE} == dict.fromkeys(NEEDS_KEYSTONE, expected)


def test_baremetal_agent_scales_to_zero_without_labelled_nodes() -> None:
    c = cluster({})
    none = planner.plan(
        c, observed.Observed(workloads=observe(keystone=KEYSTONE_UP).workloads, node_labels=frozenset())
    )
    assert workloads(none)["default-baremetal-agent"]["spec"]["replicas"] == 0
    labelled = planner.plan(
        c,
        observed.Observed(
            workloads=observe(keystone=KEYSTONE_UP).workloads,
            node_labels=frozenset({catalog.BAREMETAL_LABEL}),
        ),
    )
    assert workloads(labelled)["default-baremetal-agent"]["spec"].get("replicas", 1) >= 1


# ---- labels, owners, names ---------------------------------------------------------------------


def selector(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "onecloud-cluster",
        "app.kubernetes.io/managed-by": "onecloud-operator",
        "app.kubernetes.io/instance": f"onecloud-cluster-{name}",
        "app.kubernetes.io/component": component,
        "app": component,
    }


# The selectors the Go operator writes (immutable: a takeover needs exactly these), from the appendix of
# shared/reference/cloudpods-operator.md (running its code at HEAD f4a26910): the five labels, plus these.
GO_SELECTOR_EXCEPTIONS: dict[str, dict[str, str]] = {
    "host": {"onecloud.yunion.io/host-deployer": ""},
    "glance": {"onecloud.yunion.io/host-deployer": ""},
    "esxi-agent": {"onecloud.yunion.io/host-deployer": ""},
    "onecloud-service-operator": {
        "app": "osOperator",
        "app.kubernetes.io/component": "osOperator",
        "control-plane": "controller-manager",
    },
}


@pytest.mark.parametrize("uid", [UID, None], ids=["with-uid", "without-uid"])
def test_labels_and_owner_references(uid: str | None) -> None:
    plan = planner.plan(cluster(EVERYTHING_ON, "ee", name="oc1", uid=uid))
    kinds = set()
    for obj in plan.objects:
        kinds.add(obj.kind)
        meta = obj.body["metadata"]
        if obj.kind == "ServiceAccount":  # shared by the namespace's clusters: no cluster's labels or owner
            assert (meta["name"], meta.get("ownerReferences")) == ("onecloud-operator", None)
            continue
        labels = selector("oc1", obj.component)
        assert meta["labels"].items() >= labels.items(), obj.key
        assert meta["namespace"] == "onecloud"
        assert meta["name"].startswith("oc1-")
        owners = meta.get("ownerReferences", [])
        if obj.kind == "PersistentVolumeClaim" or uid is None:
            assert owners == [], obj.key
        else:
            assert owners == [
                {
                    "apiVersion": "onecloud.yunion.io/v1alpha1",
                    "kind": "OnecloudCluster",
                    "name": "oc1",
                    "uid": UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ], obj.key
        if obj.kind in WORKLOAD_KINDS:
            selects = labels | GO_SELECTOR_EXCEPTIONS.get(obj.component, {})
            assert obj.body["spec"]["selector"] == {"matchLabels": selects}, obj.key
            assert obj.body["spec"]["template"]["metadata"]["labels"] == selects, obj.key
        if obj.kind == "Service":
            service = {k: v for k, v in GO_SELECTOR_EXCEPTIONS.get(obj.component, {}).items() if v}
            assert obj.body["spec"]["selector"] == labels | service, obj.key
    assert kinds >= {
        *WORKLOAD_KINDS,
        "Service",
        "Secret",
        "PersistentVolumeClaim",
        "Ingress",
        "ServiceAccount",
    }


def test_object_names_follow_the_cluster_name_and_zones() -> None:
    plan = planner.plan(cluster({"customZones": ["zone1"]}, name="prod"))
    names = set(workloads(plan))
    assert {"prod-region", "prod-keystone", "prod-host"} <= names
    assert {
        "prod-esxi-agent",
        "prod-esxi-agent-zone1",
        "prod-baremetal-agent",
        "prod-baremetal-agent-zone1",
    } <= names
    assert all(n.startswith("prod-") for n in names - {"onecloud-operator"})
    # The reference's workloads use the namespace's shared ServiceAccount (its install manifest's).
    assert pod(workloads(plan)["prod-region"])["serviceAccountName"] == "onecloud-operator"
    assert ("ServiceAccount", "onecloud-operator") in {(o.kind, o.name) for o in plan.objects}


# ---- nodePorts -------------------------------------------------------------------------------


def test_node_port_conflict_between_two_components_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as err:
        planner.plan(cluster({"regionServer": {"service": {"nodePort": 30500}}}))
    assert "30500" in str(err.value)
    assert err.value.field.startswith("spec.")
    assert "keystone" in str(err.value) or "regionServer" in err.value.field


def test_node_port_of_a_component_that_does_not_run_is_no_conflict() -> None:
    plan = planner.plan(cluster({"s3gateway": {"service": {"nodePort": 30500}}}))
    assert "s3gateway" not in enabled(plan)


def test_service_node_port_moves_port_and_node_port() -> None:
    plan = planner.plan(cluster({"regionServer": {"service": {"nodePort": 31888}}}))
    [svc] = [o.body for o in plan.objects if o.kind == "Service" and o.name == "default-region"]
    assert svc["spec"]["ports"] == [
        {"name": "api", "port": 31888, "targetPort": 30888, "protocol": "TCP", "nodePort": 31888}
    ]


def test_node_port_conflict_inside_one_component_is_a_spec_error() -> None:
    with pytest.raises(SpecError):
        planner.plan(cluster({"keystone": {"publicService": {"nodePort": 30357}}}))


INTERNAL_ONLY = [
    (
        "keystone-both",
        "keystone",
        {"keystone": {"publicService": {"internalOnly": True}, "adminService": {"internalOnly": True}}},
    ),
    ("keystone-admin", "keystone", {"keystone": {"adminService": {"internalOnly": True}}}),
    ("apigateway-api", "apigateway", {"apiGateway": {"apiService": {"internalOnly": True}}}),
    ("region", "region", {"regionServer": {"service": {"internalOnly": True}}}),
]


@pytest.mark.parametrize(
    ("component", "spec"), [c[1:] for c in INTERNAL_ONLY], ids=[c[0] for c in INTERNAL_ONLY]
)
def test_internal_only_services(component: str, spec: dict[str, Any]) -> None:
    """keystone follows adminService.internalOnly, apigateway apiService.internalOnly (the reference)."""
    plan = plan_for(spec)
    [svc] = [o.body for o in plan.objects if o.kind == "Service" and o.name == f"default-{component}"]
    assert svc["spec"]["type"] == "ClusterIP"
    assert all("nodePort" not in p for p in svc["spec"]["ports"])


# ---- secrets -------------------------------------------------------------------------------------

SECRETS = ("s3cr3t-test", "b00tstrap-test")


@pytest.mark.parametrize("edition", ["ce", "ee"])
def test_no_secret_value_in_any_planned_object(edition: str) -> None:
    spec = {
        **EVERYTHING_ON,
        "mysql": {"host": "db.example.com", "port": 3306, "username": "root", "password": SECRETS[0]},
        "keystone": {"bootstrapPassword": SECRETS[1]},
    }
    plan = planner.plan(cluster(spec, edition, uid=UID))
    text = json.dumps([o.body for o in plan.objects])
    for secret in SECRETS:
        assert secret not in text
    configs = [
        base64.b64decode(o.body["data"]["config"]).decode()
        for o in plan.objects
        if o.name.endswith("-config")
    ]
    assert len(configs) > 20
    assert any("db.example.com" in c for c in configs)  # the spec did reach the configs
    assert not [o.key for o in plan.objects if o.kind == "ConfigMap"]  # configs hold passwords: Secrets


def test_planning_is_deterministic() -> None:
    spec = {**EVERYTHING_ON, "version": VERSION, "customZones": ["z1"]}
    a = planner.plan(cluster(spec, "ee", uid=UID))
    b = planner.plan(cluster(spec, "ee", uid=UID))
    assert [(o.key, o.body) for o in a.objects] == [(o.key, o.body) for o in b.objects]
    assert len({o.key for o in a.objects}) == len(a.objects)  # no object planned twice


# ---- the database gate ---------------------------------------------------------------------------


def _db_observed(databases: frozenset[str] | None) -> observed.Observed:
    return observed.Observed(workloads=observe(keystone=KEYSTONE_UP).workloads, databases=databases)


def test_a_component_waits_for_its_database_until_it_is_ensured() -> None:
    spec = cluster({})
    with_db = {
        c.name: c.component.db
        for c in planner.plan(spec, None).components
        if c.state is planner.State.ENABLED and c.component.db
    }
    assert "keystone" in with_db and "region" in with_db
    none_yet = planner.plan(spec, _db_observed(frozenset()))
    for name, db in with_db.items():
        comp = none_yet.component(name)
        assert (comp.state, comp.reason) == (planner.State.WAITING, f"waiting for database {db}")
        assert comp.objects and not {o.key for o in comp.objects} & {o.key for o in none_yet.objects}
        assert comp.retained_kinds >= WORKLOAD_KINDS  # a live workload is kept, never pruned
    without_db = [
        c for c in none_yet.components if c.state is not planner.State.DISABLED and not c.component.db
    ]
    assert without_db and all(not c.reason.startswith("waiting for database") for c in without_db)

    everything = planner.plan(spec, _db_observed(frozenset(with_db.values())))
    assert all(not c.reason.startswith("waiting for database") for c in everything.components)
    assert everything.component("region").state is planner.State.ENABLED


def test_a_cluster_on_dameng_is_not_managed() -> None:
    from cloudpods_operator import provisioning

    mysql = {"mysql": {"host": "mysql", "port": 3306, "username": "root"}}
    assert provisioning.Provisioner.managed(cluster(mysql))
    assert not provisioning.Provisioner.managed(cluster({**mysql, "db_engine": "dameng"}))
    assert not provisioning.Provisioner.managed(cluster({}))


def test_no_database_gate_when_not_managed_or_on_dameng() -> None:
    unmanaged = planner.plan(cluster({}), _db_observed(None))
    assert all(not c.reason.startswith("waiting for database") for c in unmanaged.components)
    dameng = planner.plan(cluster({"db_engine": "dameng"}), _db_observed(frozenset()))
    assert all(not c.reason.startswith("waiting for database") for c in dameng.components)
    assert planner.mysql_database(cluster({"db_engine": "dameng"}).spec, catalog.BY_NAME["region"]) is None
    assert planner.mysql_database(cluster({}).spec, catalog.BY_NAME["region"]) == "yunioncloud"
