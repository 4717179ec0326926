"""The image rule for every component and container of the catalog, against reference_table.py.

Expectations come from the hand-written table (reference_table.py) and literal strings from the
reference's scenarios (shared/reference/README.md, cloudpods-operator.md §4); images.image_for is never
used to compute one. Images are read from the planned objects' pod templates wherever the component
runs, and from the plan's resolved containers for components the edition or product does not run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
import reference_table
from clusters import catalog_images, cluster, merge, nested, plan_for
from reference_table import (
    DEFAULT_REPOSITORY,
    EVERYTHING_ON,
    IMAGES,
    Edition,
    container_runs,
    expected_image,
)

from cloudpods_operator import catalog, images, planner
from cloudpods_operator.errors import SpecError
from cloudpods_operator.kinds import WORKLOAD_KINDS

V36 = "archdev-v36"
ZEXI = "registry.cn-beijing.aliyuncs.com/zexi"
LOCAL = "192.168.0.1:5000/yunionio"

# The pinned third-party / separately versioned images and their own tags (README rule 3, §4).
PINNED: dict[str, str] = {
    "openvswitch": "2.12.4-20260415",
    "guacd": "1.6.0",
    "host-image": "v1.0.8",
    "host-health": "v0.0.4",
    "telegraf": "release-1.36.4-6",
    "telegraf-init": "release-1.36-1",
    "telegraf-raid-plugin": "v4.0-20260115.0",
    "victoria-metrics": "v1.129.1-1",
    "echarts-ssr": "v0.0.6",
    "etcd": "3.5.12",
    "busybox": "1.37.0-glibc",
}


# ---- helpers -------------------------------------------------------------------------------------


def workload_images(plan: planner.Plan) -> dict[tuple[str, str], str]:
    """(component, container) -> image, from the pod templates of the planned workloads."""
    out: dict[tuple[str, str], str] = {}
    for obj in plan.objects:
        if obj.kind not in WORKLOAD_KINDS or obj.name != f"default-{obj.component}":
            continue
        pod = obj.body["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            out[(obj.component, container["name"])] = container["image"]
    return out


def resolved_images(plan: planner.Plan) -> dict[tuple[str, str], str]:
    """(component, container) -> image, as resolved for every component, planned or not."""
    return {(c.name, name): str(ref) for c in plan.components for name, ref in c.containers}


def workload(plan: planner.Plan, name: str) -> dict[str, Any]:
    found = [o.body for o in plan.objects if o.kind in WORKLOAD_KINDS and o.name == name]
    assert len(found) == 1, f"expected one workload {name}, found {len(found)}"
    return found[0]


def pod_images(body: Mapping[str, Any]) -> list[str]:
    pod = body["spec"]["template"]["spec"]
    return [c["image"] for c in [*pod.get("initContainers", []), *pod["containers"]]]


# ---- the scenario table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One image scenario: the spec it writes (over EVERYTHING_ON) and the images the table expects."""

    id: str
    edition: Edition
    version: str | None = None
    repository: str | None = None
    hyper: bool = False
    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)  # spec keys that must not change any image

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = dict(EVERYTHING_ON)
        if self.version:
            spec["version"] = self.version
        if self.repository:
            spec["imageRepository"] = self.repository
        if self.hyper:
            spec["useHyperImage"] = True
        for path, values in self.overrides.items():
            if path == "etcd":  # etcd names its tag `version`
                values = {"version" if k == "tag" else k: v for k, v in values.items()}
            spec = merge(spec, nested(path, values))
        return merge(spec, self.extra)

    def expected(self, key: tuple[str, str]) -> str:
        return expected_image(
            IMAGES[key],
            edition=self.edition,
            hyper=self.hyper,
            repository=self.repository,
            version=self.version,
            overrides=self.overrides,
        )


def _slug(path: str) -> str:
    return path.replace(".", "-").lower()


