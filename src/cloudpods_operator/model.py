"""The OnecloudCluster resource as typed pydantic v2 models.

JSON keys are exactly the Go operator's (``imageRepository``, ``regionServer``, ``db_engine``,
``Guacd``, ``SdnAgent`` ...), so a CR written for the reference parses here and round-trips:
``OnecloudCluster.model_validate(d).to_dict() == d`` for every key the reference accepts.
Keys the reference does not know are refused (``extra="forbid"``), which the CRD mirrors by
pruning them (and ``kubectl`` refuses them with its default strict field validation).

Neighbours: :mod:`catalog` says which spec key each component reads; :mod:`images` resolves
images from these models; :mod:`crdgen` turns them into the CRD's OpenAPI schema.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator
from pydantic.alias_generators import to_camel

# The OCI distribution reference grammar (github.com/distribution/reference), written so that
# Python's ``re``, pydantic's Rust regex and Go's RE2 (the API server) all read it the same way.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
REPOSITORY_PATTERN = rf"^{_DOMAIN}(?:/{_PATH_COMPONENT})*$"
IMAGE_NAME_PATTERN = rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$"
TAG_PATTERN = rf"^{_TAG}$"
IMAGE_PATTERN = rf"^{_DOMAIN}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@sha256:[a-f0-9]{{64}})?$"

DEFAULT_IMAGE_REPOSITORY = "registry.cn-beijing.aliyuncs.com/yunionio"
DEFAULT_VERSION = "latest"
EDITION_ANNOTATION = "onecloud.yunion.io/edition"
# "-onecloud-service-operator-slave" is the longest suffix the catalog adds to a cluster's name.
MAX_CLUSTER_NAME = 63 - len("-onecloud-service-operator-slave")

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
ProductVersion = Literal["FullStack", "CMP", "Edge", "LightEdge", "AI"]
Edition = Literal["ce", "ce/support", "ee"]
DBEngine = Literal["mysql", "clickhouse", "dameng"]
EDITIONS: tuple[Edition, ...] = ("ce", "ce/support", "ee")
PRODUCT_VERSIONS: tuple[ProductVersion, ...] = ("FullStack", "CMP", "Edge", "LightEdge", "AI")

Quantity = int | str


class _Model(BaseModel):
    """Base: camelCase JSON keys from snake_case names, unknown keys refused.

    An empty string means unset, as in the Go operator's types (its defaulting writes ``""`` into
    every string it leaves empty: a CR it ran has about two hundred of them)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="forbid",
        serialize_by_alias=True,
    )

    _EMPTY_IS_UNSET: ClassVar[bool] = True
    """Off in the status models: those are ours, and an empty message is a message."""

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if cls._EMPTY_IS_UNSET and isinstance(data, dict):
            return {k: v for k, v in data.items() if v != ""}
        return data


class ResourceAmounts(_Model):
    """``cpu`` and ``memory`` quantities; requests' ``storage`` sizes the data volume."""

    cpu: Quantity | None = Field(default=None, json_schema_extra={"x-kubernetes-int-or-string": True})
    memory: Quantity | None = Field(default=None, json_schema_extra={"x-kubernetes-int-or-string": True})
    storage: str | None = None


class Toleration(_Model):
    """A Kubernetes toleration; giving any replaces the defaults (control-plane taints)."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class LocalObjectReference(_Model):
    """A Secret in the cluster's namespace, by name."""

    name: str


class ContainerSpec(_Model):
    """One container's image and resources; ``repository``, ``imageName`` and ``tag`` win over the defaults.

    ``image`` is accepted for compatibility and ignored: the image is always computed from the others."""

    image: str | None = Field(default=None, pattern=IMAGE_PATTERN, max_length=512)
    repository: str | None = Field(default=None, pattern=REPOSITORY_PATTERN, max_length=255)
    image_name: str | None = Field(default=None, pattern=IMAGE_NAME_PATTERN, max_length=255)
    tag: str | None = Field(default=None, pattern=TAG_PATTERN)
    image_pull_policy: PullPolicy | None = None
    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None


class _Placement(ContainerSpec):
    disable: bool = False
    affinity: dict[str, JsonValue] | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None
    annotations: dict[str, str] | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None


class DeploymentSpec(_Placement):
    """A control-plane service run as a Deployment: its image, resources, replicas and pod placement."""

    replicas: int | None = Field(default=None, ge=0, le=2147483647)
    dns_config: dict[str, JsonValue] | None = None
    slave_replicas: int | None = Field(default=None, ge=0, le=1000, alias="slave_replicas")


