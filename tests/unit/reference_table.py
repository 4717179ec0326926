"""What every component should look like, written by hand from the reference — never computed by src/.

Sources, in order of authority: shared/reference/README.md (the image rule and the seed scenarios),
shared/reference/cloudpods-operator.md §3 (components) and §4 (image resolution), and
tests/unit/fixtures/reference_components.yaml (containers, init containers, Service ports).

Shared by test_images.py, test_image_properties.py, test_planner.py (components and images), test_crd.py and
test_model.py (the reference's spec keys). The small functions at the end are the test oracle: the
documented rule written out once more, independently of images.py and planner.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Gate = Literal["ee", "ee_or_ese"]
When = Literal["ee", "ee_or_ese", "localVpc", "raid"]
Edition = Literal["ce", "ce/support", "ee"]
Product = Literal["FullStack", "CMP", "Edge", "LightEdge", "AI"]
Feature = Literal["enableCloudNet", "enableS3Gateway", "localVpc"]
Kind = Literal["Deployment", "DaemonSet", "StatefulSet"]

DEFAULT_REPOSITORY = "registry.cn-beijing.aliyuncs.com/yunionio"
DEFAULT_VERSION = "latest"
EDITIONS: tuple[Edition, ...] = ("ce", "ce/support", "ee")
PRODUCTS: tuple[Product, ...] = ("FullStack", "CMP", "Edge", "LightEdge", "AI")
LETTER: dict[Product, str] = {"FullStack": "F", "CMP": "C", "Edge": "E", "LightEdge": "L", "AI": "A"}

OVS = "2.12.4-20260415"


@dataclass(frozen=True)
class Image:
    """One container (or init container) and how the reference names its image."""

    container: str
    source: str  # the spec path (JSON keys) whose repository / imageName / tag apply
    name: str  # the default image name
    pinned: str | None = None  # own tag, used unless <source>.tag is set
    hyper: bool = False  # honours spec.useHyperImage
    ee_name: Gate | None = None  # <name>-ee when this edition test passes
    fixed: bool = False  # takes only the repository from `source` (telegraf-init, busybox)
    when: When | None = None  # the container exists only when this holds
    init: bool = False


@dataclass(frozen=True)
class Port:
    """One Service port: name, port, targetPort and the nodePort (None on a ClusterIP Service)."""

    name: str
    port: int
    target: int
    node_port: int | None


@dataclass(frozen=True)
class Svc:
    """One Service of a component, named ``default-<component><suffix>``."""

    suffix: str
    type: Literal["NodePort", "ClusterIP"]
    ports: tuple[Port, ...]
    headless: bool = False


@dataclass(frozen=True)
class Comp:
    """One component as the reference runs it: its workload, gates, images and side objects."""

    name: str
    spec_key: str
    kind: Kind
    products: str  # letters: F C E L A
    images: tuple[Image, ...]
    edition: Gate | None = None
    feature: Feature | None = None
    default_off: bool = False  # runs only with an explicit `disable: false`
    services: tuple[Svc, ...] = ()
    config_map: bool = True
    pvc: bool = False
    ingress: bool = False

    @property
    def containers(self) -> tuple[Image, ...]:
        return tuple(i for i in self.images if not i.init)

    @property
    def inits(self) -> tuple[Image, ...]:
        return tuple(i for i in self.images if i.init)


def _nodeport(*ports: tuple[str, int]) -> tuple[Svc, ...]:
    return (Svc("", "NodePort", tuple(Port(n, p, p, p) for n, p in ports)),)


def _api(
    name: str,
    spec_key: str,
    port: int,
    products: str,
    *,
    container: str | None = None,
    hyper: bool = True,
    init: bool = False,
    ee_name: Gate | None = None,
    pinned: str | None = None,
    edition: Gate | None = None,
    feature: Feature | None = None,
    default_off: bool = False,
    pvc: bool = False,
    ingress: bool = False,
) -> Comp:
    """A standard API service: one container (+ optional `init`), one NodePort `api` Service, a ConfigMap."""
    main = Image(container or name, spec_key, name, pinned=pinned, hyper=hyper, ee_name=ee_name)
    images = (
        (main, Image("init", spec_key, name, hyper=hyper, ee_name=ee_name, init=True)) if init else (main,)
    )
    return Comp(
        name,
        spec_key,
        "Deployment",
        products,
        images,
        edition=edition,
        feature=feature,
        default_off=default_off,
        services=_nodeport(("api", port)),
        pvc=pvc,
        ingress=ingress,
    )


def _host_ds(
    name: str,
    container: str,
    source: str,
    image: str,
    products: str = "FELA",
    *,
    pinned: str | None = None,
    hyper: bool = False,
) -> Comp:
    """A host sub-DaemonSet driven by a hostagent sub-spec (or hostimage); no ConfigMap of its own."""
    return Comp(
        name,
        source,
        "DaemonSet",
        products,
        (Image(container, source, image, pinned=pinned, hyper=hyper),),
        feature="localVpc" if name == "host-ovn-controller" else None,
        config_map=False,
    )


COMPONENTS: tuple[Comp, ...] = (
    Comp(
        "etcd",
        "etcd",
        "StatefulSet",
        "FCELA",
        (
            Image("etcd", "etcd", "etcd", pinned="3.5.12"),
            Image("check-dns", "etcd", "busybox", pinned="1.37.0-glibc", fixed=True, init=True),
        ),
        services=(
            Svc(
                "",
                "ClusterIP",
                (Port("client", 2379, 2379, None), Port("peer", 2380, 2380, None)),
                headless=True,
            ),
            Svc("-client", "NodePort", (Port("client", 2379, 2379, 30379),)),
        ),
        config_map=False,
    ),
    Comp(
        "keystone",
        "keystone",
        "Deployment",
        "FCELA",
        (
            Image("keystone", "keystone", "keystone", hyper=True),
            Image("init", "keystone", "keystone", hyper=True, init=True),
        ),
        services=_nodeport(("public", 30500), ("admin", 30357)),
    ),
    _api("region", "regionServer", 30888, "FCELA", init=True, ee_name="ee"),
    _api("scheduler", "scheduler", 30887, "FCELA"),
    _api("glance", "glance", 30292, "FCELA", init=True, pvc=True),
    Comp(
        "webconsole",
        "webconsole",
        "Deployment",
        "FCELA",
        (
            Image("web", "webconsole", "webconsole", hyper=True),
            Image("guacd", "webconsole.Guacd", "guacd", pinned="1.6.0"),
        ),
        services=_nodeport(("api", 30899)),
    ),
    _api("logger", "logger", 30999, "FCELA", init=True),
    _api("yunionconf", "yunionconf", 30889, "FCELA"),
    Comp(
        "yunionagent",
        "yunionagent",
        "DaemonSet",
        "FCE",
        (Image("yunionagent", "yunionagent", "yunionagent", hyper=True),),
        edition="ee_or_ese",
        services=(Svc("", "ClusterIP", (), headless=True),),
    ),
    # In the reference's types but never run by it (not wired into its sync loop); the CRs it defaults
    # carry influxdb.disable: false, so "explicitly enabled" cannot mean anything either: never planned.
    _api("influxdb", "influxdb", 30086, "", hyper=False, pinned="1.7.7", default_off=True, pvc=True),
    Comp(
        "victoria-metrics",
        "victoriaMetrics",
        "Deployment",
        "FCELA",
        (Image("victoria-metrics", "victoriaMetrics", "victoria-metrics", pinned="v1.129.1-1"),),
        services=_nodeport(("api", 30428)),
        config_map=False,
        pvc=True,
    ),
    Comp(
        "telegraf",
        "telegraf",
        "DaemonSet",
        "FELA",
        (
            Image("telegraf", "telegraf", "telegraf", pinned="release-1.36.4-6"),
            Image(
                "telegraf-raid-plugin",
                "telegraf.TelegrafRaid",
                "telegraf-raid-plugin",
                pinned="v4.0-20260115.0",
                when="raid",
            ),
            Image(
                "telegraf-init", "telegraf", "telegraf-init", pinned="release-1.36-1", fixed=True, init=True
            ),
        ),
        config_map=False,
    ),
    _api("monitor", "monitor", 30093, "FCELA", ee_name="ee"),
    Comp(
        "apigateway",
        "apiGateway",
        "Deployment",
        "FCELA",
        (
            Image("api", "apiGateway", "apigateway", hyper=True, ee_name="ee_or_ese"),
            Image("ws", "apiGateway", "apigateway", hyper=True, ee_name="ee_or_ese", when="ee_or_ese"),
        ),
        services=_nodeport(("api", 30300), ("ws", 30443)),
    ),
    Comp(
        "web",
        "web",
        "Deployment",
        "FCELA",
        (
            Image("web", "web", "web", ee_name="ee_or_ese"),
            Image("overview", "web.Overview", "dashboard-overview", when="ee"),
            Image("docs", "web.Docs", "docs-ee", when="ee"),
        ),
        services=(
            Svc(
                "",
                "ClusterIP",
                (
                    Port("http", 80, 80, None),
                    Port("https", 443, 443, None),
                    Port("overview", 8080, 8080, None),
                    Port("docs", 8081, 8081, None),
                ),
            ),
        ),
        ingress=True,
    ),
    _api("kubeserver", "kubeserver", 30442, "FCELA", hyper=False, init=True),
    _api("ansibleserver", "ansibleserver", 30890, "FCEA", container="server"),
    _api("cloudnet", "cloudnet", 30891, "F", container="server", hyper=False, feature="enableCloudNet"),
    _api("cloudproxy", "cloudproxy", 30882, "FCE", container="server", hyper=False),
    _api("cloudevent", "cloudevent", 30892, "FC", container="server"),
    _api("notify", "notify", 30777, "FCELA", init=True),
    Comp(
        "lbagent",
        "lbagent",
        "DaemonSet",
        "FEA",
        # HEAD f4a26910 (cloudpods-operator.md appendix): one container; lbagent.OvnController builds none.
        (Image("lbagent", "lbagent", "lbagent", hyper=True),),
    ),
    Comp(
        "host",
        "hostagent",
        "DaemonSet",
        "FELA",  # HEAD: the host family runs in FullStack, Edge, LightEdge and AI
        (Image("host", "hostagent", "host", hyper=True),),
    ),
    Comp(
        "host-deployer",
        "hostdeployer",
        "DaemonSet",
        "FCELA",  # HEAD: all five product versions
        (Image("host-deployer", "hostdeployer", "host-deployer"),),
        config_map=False,
    ),
    _host_ds("host-image", "host-image", "hostimage", "host-image", "FELA", pinned="v1.0.8"),
    _host_ds("host-sdnagent", "sdnagent", "hostagent.SdnAgent", "sdnagent", hyper=True),
    _host_ds("host-ovn-controller", "ovn-controller", "hostagent.OvnController", "openvswitch", pinned=OVS),
    _host_ds("host-ovsdb-server", "ovsdb-server", "hostagent.OvnController", "openvswitch", pinned=OVS),
    _host_ds("host-ovs-vswitchd", "ovs-vswitchd", "hostagent.OvnController", "openvswitch", pinned=OVS),
    _host_ds("host-health", "host-health", "hostagent.HostHealth", "host-health", pinned="v0.0.4"),
    Comp(
        "baremetal-agent",
        "baremetalagent",
        "Deployment",
        "FE",
        (Image("baremetal-agent", "baremetalagent", "baremetal-agent"),),
        pvc=True,
    ),
    _api("s3gateway", "s3gateway", 30884, "FC", hyper=False, feature="enableS3Gateway"),
    _api("devtool", "devtool", 30997, "FCEA"),
    _api("meter", "meter", 30909, "FCE", init=True, edition="ee"),
    _api("billing", "billing", 30404, "FCE", init=True, edition="ee"),
    _api("autoupdate", "autoupdate", 30981, "FCELA", init=True, edition="ee"),
    _api("cloudmon", "cloudmon", 30931, "FCE", ee_name="ee"),
    Comp(
        "esxi-agent",
        "esxiagent",
        "Deployment",
        "FCE",
        (Image("esxi-agent", "esxiagent", "esxi-agent", hyper=True),),
    ),
    Comp(
        "itsm",
        "itsm",
        "Deployment",
        "FCE",
        (Image("itsm", "itsm", "itsm"),),
        edition="ee",
        services=_nodeport(("api", 30595)),
    ),
    Comp(
        "onecloud-service-operator",
        "onecloudServiceOperator",
        "Deployment",
        "FCE",
        (
            Image("manager", "onecloudServiceOperator", "onecloud-service-operator"),
            Image("init", "onecloudServiceOperator", "onecloud-service-operator", init=True),
        ),
        services=_nodeport(("api", 30885)),
    ),
    Comp(
        "ovn-north",
        "ovnNorth",
        "Deployment",
        "FELA",
        (Image("ovn-north", "ovnNorth", "openvswitch", pinned=OVS),),
        feature="localVpc",
        services=(
            Svc("", "NodePort", (Port("north-db", 32241, 6641, 32241), Port("south-db", 32242, 6642, 32242))),
        ),
        config_map=False,
    ),
    _api("vpcagent", "vpcAgent", 30932, "FELA", feature="localVpc"),
    _api("cloudid", "cloudid", 30893, "FC", container="server"),
    _api("suggestion", "suggestion", 30987, "FCEA", edition="ee"),
    _api("scheduledtask", "scheduledtask", 30978, "FCEA", init=True),
    _api("apimap", "apiMap", 31999, "FE", default_off=True),
    _api("report", "report", 30967, "FCEA", edition="ee"),
    Comp(
        "echarts-ssr",
        "echartsSSR",
        "Deployment",
        "FCE",
        (Image("echarts-ssr", "echartsSSR", "echarts-ssr", pinned="v0.0.6"),),
        edition="ee",
        default_off=True,
        services=(Svc("", "ClusterIP", (Port("server", 8081, 8081, None),)),),
        config_map=False,
    ),
    _api("bastionhost", "bastionHost", 30983, "FCE", init=True, edition="ee"),
    Comp(
        "cloudmux",
        "cloudmux",
        "Deployment",
        "FCE",
        (Image("cloudmux", "cloudmux", "cloudmux"),),
        default_off=True,
        config_map=False,
    ),
    _api("extdb", "extdb", 30991, "FCE", edition="ee"),
    _api("llm", "llm", 31512, "FCEA"),
    _api("mcp-server", "mcpServer", 30876, "FCEA", ee_name="ee"),
    _api("aiproxy", "aiproxy", 31513, "FCEA", ingress=True),
    Comp(
        "climc",
        "climc",
        "Deployment",
        "FCELA",
        (Image("climc", "climc", "climc", ee_name="ee_or_ese"),),
    ),
    Comp(
        "region-dns",
        "regionDNS",
        "DaemonSet",
        "FCELA",
        (Image("region-dns", "regionDNS", "region-dns"),),
        services=(Svc("", "ClusterIP", (), headless=True),),
    ),
)

BY_NAME: dict[str, Comp] = {c.name: c for c in COMPONENTS}

# Every (component, container) pair, init containers included, with its image facts.
IMAGES: dict[tuple[str, str], Image] = {(c.name, i.container): i for c in COMPONENTS for i in c.images}

# A spec (with edition ee) under which every component and every container of the reference runs.
EVERYTHING_ON: dict[str, object] = {
    "productVersion": "FullStack",
    "enableCloudNet": True,
    "enableS3Gateway": True,
    "apiMap": {"disable": False},
    "cloudmux": {"disable": False},
    "echartsSSR": {"disable": False},
    "influxdb": {"disable": False},
    "telegraf": {"enableRaidPlugin": True},
}


# cloudpods-operator.md §2.1: every top-level key of the reference's OnecloudClusterSpec (21 + 51).
REFERENCE_SPEC_KEYS: tuple[str, ...] = (
    "disableResourceManagement", "disableLocalVpc", "enableCloudNet", "enableS3Gateway", "ipv6Cluster",
    "productVersion", "useHyperImage", "etcd", "mysql", "clickhouse", "dameng", "db_engine", "version",
    "certSANs", "services", "minio", "imageRepository", "region", "zone", "customZones",
    "loadBalancerEndpoint", "keystone", "regionServer", "regionDNS", "scheduler", "glance", "climc",
    "webconsole", "logger", "yunionconf", "yunionagent", "influxdb", "victoriaMetrics", "telegraf", "monitor",
    "apiGateway", "web", "kubeserver", "ansibleserver", "cloudnet", "cloudproxy", "cloudevent", "notify",
    "lbagent", "hostagent", "hostdeployer", "hostimage", "baremetalagent", "s3gateway", "devtool", "meter",
    "billing", "autoupdate", "cloudmon", "esxiagent", "itsm", "onecloudServiceOperator", "ovnNorth",
    "vpcAgent", "cloudid", "suggestion", "monitorStack", "scheduledtask", "apiMap", "report", "echartsSSR",
    "bastionHost", "cloudmux", "extdb", "llm", "mcpServer", "aiproxy",
)  # fmt: skip

# Nested keys of the reference (dotted JSON paths under spec), odd spellings included.
NESTED_REFERENCE_KEYS: tuple[str, ...] = (
    "keystone.slave_replicas", "keystone.db_engine", "keystone.disableTLS", "keystone.publicService.nodePort",
    "keystone.adminService.internalOnly", "keystone.bootstrapPassword", "regionServer.dnsDomain",
    "regionServer.service.nodePort", "regionDNS.cache_ttl", "regionDNS.in_cloud_only", "regionDNS.proxies",
    "victoriaMetrics.rententionPeriodDays", "webconsole.Guacd.tag", "web.Overview.repository",
    "web.Docs.imageName", "web.useHTTP", "hostagent.SdnAgent.tag", "hostagent.OvnController.repository",
    "hostagent.HostHealth.imageName", "hostagent.OvnEncapIpDetectionMethod", "hostagent.maxUnavailableCount",
    "lbagent.OvnController.tag", "telegraf.TelegrafRaid.tag", "telegraf.enableRaidPlugin",
    "telegraf.initContainerImage", "glance.switchToS3", "glance.storageClassName", "baremetalagent.zones",
    "etcd.enableTls", "etcd.clientNodePort", "etcd.pod", "etcd.TLS", "cloudmon.CloudmonPingDuration",
    "apiGateway.apiService.nodePort", "apiGateway.wsService.nodePort", "mysql.password", "echartsSSR.disable",
)  # fmt: skip


# ---- the oracle: the documented rule, written out ------------------------------------------------


def gate_passes(gate: Gate | None, edition: Edition) -> bool:
    if gate is None:
        return True
    if gate == "ee":
        return edition == "ee"
    return edition in ("ee", "ce/support")


def expected_name(image: Image, edition: Edition, hyper: bool, image_name: str | None = None) -> str:
    """§4 step 3: imageName > hyper (cloudpods[-ee]) > <name>-ee > default name."""
    if image.fixed:
        return image.name
    if image_name:
        return image_name
    if hyper and image.hyper:
        # The -ee hyper name follows the component's own edition test; EE for all the others.
        return "cloudpods-ee" if gate_passes(image.ee_name or "ee", edition) else "cloudpods"
    if image.ee_name and gate_passes(image.ee_name, edition):
        return f"{image.name}-ee"
    return image.name


def expected_image(
    image: Image,
    *,
    edition: Edition = "ce",
    hyper: bool = False,
    repository: str | None = None,
    version: str | None = None,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """``<repository>/<name>:<tag>`` for one container; ``overrides`` maps a spec path to its
    repository / imageName / tag settings (etcd's ``version`` given as ``tag``)."""
    own = (overrides or {}).get(image.source, {})
    repo = own.get("repository") or repository or DEFAULT_REPOSITORY
    name = expected_name(image, edition, hyper, None if image.fixed else own.get("imageName"))
    if image.fixed:
        tag = image.pinned or version or DEFAULT_VERSION
    else:
        tag = own.get("tag") or image.pinned or version or DEFAULT_VERSION
    return f"{repo}/{name}:{tag}"


def component_runs(
    comp: Comp,
    *,
    edition: Edition,
    product: Product,
    local_vpc: bool = True,
    cloud_net: bool = False,
    s3: bool = False,
    explicitly_on: frozenset[str] = frozenset(),
) -> bool:
    """§3.1 gates: product version, edition, feature flag, default-off components."""
    if LETTER[product] not in comp.products:
        return False
    if not gate_passes(comp.edition, edition):
        return False
    if comp.feature == "localVpc" and (not local_vpc or product == "LightEdge"):
        return False
    if comp.feature == "enableCloudNet" and not cloud_net:
        return False
    if comp.feature == "enableS3Gateway" and not s3:
        return False
    return not (comp.default_off and comp.name not in explicitly_on)


def container_runs(
    image: Image, *, edition: Edition, product: Product, local_vpc: bool = True, raid: bool = False
) -> bool:
    if image.when == "ee" or image.when == "ee_or_ese":
        return gate_passes(image.when, edition)
    if image.when == "localVpc":
        return local_vpc and product != "LightEdge"
    if image.when == "raid":
        return raid
    return True