# Every per-component and sub-spec override path at once, each with its own values: a container reading
# the wrong spec path gets another path's values and fails.
OVERRIDE_PATHS = (
    "hostagent.SdnAgent",
    "hostagent.OvnController",
    "hostagent.HostHealth",
    "lbagent.OvnController",
    "webconsole.Guacd",
    "web.Overview",
    "web.Docs",
    "telegraf.TelegrafRaid",
    "telegraf",
    "hostimage",
    "ovnNorth",
    "hostagent",
    "webconsole",
    "lbagent",
    "web",
    "keystone",
    "victoriaMetrics",
    "echartsSSR",
)
ALL_OVERRIDES: dict[str, dict[str, str]] = {
    p: {
        "repository": f"my.registry.io:5000/{_slug(p)}",
        "tag": f"t-{_slug(p)}",
        "imageName": f"img-{_slug(p)}",
    }
    for p in OVERRIDE_PATHS
} | {"etcd": {"repository": "quay.io/coreos", "tag": "3.5.99"}}
OVERRIDE_EDITIONS: tuple[tuple[Edition, bool], ...] = (("ce", True), ("ee", False))

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("defaults", "ce"),
    *(Scenario(f"version-{e}", e, version=V36) for e in ("ce", "ce/support", "ee")),
    *(Scenario(f"repository-{e}", e, repository=ZEXI) for e in ("ce", "ee")),
    *(Scenario(f"both-{e}", e, version=V36, repository=ZEXI) for e in ("ce/support", "ee")),
    *(Scenario(f"hyper-{e}", e, version=V36, hyper=True) for e in ("ce", "ce/support", "ee")),
    Scenario(
        "region-override",
        "ce",
        version=V36,
        overrides={"regionServer": {"repository": LOCAL, "tag": "lzx-dev"}},
    ),
    Scenario(
        "region-override-ee-hyper",
        "ee",
        version=V36,
        hyper=True,
        overrides={"regionServer": {"repository": LOCAL, "tag": "lzx-dev"}},
    ),
    *(
        Scenario(
            f"override-every-path-{e}", e, version=V36, repository=ZEXI, hyper=h, overrides=ALL_OVERRIDES
        )
        for e, h in OVERRIDE_EDITIONS
    ),
    Scenario(
        "imageName-beats-hyper-and-edition",
        "ee",
        version=V36,
        hyper=True,
        overrides={
            "keystone": {"imageName": "my-keystone"},
            "regionServer": {"imageName": "my-region"},
            "apiGateway": {"imageName": "gw"},
            "web": {"imageName": "my-web"},
            "climc": {"imageName": "climc"},
            "hostagent.SdnAgent": {"imageName": "sdn-x"},
            "mcpServer": {"imageName": "mcp-server"},
        },
    ),
    Scenario(
        "imageName-beats-edition-ce-support",
        "ce/support",
        version=V36,
        overrides={
            "climc": {"imageName": "climc"},
            "web": {"imageName": "web"},
            "apiGateway": {"imageName": "x/y"},
        },
    ),
    Scenario(
        "explicit-image-ignored",
        "ee",
        version="v3.11.5",
        extra={
            "keystone": {"image": "foo/bar:1"},
            "regionServer": {"image": "docker.io/library/nginx:latest"},
            "webconsole": {"Guacd": {"image": "other.io/guacd:9"}},
            "hostagent": {"SdnAgent": {"image": "x/sdn:1"}},
            "telegraf": {"initContainerImage": "foo/telegraf-init:9"},
        },
    ),
)


@cache
def plan_of(scenario_id: str) -> planner.Plan:
    scenario = next(s for s in SCENARIOS if s.id == scenario_id)
    return plan_for(scenario.spec(), scenario.edition)


@cache
def images_of(scenario_id: str) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    plan = plan_of(scenario_id)
    return workload_images(plan), resolved_images(plan)


CATALOG: dict[str, list[str]] = {
    comp.name: [c.name for c in (*comp.containers, *comp.init_containers)] for comp in catalog.COMPONENTS
}


def test_the_table_covers_every_catalog_container() -> None:
    assert set(IMAGES) == {(comp, c) for comp, names in CATALOG.items() for c in names}