class ServiceSpec(_Model):
    """``internalOnly``: ClusterIP, no nodePorts; ``nodePort`` moves the port inside the cluster too."""

    internal_only: bool | None = None
    node_port: int | None = Field(default=None, ge=1, le=65535)


class DeploymentServicePortSpec(DeploymentSpec):
    """A control-plane service run as a Deployment behind a Service."""

    service: ServiceSpec | None = None
    db_engine: DBEngine | None = Field(default=None, alias="db_engine")


class KeystoneSpec(DeploymentServicePortSpec):
    """keystone, the identity service: ``publicService`` and ``adminService`` expose its two APIs.
    ``bootstrapPassword`` is the sysadmin password, random when unset."""

    disable_tls: bool | None = Field(default=None, alias="disableTLS")
    public_service: ServiceSpec | None = None
    admin_service: ServiceSpec | None = None
    bootstrap_password: str | None = None


class RegionSpec(DeploymentServicePortSpec):
    """The region server, the core API for compute, network and storage resources."""

    dns_server: str | None = None
    dns_domain: str | None = None


class StatefulDeploymentSpec(DeploymentServicePortSpec):
    """A service with a data volume; ``storageClassName`` is the volume's class (default ``local-path``)."""

    storage_class_name: str | None = None


class ZoneStatefulDeploymentSpec(StatefulDeploymentSpec):
    """A per-zone agent with a data volume: one Deployment per zone in ``zones``.
    Without ``zones``: the cluster's ``zone`` and ``customZones``."""

    zones: list[str] | None = None


class GlanceSpec(StatefulDeploymentSpec):
    """glance, the image service, with its image store on a data volume."""

    switch_to_s3: bool | None = Field(default=None, alias="switchToS3")


class WebconsoleSpec(DeploymentServicePortSpec):
    """The web console (VNC, RDP and SSH to guests); ``Guacd`` sets its guacd container's image."""

    guacd: ContainerSpec | None = Field(default=None, alias="Guacd")


class VictoriaMetricsSpec(StatefulDeploymentSpec):
    """VictoriaMetrics, the metrics store, on a data volume; it keeps samples 93 days.
    ``rententionPeriodDays`` (spelled as in the reference) is accepted and not applied."""

    rentention_period_days: int | None = Field(default=None, ge=1, alias="rententionPeriodDays")


class NotifySpec(StatefulDeploymentSpec):
    """The notification service; ``plugins`` is accepted and unused, as in the reference."""

    plugins: ContainerSpec | None = None


class APIGatewaySpec(DeploymentServicePortSpec):
    """The API gateway behind the web UI; ``apiService`` and ``wsService`` expose its API and websocket."""

    api_service: ServiceSpec | None = None
    ws_service: ServiceSpec | None = None
    cors_hosts: list[str] | None = None


class WebSpec(DeploymentServicePortSpec):
    """The web UI, reached through an Ingress: HTTPS, or HTTP with ``useHTTP``.
    ``Overview`` and ``Docs`` set the images of its dashboard and docs containers (edition ee)."""

    use_http: bool | None = Field(default=None, alias="useHTTP")
    overview: ContainerSpec | None = Field(default=None, alias="Overview")
    docs: ContainerSpec | None = Field(default=None, alias="Docs")


class CloudmonSpec(DeploymentServicePortSpec):
    """cloudmon, which collects metrics from public clouds; ``CloudmonPingDuration`` is accepted, unused."""

    cloudmon_ping_duration: int | None = Field(default=None, alias="CloudmonPingDuration")


class OptionalDeploymentSpec(DeploymentSpec):
    """A Deployment that is off by default (echarts-ssr, cloudmux): it runs only with ``disable: false``."""

    disable: bool = True


class DaemonSetSpec(_Placement):
    """A node agent run as a DaemonSet on the nodes labelled for it: image, resources, placement, updates."""

    update_strategy: Literal["RollingUpdate", "OnDelete"] | None = None
    max_unavailable: int | None = Field(default=None, ge=0)


class DaemonSetServiceSpec(DaemonSetSpec):
    """A node agent run as a DaemonSet, with a headless Service (yunionagent)."""

    service: ServiceSpec | None = None
    db_engine: DBEngine | None = Field(default=None, alias="db_engine")


class RegionDNSProxy(_Model):
    """One forwarding rule of region-dns: names under ``from`` are resolved by the ``to`` servers."""

    from_: str = Field(alias="from")
    to: list[str] | None = None