@pytest.mark.parametrize("component", list(CATALOG))
def test_every_container_image_in_every_scenario(component: str) -> None:
    """One case per catalog component; inside, every container under every scenario of SCENARIOS."""
    expected: dict[str, str | None] = {}
    actual: dict[str, str | None] = {}
    for scenario in SCENARIOS:
        planned, resolved = images_of(scenario.id)
        for container in CATALOG[component]:
            key = (component, container)
            where = f"{scenario.id}/{container}"
            runs = container_runs(IMAGES[key], edition=scenario.edition, product="FullStack", raid=True)
            expected[where] = scenario.expected(key) if runs else None
            actual[where] = planned.get(key) or resolved.get(key)
            # EVERYTHING_ON: every component the reference runs at all runs in ee
            if runs and scenario.edition == "ee" and reference_table.BY_NAME[component].products:
                assert key in planned, f"{key} is not in any pod template under {scenario.id}"
    assert actual == expected


# ---- the seed scenarios, as literal strings ----------------------------------------------------


def everything(spec: Mapping[str, Any], edition: str = "ee") -> planner.Plan:
    return plan_for(merge(dict(EVERYTHING_ON), spec), edition)


def all_images(plan: planner.Plan) -> list[str]:
    return [image for o in plan.objects if o.kind in WORKLOAD_KINDS for image in pod_images(o.body)]


@pytest.mark.parametrize("edition", ["ce", "ce/support", "ee"])
def test_version_archdev_v36_reaches_every_image(edition: str) -> None:
    found = all_images(everything({"version": V36}, edition))
    assert found
    pinned_seen = set()
    for image in found:
        name, _, tag = image.rpartition("/")[2].partition(":")
        if name in PINNED:
            pinned_seen.add(name)
            assert tag == PINNED[name], image
        else:
            assert tag == V36, image
    if edition == "ee":
        assert pinned_seen == set(PINNED)


def test_image_repository_reaches_every_image() -> None:
    found = all_images(everything({"imageRepository": ZEXI}))
    assert len(found) > 60
    for image in found:
        assert image.startswith(ZEXI + "/"), image
        assert "/" not in image.removeprefix(ZEXI + "/"), image


def test_version_and_repository_combine() -> None:
    found = all_images(everything({"imageRepository": ZEXI, "version": V36}))
    assert f"{ZEXI}/keystone:{V36}" in found
    assert f"{ZEXI}/region-ee:{V36}" in found
    assert f"{ZEXI}/openvswitch:2.12.4-20260415" in found
    for image in found:
        assert image.startswith(ZEXI + "/")
        name, _, tag = image.rpartition("/")[2].partition(":")
        assert tag == PINNED.get(name, V36), image


def test_region_override_changes_exactly_default_region() -> None:
    base = {"version": V36}
    override = {"version": V36, "regionServer": {"repository": LOCAL, "tag": "lzx-dev"}}
    before = plan_for(base)
    after = plan_for(override)
    region = workload(after, "default-region")
    assert region["metadata"]["namespace"] == "onecloud"
    assert pod_images(region) == [f"{LOCAL}/region:lzx-dev", f"{LOCAL}/region:lzx-dev"]  # init + region
    assert pod_images(workload(before, "default-region")) == [f"{DEFAULT_REPOSITORY}/region:{V36}"] * 2
    others_before = {o.name: pod_images(o.body) for o in before.objects if o.kind in WORKLOAD_KINDS}
    others_after = {o.name: pod_images(o.body) for o in after.objects if o.kind in WORKLOAD_KINDS}
    del others_before["default-region"], others_after["default-region"]
    assert others_after == others_before
    assert f"{DEFAULT_REPOSITORY}/keystone:{V36}" in others_after["default-keystone"]


def test_defaults_are_the_documented_repository_and_latest() -> None:
    plan = planner.plan(cluster({}))
    assert (
        pod_images(workload(plan, "default-keystone"))
        == ["registry.cn-beijing.aliyuncs.com/yunionio/keystone:latest"] * 2
    )
    assert pod_images(workload(plan, "default-ovn-north")) == [
        "registry.cn-beijing.aliyuncs.com/yunionio/openvswitch:2.12.4-20260415"
    ]


R = "registry.cn-beijing.aliyuncs.com/yunionio"

# cloudpods-operator.md §4 "Examples" (imageRepository=R, version=v3.11.5), as literal strings.
DOC_EXAMPLES: list[tuple[str, str, dict[str, Any], tuple[str, str], str]] = [
    ("keystone-plain", "ce", {}, ("keystone", "keystone"), f"{R}/keystone:v3.11.5"),
    (
        "keystone-tag",
        "ce",
        {"keystone": {"tag": "v3.11.6"}},
        ("keystone", "keystone"),
        f"{R}/keystone:v3.11.6",
    ),
    (
        "keystone-repo",
        "ce",
        {"keystone": {"repository": "my.reg/x"}},
        ("keystone", "keystone"),
        "my.reg/x/keystone:v3.11.5",
    ),
    (
        "keystone-image-ignored",
        "ce",
        {"keystone": {"image": "foo/bar:1"}},
        ("keystone", "keystone"),
        f"{R}/keystone:v3.11.5",
    ),
    ("ee-region", "ee", {}, ("region", "region"), f"{R}/region-ee:v3.11.5"),
    ("ee-hyper-region", "ee", {"useHyperImage": True}, ("region", "region"), f"{R}/cloudpods-ee:v3.11.5"),
    ("ce-support-web", "ce/support", {}, ("web", "web"), f"{R}/web-ee:v3.11.5"),
    ("ce-support-region", "ce/support", {}, ("region", "region"), f"{R}/region:v3.11.5"),
    ("telegraf", "ce", {}, ("telegraf", "telegraf"), f"{R}/telegraf:release-1.36.4-6"),
    ("telegraf-init", "ce", {}, ("telegraf", "telegraf-init"), f"{R}/telegraf-init:release-1.36-1"),
    ("etcd", "ce", {}, ("etcd", "etcd"), f"{R}/etcd:3.5.12"),
]


@pytest.mark.parametrize(
    ("edition", "spec", "key", "image"), [d[1:] for d in DOC_EXAMPLES], ids=[d[0] for d in DOC_EXAMPLES]
)
def test_documented_examples(edition: str, spec: dict[str, Any], key: tuple[str, str], image: str) -> None:
    plan = plan_for({"imageRepository": R, "version": "v3.11.5", **spec}, edition)
    assert workload_images(plan)[key] == image


# §4: hyper-capable components, by the reference's component names.
HYPER_CAPABLE = frozenset(
    {
        "keystone", "region", "monitor", "cloudmon", "mcp-server", "apigateway", "webconsole", "scheduler",
        "logger", "yunionconf", "ansibleserver", "cloudevent", "devtool", "autoupdate", "vpcagent", "cloudid",
        "suggestion", "scheduledtask", "report", "apimap", "bastionhost", "extdb", "billing", "llm",
        "aiproxy", "host", "yunionagent", "lbagent", "host-sdnagent", "glance", "notify", "meter",
        "esxi-agent",
    }
)  # fmt: skip
HYPER_EE_IN_CE_SUPPORT = frozenset({"apigateway"})  # the only hyper-capable ee_or_ese component


@pytest.mark.parametrize("edition", ["ce", "ce/support", "ee"])
def test_use_hyper_image_only_for_hyper_capable_components(edition: str) -> None:
    plan = everything({"useHyperImage": True, "version": V36}, edition)
    names = {c.name: c.image.name for c in plan.components}
    assert set(names) == {c.name for c in catalog.COMPONENTS}
    for component, name in names.items():
        if component not in HYPER_CAPABLE:
            assert not name.startswith("cloudpods"), component
        elif edition == "ee" or (edition == "ce/support" and component in HYPER_EE_IN_CE_SUPPORT):
            assert name == "cloudpods-ee", component
        else:
            assert name == "cloudpods", component


EE_ONLY_NAMES = {
    "region": "region-ee",
    "monitor": "monitor-ee",
    "cloudmon": "cloudmon-ee",
    "mcp-server": "mcp-server-ee",
}
EE_OR_ESE_NAMES = {"apigateway": "apigateway-ee", "climc": "climc-ee", "web": "web-ee"}