class RegionDNSSpec(DaemonSetSpec):
    """region-dns, the DNS server for the cloud's names, on the host network of its nodes."""

    cache_ttl: int | None = Field(default=None, ge=0, alias="cache_ttl")
    proxies: list[RegionDNSProxy] | None = None
    in_cloud_only: bool | None = Field(default=None, alias="in_cloud_only")


class HostAgentSpec(DaemonSetSpec):
    """The host agent on compute nodes, and the DaemonSets beside it, which share its placement.
    ``SdnAgent``, ``OvnController`` (openvswitch) and ``HostHealth`` set those DaemonSets' images.
    ``maxUnavailableCount`` is how many hosts update at once (default 3)."""

    sdn_agent: ContainerSpec | None = Field(default=None, alias="SdnAgent")
    ovn_controller: ContainerSpec | None = Field(default=None, alias="OvnController")
    host_health: ContainerSpec | None = Field(default=None, alias="HostHealth")
    ovn_encap_ip_detection_method: str | None = Field(default=None, alias="OvnEncapIpDetectionMethod")
    disable_security_group: bool | None = None
    manage_ntp_configuration: bool | None = None
    host_cpu_passthrough: bool | None = None
    default_qemu_version: str | None = None
    max_unavailable_count: int | None = Field(default=None, ge=1)


class LbagentSpec(DaemonSetSpec):
    """The load-balancer agent; ``OvnController`` sets its openvswitch container's image.
    ``maxUnavailableCount`` is how many nodes update at once."""

    ovn_controller: ContainerSpec | None = Field(default=None, alias="OvnController")
    max_unavailable_count: int | None = Field(default=None, ge=1)


class TelegrafSpec(DaemonSetSpec):
    """telegraf, the metrics agent on every node; ``enableRaidPlugin`` adds the RAID plugin container.
    ``TelegrafRaid`` sets that container's image; ``initContainerImage`` is ignored (always computed)."""

    init_container_image: str | None = Field(default=None, pattern=IMAGE_PATTERN)
    enable_raid_plugin: bool | None = None
    telegraf_config_dir: str | None = None
    telegraf_raid: ContainerSpec | None = Field(default=None, alias="TelegrafRaid")


class EtcdSpec(_Model):
    """The etcd the services share: the StatefulSet ``<name>-etcd``, ``size`` members (default 1).
    It serves TLS unless ``enableTls`` is false; ``pod`` and ``TLS`` are kept as the reference wrote them."""

    disable: bool = False
    enable_tls: bool | None = None
    size: int | None = Field(default=None, ge=0, le=9)
    repository: str | None = Field(default=None, pattern=REPOSITORY_PATTERN)
    version: str | None = Field(default=None, pattern=TAG_PATTERN)
    paused: bool | None = None
    pod: dict[str, JsonValue] | None = None
    tls: dict[str, JsonValue] | None = Field(default=None, alias="TLS")
    created_secrets: bool | None = None
    client_node_port: int | None = Field(default=None, ge=1, le=65535)
    etcd_backend_quota_size: int | None = Field(default=None, ge=0)


class SecretKeyRef(_Model):
    """One key of a Secret in the cluster's namespace."""

    name: str
    key: str


class DBServer(_Model):
    """A database server the services connect to, and its administrator account.
    For ``mysql`` the host defaults to ``mysql`` and the port to 3306."""

    host: str | None = Field(
        default=None,
        description="For mysql: set, the operator logs in as the administrator and creates every component's "
        "database, user and grant; unset, it provisions nothing. A name without a dot is a Service of the "
        "cluster's namespace",
    )
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = Field(default=None, description="The administrator account (root by default)")
    password: str | None = Field(
        default=None,
        description="The administrator's password in plain text: readable by anyone who can read this "
        "OnecloudCluster. Prefer passwordSecret, which wins over it",
    )
    password_secret: SecretKeyRef | None = Field(
        default=None,
        description="The administrator's password as a key of a Secret in the cluster's namespace; wins "
        "over password",
    )


class MinioSpec(_Model):
    """MinIO object storage, which kube-server deploys in the reference: accepted, kept, not planned."""

    enable: bool | None = None
    mode: Literal["standalone", "distributed"] | None = None


class MonitorStackSpec(_Model):
    """The monitoring stack (minio, grafana, loki, prometheus, thanos), which kube-server deploys.
    Accepted and kept as written; the operator plans nothing for it."""

    disable: bool = False
    minio: dict[str, JsonValue] | None = None
    grafana: dict[str, JsonValue] | None = None
    loki: dict[str, JsonValue] | None = None
    prometheus: dict[str, JsonValue] | None = None
    thanos: dict[str, JsonValue] | None = None


class ServiceType(_Model):
    """Declared by the reference and never read there: accepted and kept."""

    name: str
    type: str


_CROSS_FIELD_RULES: list[JsonValue] = [
    {
        "rule": "!has(self.productVersion) || self.productVersion != 'LightEdge' "
        "|| !has(self.disableLocalVpc) || self.disableLocalVpc",
        "message": "productVersion LightEdge runs without a local VPC: disableLocalVpc cannot be false",
        "fieldPath": ".disableLocalVpc",
    },
    {
        "rule": "!has(self.keystone) || !has(self.keystone.publicService) || !has(self.keystone.adminService)"
        " || !has(self.keystone.publicService.nodePort) || !has(self.keystone.adminService.nodePort)"
        " || self.keystone.publicService.nodePort != self.keystone.adminService.nodePort",
        "message": "keystone publicService and adminService need different nodePorts",
        "fieldPath": ".keystone",
    },
    {
        "rule": "!has(self.apiGateway) || !has(self.apiGateway.apiService) || !has(self.apiGateway.wsService)"
        " || !has(self.apiGateway.apiService.nodePort) || !has(self.apiGateway.wsService.nodePort)"
        " || self.apiGateway.apiService.nodePort != self.apiGateway.wsService.nodePort",
        "message": "apiGateway apiService and wsService need different nodePorts",
        "fieldPath": ".apiGateway",
    },
]