@pytest.mark.parametrize("edition", ["ce", "ce/support", "ee"])
def test_edition_image_names(edition: str) -> None:
    plan = everything({"version": V36}, edition)
    names = {c.name: c.image.name for c in plan.components}
    renamed = {k: v for k, v in names.items() if v.endswith("-ee")}
    expected = {"ce": {}, "ce/support": EE_OR_ESE_NAMES, "ee": EE_ONLY_NAMES | EE_OR_ESE_NAMES}[edition]
    assert renamed == expected
    if edition == "ee":  # the EE sidecars of web: dashboard-overview and docs-ee are fixed names
        assert workload_images(plan)[("web", "overview")] == f"{R}/dashboard-overview:{V36}"
        assert workload_images(plan)[("web", "docs")] == f"{R}/docs-ee:{V36}"
        assert workload_images(plan)[("apigateway", "ws")] == f"{R}/apigateway-ee:{V36}"


def test_image_name_beats_hyper_and_edition() -> None:
    spec = {
        "useHyperImage": True,
        "version": V36,
        "regionServer": {"imageName": "my-region"},
        "apiGateway": {"imageName": "gw"},
        "web": {"imageName": "webui"},
    }
    found = workload_images(everything(spec, "ee"))
    assert found[("region", "region")] == f"{R}/my-region:{V36}"
    assert found[("region", "init")] == f"{R}/my-region:{V36}"
    assert found[("apigateway", "api")] == f"{R}/gw:{V36}"
    assert found[("apigateway", "ws")] == f"{R}/gw:{V36}"
    assert found[("web", "web")] == f"{R}/webui:{V36}"
    assert found[("keystone", "keystone")] == f"{R}/cloudpods-ee:{V36}"  # untouched neighbour


# Sub-spec overrides with the reference's JSON keys: exactly the listed containers change.
SUB_SPEC_CASES: list[tuple[str, dict[str, Any], dict[tuple[str, str], str]]] = [
    (
        "hostagent.SdnAgent",
        {"hostagent": {"SdnAgent": {"repository": "r.io/sdn", "tag": "s1"}}},
        {("host-sdnagent", "sdnagent"): "r.io/sdn/sdnagent:s1"},
    ),
    (
        "hostagent.OvnController",
        {"hostagent": {"OvnController": {"tag": "2.17.0"}}},
        {
            ("host-ovn-controller", "ovn-controller"): f"{R}/openvswitch:2.17.0",
            ("host-ovsdb-server", "ovsdb-server"): f"{R}/openvswitch:2.17.0",
            ("host-ovs-vswitchd", "ovs-vswitchd"): f"{R}/openvswitch:2.17.0",
        },
    ),
    (
        "hostagent.HostHealth",
        {"hostagent": {"HostHealth": {"imageName": "health", "tag": "v9"}}},
        {("host-health", "host-health"): f"{R}/health:v9"},
    ),
    (
        "lbagent.OvnController",
        {"lbagent": {"OvnController": {"repository": "lb.io/ovs"}}},
        {},  # accepted, and at HEAD it builds no container: nothing changes
    ),
    (
        "webconsole.Guacd",
        {"webconsole": {"Guacd": {"repository": "docker.io/guacamole", "tag": "1.5.5"}}},
        {("webconsole", "guacd"): "docker.io/guacamole/guacd:1.5.5"},
    ),
    (
        "web.Overview",
        {"web": {"Overview": {"tag": "ov-1"}}},
        {("web", "overview"): f"{R}/dashboard-overview:ov-1"},
    ),
    (
        "web.Docs",
        {"web": {"Docs": {"imageName": "docs", "tag": "d-2"}}},
        {("web", "docs"): f"{R}/docs:d-2"},
    ),
    (
        "telegraf.TelegrafRaid",
        {"telegraf": {"TelegrafRaid": {"tag": "v5"}}},
        {("telegraf", "telegraf-raid-plugin"): f"{R}/telegraf-raid-plugin:v5"},
    ),
    (
        "telegraf (init takes only the repository)",
        {"telegraf": {"repository": "t.io/tele", "tag": "1.30", "imageName": "my-telegraf"}},
        {
            ("telegraf", "telegraf"): "t.io/tele/my-telegraf:1.30",
            ("telegraf", "telegraf-init"): "t.io/tele/telegraf-init:release-1.36-1",
        },
    ),
    (
        "etcd",
        {"etcd": {"repository": "quay.io/coreos", "version": "3.5.99"}},
        {
            ("etcd", "etcd"): "quay.io/coreos/etcd:3.5.99",
            ("etcd", "check-dns"): "quay.io/coreos/busybox:1.37.0-glibc",
        },
    ),
    (
        "hostagent (not its sub-specs)",
        {"hostagent": {"repository": "h.io/x", "tag": "h1"}},
        {("host", "host"): "h.io/x/host:h1"},
    ),
    (
        "webconsole (not its Guacd)",
        {"webconsole": {"tag": "w1"}},
        {("webconsole", "web"): f"{R}/webconsole:w1"},
    ),
]