class OnecloudClusterSpec(_Model):
    """The Cloudpods cluster to run: cluster-wide image, product and network settings, one key per component.

    The CRD shows crdgen's own description for it; these JSON keys are the reference operator's."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _CROSS_FIELD_RULES})

    version: str | None = Field(
        default=None, pattern=TAG_PATTERN, description="Image tag for every component"
    )
    image_repository: str | None = Field(
        default=None,
        pattern=REPOSITORY_PATTERN,
        max_length=255,
        description=f"Image repository for every component (default {DEFAULT_IMAGE_REPOSITORY})",
    )
    product_version: ProductVersion | None = None
    use_hyper_image: bool | None = None
    region: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$", max_length=64)
    zone: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$", max_length=64)
    custom_zones: list[str] | None = None
    load_balancer_endpoint: str | None = None
    disable_resource_management: bool | None = None
    disable_local_vpc: bool | None = None
    enable_cloud_net: bool | None = None
    enable_s3_gateway: bool | None = Field(default=None, alias="enableS3Gateway")
    ipv6_cluster: bool | None = Field(default=None, alias="ipv6Cluster")
    cert_sans: list[str] | None = Field(default=None, alias="certSANs")
    services: list[ServiceType] | None = None
    mysql: DBServer | None = None
    clickhouse: DBServer | None = None
    dameng: DBServer | None = None
    db_engine: DBEngine | None = Field(default=None, alias="db_engine")
    minio: MinioSpec | None = None
    etcd: EtcdSpec | None = None
    upgrade_strategy: Literal["Staged", "AllAtOnce"] | None = Field(
        default=None,
        description="How a change of images reaches the workloads (an addition to the Go operator's CRD). "
        "Staged (the default): the control-plane Deployments roll first; the DaemonSets on the hosts, "
        "lbagent and controller nodes get their new template only once every Deployment's new pods are "
        "ready, and never while one cannot pull its image or crash-loops (Progressing=False, "
        "RolloutHalted). AllAtOnce: every workload at once, as the Go operator does.",
    )

    keystone: KeystoneSpec = KeystoneSpec()
    region_server: RegionSpec = RegionSpec()
    region_dns: RegionDNSSpec = Field(default=RegionDNSSpec(), alias="regionDNS")
    scheduler: DeploymentServicePortSpec = DeploymentServicePortSpec()
    glance: GlanceSpec = GlanceSpec()
    climc: DeploymentSpec = DeploymentSpec()
    webconsole: WebconsoleSpec = WebconsoleSpec()
    logger: DeploymentServicePortSpec = DeploymentServicePortSpec()
    yunionconf: DeploymentServicePortSpec = DeploymentServicePortSpec()
    yunionagent: DaemonSetServiceSpec = DaemonSetServiceSpec()
    influxdb: StatefulDeploymentSpec = StatefulDeploymentSpec()
    victoria_metrics: VictoriaMetricsSpec = VictoriaMetricsSpec()
    telegraf: TelegrafSpec = TelegrafSpec()
    monitor: DeploymentServicePortSpec = DeploymentServicePortSpec()
    api_gateway: APIGatewaySpec = APIGatewaySpec()
    web: WebSpec = WebSpec()
    kubeserver: DeploymentServicePortSpec = DeploymentServicePortSpec()
    ansibleserver: DeploymentServicePortSpec = DeploymentServicePortSpec()
    cloudnet: DeploymentServicePortSpec = DeploymentServicePortSpec()
    cloudproxy: DeploymentServicePortSpec = DeploymentServicePortSpec()
    cloudevent: DeploymentServicePortSpec = DeploymentServicePortSpec()
    notify: NotifySpec = NotifySpec()
    lbagent: LbagentSpec = LbagentSpec()
    hostagent: HostAgentSpec = HostAgentSpec()
    hostdeployer: DaemonSetSpec = DaemonSetSpec()
    hostimage: DaemonSetSpec = DaemonSetSpec()
    baremetalagent: ZoneStatefulDeploymentSpec = ZoneStatefulDeploymentSpec()
    s3gateway: DeploymentServicePortSpec = Field(default=DeploymentServicePortSpec(), alias="s3gateway")
    devtool: DeploymentServicePortSpec = DeploymentServicePortSpec()
    meter: StatefulDeploymentSpec = StatefulDeploymentSpec()
    billing: DeploymentServicePortSpec = DeploymentServicePortSpec()
    autoupdate: DeploymentServicePortSpec = DeploymentServicePortSpec()
    cloudmon: CloudmonSpec = CloudmonSpec()
    esxiagent: ZoneStatefulDeploymentSpec = ZoneStatefulDeploymentSpec()
    itsm: DeploymentServicePortSpec = DeploymentServicePortSpec()
    onecloud_service_operator: DeploymentServicePortSpec = DeploymentServicePortSpec()
    ovn_north: DeploymentServicePortSpec = DeploymentServicePortSpec()
    vpc_agent: DeploymentServicePortSpec = DeploymentServicePortSpec()
    cloudid: DeploymentServicePortSpec = DeploymentServicePortSpec()
    suggestion: DeploymentServicePortSpec = DeploymentServicePortSpec()
    monitor_stack: MonitorStackSpec = MonitorStackSpec()
    scheduledtask: DeploymentServicePortSpec = DeploymentServicePortSpec()
    api_map: DeploymentServicePortSpec = DeploymentServicePortSpec()
    report: DeploymentServicePortSpec = DeploymentServicePortSpec()
    echarts_ssr: OptionalDeploymentSpec = Field(default=OptionalDeploymentSpec(), alias="echartsSSR")
    bastion_host: DeploymentServicePortSpec = DeploymentServicePortSpec()
    cloudmux: OptionalDeploymentSpec = OptionalDeploymentSpec()
    extdb: DeploymentServicePortSpec = DeploymentServicePortSpec()
    llm: DeploymentServicePortSpec = DeploymentServicePortSpec()
    mcp_server: DeploymentServicePortSpec = DeploymentServicePortSpec()
    aiproxy: DeploymentServicePortSpec = DeploymentServicePortSpec()

    @property
    def effective_product_version(self) -> ProductVersion:
        """``productVersion``, or ``FullStack`` when unset: decides which components run."""
        return self.product_version or "FullStack"

    @property
    def effective_repository(self) -> str:
        """``imageRepository`` or the default registry; a component's own ``repository`` wins over it."""
        return self.image_repository or DEFAULT_IMAGE_REPOSITORY

    @property
    def effective_version(self) -> str:
        """``version`` or ``latest``: the tag of every image the spec or catalog does not pin."""
        return self.version or DEFAULT_VERSION

    @property
    def local_vpc_disabled(self) -> bool:
        """LightEdge forces ``disableLocalVpc`` (reference defaults.go)."""
        return bool(self.disable_local_vpc) or self.effective_product_version == "LightEdge"