@pytest.mark.parametrize(
    ("spec", "changed"), [c[1:] for c in SUB_SPEC_CASES], ids=[c[0] for c in SUB_SPEC_CASES]
)
def test_sub_spec_override_changes_exactly_its_containers(
    spec: dict[str, Any], changed: dict[tuple[str, str], str]
) -> None:
    """Straight from images.image_for over every catalog container (cheaper than two plans; the
    scenario table above already reads these sub-spec overrides back from the pod templates)."""
    base = {"version": V36, "imageRepository": R}
    before = catalog_images(cluster(merge(EVERYTHING_ON, base), "ee"))
    after = catalog_images(cluster(merge(merge(EVERYTHING_ON, base), spec), "ee"))
    assert set(after) == set(before) == set(IMAGES)
    diff = {k: v for k, v in after.items() if before[k] != v}
    assert diff == changed


def test_telegraf_init_container_image_field_is_ignored() -> None:
    found = workload_images(everything({"telegraf": {"initContainerImage": "foo.io/x/telegraf-init:9"}}))
    assert found[("telegraf", "telegraf-init")] == f"{R}/telegraf-init:release-1.36-1"


def test_explicit_image_field_never_decides() -> None:
    spec = {"version": V36, "regionServer": {"image": "foo.io/bar/region:1"}, "web": {"image": "x/y:z"}}
    found = workload_images(everything(spec, "ce"))
    assert found[("region", "region")] == f"{R}/region:{V36}"
    assert found[("web", "web")] == f"{R}/web:{V36}"


@pytest.mark.parametrize("raw", ["EE", "enterprise", "ce/Support", "eex"])
def test_unknown_edition_annotation_is_a_spec_error(raw: str) -> None:
    with pytest.raises(SpecError) as err:
        planner.plan(cluster({}, raw))
    assert err.value.field == "metadata.annotations.onecloud.yunion.io/edition"
    assert f'"{raw}"' in err.value.reason  # kubectl's quoting: Unsupported value: "EE"
    with pytest.raises(SpecError):
        images.edition_of(cluster({}, raw))


@pytest.mark.parametrize(
    ("raw", "edition"), [(None, "ce"), ("", "ce"), ("ce", "ce"), ("ce/support", "ce/support"), ("ee", "ee")]
)
def test_edition_annotation_values(raw: str | None, edition: str) -> None:
    assert images.edition_of(cluster({}, raw)) == edition


def test_sidecar_pull_policy_is_forced_and_component_policy_honoured() -> None:
    spec = {
        "webconsole": {"imagePullPolicy": "Always", "Guacd": {"imagePullPolicy": "Never"}},
        "hostagent": {"imagePullPolicy": "Never", "SdnAgent": {"imagePullPolicy": "Always"}},
    }
    plan = everything(spec)
    policies = {
        (o.component, c["name"]): c["imagePullPolicy"]
        for o in plan.objects
        if o.kind in WORKLOAD_KINDS
        for c in o.body["spec"]["template"]["spec"]["containers"]
    }
    assert policies[("webconsole", "web")] == "Always"
    assert policies[("webconsole", "guacd")] == "IfNotPresent"
    assert policies[("host", "host")] == "Never"
    assert policies[("host-sdnagent", "sdnagent")] == "IfNotPresent"
    assert policies[("keystone", "keystone")] == "IfNotPresent"