class ObjectMeta(_Model):
    """The parts of metadata the operator reads; the rest passes through untouched."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(
        pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$",
        max_length=MAX_CLUSTER_NAME,
        description="Object names are <name>-<component>: Services need a DNS-1035 label of at most 63",
    )
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class Condition(_Model):
    _EMPTY_IS_UNSET = False

    """A condition of the cluster: Ready, Progressing or Degraded, with a reason and a message.
    ``lastTransitionTime`` moves only when ``status`` does."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class ComponentStatus(_Model):
    _EMPTY_IS_UNSET = False

    """One component's workload as last observed: image, replica counts and a phase.
    ``Normal``: rolled out with the planned images; ``Upgrade``: rolling out; ``Pending``: not created yet;
    ``Waiting``: held back until a component it depends on is ready."""

    kind: str
    name: str
    image: str = Field(description="The resolved image of the first container")
    phase: Literal["Normal", "Upgrade", "Pending", "Waiting", "Missing"]
    desired: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0
    message: str | None = None


class OnecloudClusterStatus(_Model):
    _EMPTY_IS_UNSET = False

    """Written by the operator only: conditions and one entry per component that is not disabled.
    ``specChecksum`` changes once a pass has applied the whole spec."""

    observed_generation: int | None = None
    version: str | None = None
    spec_checksum: str | None = None
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    components: dict[str, ComponentStatus] | None = None
    database: Literal["NotManaged", "Ready", "Unavailable"] | None = Field(
        default=None,
        description="The MySQL provisioning: NotManaged without spec.mysql.host, Ready once every database "
        "is ensured, Unavailable when the server cannot be used (the Degraded condition says why)",
    )
    keystone_registration: Literal["NotManaged", "Waiting", "Ready", "Unavailable"] | None = Field(
        default=None,
        description="The keystone registration (accounts, services, endpoints): NotManaged when the operator "
        "runs with --keystone-url none, Waiting until keystone is available, Ready once registered, "
        "Unavailable when keystone cannot be used or refuses a write (the Degraded condition says why)",
    )


class OnecloudCluster(_Model):
    """The whole resource; :meth:`to_dict` gives back exactly what was written."""

    api_version: Literal["onecloud.yunion.io/v1alpha1"] = "onecloud.yunion.io/v1alpha1"
    kind: Literal["OnecloudCluster"] = "OnecloudCluster"
    metadata: ObjectMeta
    spec: OnecloudClusterSpec = OnecloudClusterSpec()
    status: OnecloudClusterStatus | None = None

    @property
    def edition_raw(self) -> str:
        """The edition annotation as written, ``ce`` when absent or blank; ``images.edition_of`` checks it."""
        return ((self.metadata.annotations or {}).get(EDITION_ANNOTATION) or "ce").strip() or "ce"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form with only what was set: a reference CR round-trips unchanged."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


@functools.cache
def field_name(model: type[BaseModel], key: str) -> str | None:
    """The attribute behind a JSON key (``Guacd`` -> ``guacd``), None if the model has no such key.

    Cached: planning asks thousands of times."""
    for name, info in model.model_fields.items():
        if key in (info.alias, name):
            return name
    return None


def lookup(node: BaseModel | None, path: str) -> object:
    """The value at a dotted path of JSON keys (``hostagent.SdnAgent``); None where a step is unset
    or the model has no such key (a unit test checks that every path in the catalog exists)."""
    value: object = node
    for key in path.split("."):
        if isinstance(value, dict):  # free-form JSON kept verbatim (monitorStack, affinity)
            value = value.get(key)
            continue
        if not isinstance(value, BaseModel):
            return None
        name = field_name(type(value), key)
        if name is None:
            return None
        value = getattr(value, name)
    return value


_PATTERN_NAMES = {
    REPOSITORY_PATTERN: "not a valid image repository (registry host[:port] and lowercase path, OCI grammar)",
    IMAGE_NAME_PATTERN: "not a valid image name (lowercase path components, OCI grammar)",
    TAG_PATTERN: "not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
    IMAGE_PATTERN: "not a valid image reference (OCI grammar)",
}


def describe_validation_error(err: ValidationError) -> str:
    """The first problem of a pydantic error, in the CR's own JSON path and words a user knows."""
    first = err.errors()[0]
    path = ".".join(str(p) for p in first["loc"]) or "(document)"
    kind = first["type"]
    if kind == "extra_forbidden":
        reason = "unknown field: not a component or setting of OnecloudCluster v1alpha1"
    elif kind == "string_pattern_mismatch":
        pattern = (first.get("ctx") or {}).get("pattern", "")
        reason = _PATTERN_NAMES.get(pattern, first["msg"])
        reason = f"{first['input']!r} is {reason}"
    else:
        reason = first["msg"]
    more = len(err.errors()) - 1
    return f"{path}: {reason}" + (f" (and {more} more)" if more else "")
