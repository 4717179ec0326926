"""Every Cloudpods component the reference operator runs, as data.

One frozen :class:`Component` per component: where its spec lives, how its images are named,
which workload it is, its containers, ports, Services, ConfigMap, PVC, placement, privileges,
and the gates that decide whether it runs (product version, edition, feature flag, default
``disable``). Facts come from the Go operator (``shared/reference/cloudpods-operator.md`` §3-§5).

A new component is one new entry here; :mod:`render` builds its objects and :mod:`images`
names its images from nothing but the entry and the spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from cloudpods_operator.model import ProductVersion

EditionGate = Literal["ee", "ee_or_ese"]
Feature = Literal["enableCloudNet", "enableS3Gateway", "localVpc"]

CONTROLLER_LABEL = "onecloud.yunion.io/controller"
HOST_LABEL = "onecloud.yunion.io/host"
LBAGENT_LABEL = "onecloud.yunion.io/lbagent"
BAREMETAL_LABEL = "onecloud.yunion.io/baremetal"
HOST_DEPLOYER_POD_LABEL = "onecloud.yunion.io/host-deployer"
WORKLOAD_SERVICE_ACCOUNT = "onecloud-operator"
IDENTITY = "keystone"
"""The identity service: every component with ``needs_keystone`` waits for it at bring-up."""


class Kind(StrEnum):
    """The workload a component runs as; the value is the Kubernetes kind."""

    DEPLOYMENT = "Deployment"
    DAEMONSET = "DaemonSet"
    STATEFULSET = "StatefulSet"


class Group(StrEnum):
    """The reference's sync order: etcd, then 29 in sequence, then 25 in parallel."""

    ETCD = "etcd"
    SEQUENTIAL = "sequential"
    PARALLEL = "parallel"
    NOT_RUN = "not-run"


ALL: frozenset[ProductVersion] = frozenset({"FullStack", "CMP", "Edge", "LightEdge", "AI"})


def products(letters: str) -> frozenset[ProductVersion]:
    """``"FCELA"`` -> the product versions, in the reference doc's letters."""
    by_letter: dict[str, ProductVersion] = {
        "F": "FullStack",
        "C": "CMP",
        "E": "Edge",
        "L": "LightEdge",
        "A": "AI",
    }
    return frozenset(by_letter[c] for c in letters)


@dataclass(frozen=True)
class ImageRule:
    """How one container's image is named.

    ``source`` is the spec path of the ContainerSpec whose ``repository``/``imageName``/``tag``
    apply (``None``: the component's own spec). ``fixed`` images (telegraf-init) take only the
    repository from their source, never ``imageName`` or ``tag``.
    """

    name: str
    pinned_tag: str | None = None
    hyper: bool = False
    edition: EditionGate | None = None
    source: str | None = None
    fixed: bool = False
    # The reference forces IfNotPresent for sidecar sub-specs and for hostimage, whatever the spec says.
    forced_pull_policy: bool = False

    @property
    def edition_name(self) -> str:
        """The image name when the edition qualifies: the catalog name with ``-ee``."""
        return f"{self.name}-ee"


@dataclass(frozen=True)
class Port:
    """A port a container listens on, as the pod template declares it (``containerPort``)."""

    name: str
    port: int
    protocol: Literal["TCP", "UDP"] = "TCP"


@dataclass(frozen=True)
class Container:
    """One container of a component's pod: its image rule, command, ports, environment and privileges.

    ``edition`` and ``feature`` gate this container alone, as they gate whole components;
    ``readiness_port`` adds an HTTPS ``/ping`` readiness probe on that port.
    """

    name: str
    image: ImageRule
    command: tuple[str, ...] = ()
    ports: tuple[Port, ...] = ()
    privileged: bool = False
    capabilities: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    edition: EditionGate | None = None
    feature: Feature | None = None
    readiness_port: int | None = None
    enabled_by: str | None = None
    """A boolean spec path (JSON keys) that must be true for this container to run."""
    working_dir: str | None = None
    secret_env: tuple[tuple[str, str], ...] = ()
    """Environment variables read from a key of ``<cluster>-credentials`` (name, key)."""


@dataclass(frozen=True)
class ServicePort:
    """``port`` is also the nodePort (the reference's habit) unless ``fixed_node_port`` says otherwise.

    ``spec_field`` is the JSON key of the ServiceSpec (in the component's own spec) whose
    ``nodePort`` moves this port, inside the cluster and out; ``node_port_field`` the JSON key of
    an integer that replaces ``fixed_node_port`` (etcd's ``clientNodePort``).
    """

    name: str
    port: int
    target_port: int
    node_port: bool = True
    protocol: Literal["TCP", "UDP"] = "TCP"
    fixed_node_port: int | None = None
    spec_field: str = "service"
    movable: bool = True
    """False: a fixed port that no ServiceSpec moves (ovn-north's south-db)."""
    node_port_field: str | None = None


@dataclass(frozen=True)
class Service:
    """``suffix`` is appended to the object name (``-client`` for etcd's client Service).

    ``internal_only_fields``: the ServiceSpecs whose ``internalOnly`` drops the nodePorts; the
    first one the spec sets decides (keystone: ``adminService``, apigateway: ``apiService``).
    """

    ports: tuple[ServicePort, ...]
    headless: bool = False
    cluster_ip: bool = False
    suffix: str = ""
    internal_only_fields: tuple[str, ...] = ("service",)


@dataclass(frozen=True)
class Ingress:
    """An Ingress to the component's Service: ``port`` (None: its first Service port, moved by the
    spec as that port is), and when ``http_field`` names a true boolean of the spec, ``http_port``
    with ``HTTP`` as the backend protocol."""

    path: str
    annotations: tuple[tuple[str, str], ...] = ()
    port: int | None = None
    http_port: int | None = None
    http_field: str | None = None


OptionValue = str | int | bool | tuple[str, ...]
"""A config value; strings may hold ``${...}`` placeholders (:mod:`serviceconfig` lists them)."""


@dataclass(frozen=True)
class Option:
    """One key of a service config. ``when``: a spec path (JSON keys) that must be truthy, ``!path``
    falsy, or ``product:<ProductVersion>``; a value that is one placeholder resolving to nothing is
    left out, as the reference's YAML encoder leaves out empty strings."""

    key: str
    value: OptionValue
    when: str | None = None


@dataclass(frozen=True)
class Config:
    """The service config file a component's processes read (the reference's ``<cluster>-<type>``
    ConfigMap, here the Secret ``<cluster>-<component>-config``: it holds passwords).

    ``common``: ``service`` adds what the reference's ``SetServiceCommonOptions`` sets (region, port,
    worker counts, keystone login, TLS, ``sql_connection``), ``identity`` keystone's base options,
    ``none`` nothing. ``template`` is the whole text of a file that is not a Cloudpods options
    struct (nginx, Corefile, properties), with the same placeholders."""

    path: str
    common: Literal["service", "identity", "none"] = "service"
    application_id: str | None = None
    tls: bool = True
    options: tuple[Option, ...] = ()
    template: str | None = None
    template_ee: str | None = None
    """The template in editions ee and ce/support (web's dashboard)."""

    @property
    def mount_dir(self) -> str:
        return self.path.rsplit("/", 1)[0]

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Account:
    """One entry of the reference's cluster config (``OnecloudClusterConfig``): a keystone service
    account and/or a database, shared by the components that name it, with the Go defaults. Passwords
    live in the credentials Secret as ``<key>.keystone-password``, ``<key>.db-password`` and
    ``<key>.clickhouse-password`` (and ``itsm.encryption-key``). :mod:`clusterconfig` reads the Go
    document's shape from these entries too, so they say which fields the Go type has."""

    key: str
    port: int
    """0: the Go type has no port (grafana's ``GrafanaConfig`` is a ``db`` alone, types.go:1239-1241)."""
    username: str | None = None
    """The keystone service account; None: the Go type has none (keystone, grafana)."""
    database: str | None = None
    db_user: str | None = None
    clickhouse: bool = False
    """``clickhouse_conf`` has the database and user of ``db`` (defaults.go:899-900)."""
    empty_db: bool = False
    """mcpServer: the Go type has ``db`` and ``clickhouse_conf``, but the Go defaulting leaves them all
    ``""`` (it defaults the account as ServiceCommonOptions only, defaults.go:813): no database, no
    password."""
    second_database: str | None = None
    """itsm's ``secondDatabase``: ``db.database + "_engine"``, reassigned on every Go pass
    (defaults.go:925-928)."""
    encryption_key: bool = False
    """itsm's ``encryptionKey``: a secret the credentials hold as ``itsm.encryption-key``, which
    :mod:`credentials` adds; it is not among :attr:`password_keys`."""

    @property
    def password_keys(self) -> tuple[str, ...]:
        """The keystone, DB and ClickHouse password keys (no key for an empty or absent database)."""
        keys = [f"{self.key}.keystone-password"] if self.username else []
        if self.database:
            keys.append(f"{self.key}.db-password")
        if self.clickhouse:
            keys.append(f"{self.key}.clickhouse-password")
        return tuple(keys)


def _accounts() -> dict[str, Account]:
    """The reference's defaults (defaults.go:795-864, constants.go): key, username, port, DB, DB user;
    with a DB (:827-859), without (:804-816, :860), then those whose Go type or defaulting differs."""
    with_db = (
        ("region", "regionadmin", 30888, "yunioncloud", "yunioncloud"),
        ("glance", "glance", 30292, "glance", "glance"),
        ("logger", "loggeradmin", 30999, "yunionlogger", "yunionlogger"),
        ("yunionagent", "yunionagent", 30898, "yunionagent", "yunionagent"),
        ("yunionconf", "yunionconf", 30889, "yunionconf", "yunionconf"),
        ("kubeserver", "kubeserver", 30442, "kubeserver", "kubeserver"),
        ("ansibleserver", "ansibleadmin", 30890, "yunionansible", "yunionansible"),
        ("cloudnet", "cloudnetadmin", 30891, "yunioncloudnet", "yunioncloudnet"),
        ("cloudproxy", "cloudproxyadmin", 30882, "yunioncloudproxy", "yunioncloudproxy"),
        ("cloudevent", "cloudeventadmin", 30892, "yunioncloudevent", "yunioncloudevent"),
        ("notify", "notify", 30777, "notify", "notify"),
        ("devtool", "devtooladmin", 30997, "devtool", "devtool"),
        ("meter", "meterdocker", 30909, "yunionmeter", "yunionmeter"),
        ("billing", "billingadmin", 30404, "yunionbilling", "yunionbilling"),
        ("monitor", "monitoradmin", 30093, "monitor", "yunionmonitor"),
        ("suggestion", "suggestion", 30987, "suggestion", "suggestion"),
        ("cloudid", "cloudidadmin", 30893, "yunioncloudid", "yunioncloudid"),
        ("webconsole", "webconsole", 30899, "webconsole", "webconsole"),
        ("report", "report", 30967, "report", "report"),
        ("autoupdate", "autoupdate", 30981, "autoupdate", "autoupdate"),
        ("bastionHost", "bastionhost", 30983, "bastionhost", "bastionhost"),
        ("extdb", "extdb", 30991, "extdb", "extdb"),
        ("llm", "llmadmin", 31512, "llm", "llm"),
        ("aiproxy", "aiproxy-admin", 31513, "aiproxy", "aiproxy"),
    )
    without_db = (
        ("apiGateway", "yunionapi", 30300),
        ("host", "hostadmin", 8885),
        ("baremetal", "baremetal", 8879),
        ("s3gateway", "s3gatewayadm", 30884),
        ("esxiagent", "esxiagent", 30883),
        ("vpcagent", "vpcagentadmin", 30932),
        ("onecloudServiceOperator", "osOperator", 30885),
        ("lbagent", "lbagentadm", 8895),
        ("cloudmon", "cloudmon", 30931),
    )
    accounts = [Account(k, p, u, d, du, clickhouse=True) for k, u, p, d, du in with_db]
    accounts += [Account(k, p, u) for k, u, p in without_db]
    accounts += [
        # ItsmConfig: a DB service with a second database and an encryption key (:844, :925-928).
        Account(
            "itsm",
            30595,
            "itsm",
            "itsm",
            "itsm",
            clickhouse=True,
            second_database="itsm_engine",
            encryption_key=True,
        ),
        # Defaulted as ServiceCommonOptions only: db and clickhouse_conf stay "" (:813).
        Account("mcpServer", 30876, "mcp-server-admin", empty_db=True),
        # KeystoneConfig: a port and databases, no keystone account (:887-891).
        Account("keystone", 30500, None, "keystone", "keystone", clickhouse=True),
        # GrafanaConfig: a database only (:863; constants.go:87-88).
        Account("grafana", 0, None, "grafana", "grafana"),
    ]
    return {a.key: a for a in accounts}


ACCOUNTS: dict[str, Account] = _accounts()


@dataclass(frozen=True)
class KeystoneEndpoint:
    """One interface of a keystone service. ``host``: ``""`` is the interface's default (``internal``:
    ``<cluster>-<component>``; the others: ``spec.loadBalancerEndpoint``, else the internal host), or a
    template with ``{cluster}`` and ``{namespace}``. ``port``: overrides the service's."""

    interface: Literal["public", "internal", "admin"]
    host: str = ""
    port: str | int | None = None


PUBLIC_INTERNAL = (KeystoneEndpoint("public"), KeystoneEndpoint("internal"))


@dataclass(frozen=True)
class KeystoneService:
    """A service of keystone's catalog a component registers, and its endpoints (the reference's
    ``RegisterCloudServiceEndpoint``: ``<scheme>://<host>:<port>[/<path>]``).

    ``port``: the ``spec_field`` of one of the component's :class:`ServicePort` (its port as the spec
    moves it) or a fixed port, which ``port_spec`` (a JSON path of an integer) replaces when set.
    ``http_when``: a JSON path whose ``true`` (``path=false``: whose ``false``) turns the scheme to http.
    ``url``: one fixed URL for every interface. ``slave``: a ``slave`` endpoint at the internal host's
    ``-slave`` twin while the component runs read-only replicas."""

    name: str
    type: str
    endpoints: tuple[KeystoneEndpoint, ...] = PUBLIC_INTERNAL
    port: str | int = "service"
    port_spec: str | None = None
    path: str = ""
    scheme: Literal["https", "http"] = "https"
    http_when: str | None = None
    url: str | None = None
    slave: bool = False


def _keystone_services() -> dict[str, tuple[KeystoneService, ...]]:
    """What each component registers, from the Go operator at f4a26910 (``RegisterCloudServiceEndpoint``
    and its callers, the keystone system init; tests/fixtures/go_keystone_catalog.yaml is the fact
    table). The reference's slave endpoints of components without read-only replicas (always created
    disabled), its CE-only ``yunionagent`` hack in yunionconf, and influxdb/apimap (never run by it,
    apimap is registered here when enabled) are the differences, listed in the README."""
    same = {
        # component: service name (= its type)
        "victoria-metrics": "victoria-metrics",
        "scheduler": "scheduler",
        "webconsole": "webconsole",
        "meter": "meter",
        "billing": "billing",
        "apimap": "apimap",
        "vpcagent": "vpcagent",
        "monitor": "monitor",
        "cloudmon": "cloudmon",
        "logger": "log",
        "autoupdate": "autoupdate",
        "cloudnet": "cloudnet",
        "cloudproxy": "cloudproxy",
        "cloudevent": "cloudevent",
        "devtool": "devtool",
        "yunionconf": "yunionconf",
        "s3gateway": "s3gateway",
        "notify": "notify",
        "itsm": "itsm",
        "cloudid": "cloudid",
        "suggestion": "suggestion",
        "scheduledtask": "scheduledtask",
        "report": "report",
        "bastionhost": "bastionhost",
        "extdb": "extdb",
        "llm": "llm",
        "aiproxy": "aiproxy",
    }
    out: dict[str, tuple[KeystoneService, ...]] = {c: (KeystoneService(n, n),) for c, n in same.items()}
    slave = {"meter", "billing"}
    for c in slave:
        out[c] = (KeystoneService(c, c, slave=True),)
    out |= {
        "etcd": (
            KeystoneService(
                "etcd",
                "etcd",
                (
                    KeystoneEndpoint("internal", "{cluster}-etcd-client.{namespace}.svc", 2379),
                    KeystoneEndpoint("public"),
                ),
                port=30379,
                port_spec="etcd.clientNodePort",
                http_when="etcd.enableTls=false",
            ),
        ),
        "keystone": (
            KeystoneService(
                "keystone",
                "identity",
                (
                    KeystoneEndpoint("public"),
                    KeystoneEndpoint("internal"),
                    KeystoneEndpoint("admin", port="adminService"),
                ),
                port="publicService",
                path="v3",
                http_when="keystone.disableTLS",
                slave=True,
            ),
            KeystoneService("external-service", "external-service", ()),
            KeystoneService("common", "common", ()),
            KeystoneService(
                "offlinecloudmeta",
                "offlinecloudmeta",
                (KeystoneEndpoint("internal"), KeystoneEndpoint("public")),
                url="https://yunionmeta.oss-cn-beijing.aliyuncs.com",
            ),
        ),
        "region": (KeystoneService("region2", "compute_v2", slave=True),),
        "kubeserver": (KeystoneService("k8s", "k8s", path="api"),),
        "glance": (KeystoneService("glance", "image", path="v1", slave=True),),
        "yunionagent": (
            KeystoneService(
                "yunionagent", "yunionagent", port=30898, port_spec="yunionagent.service.nodePort"
            ),
        ),
        "ansibleserver": (KeystoneService("ansible", "ansible", slave=True),),
        "apigateway": (KeystoneService("yunionapi", "yunionapi", port="apiService"),),
        "host": (KeystoneService("host", "host", ()),),
        "baremetal-agent": (KeystoneService("baremetal", "baremetal", ()),),
        "lbagent": (KeystoneService("lbagent", "lbagent", ()),),
        "mcp-server": (KeystoneService("mcp-server", "mcp-server", scheme="http"),),
        "echarts-ssr": (
            KeystoneService(
                "echarts-ssr",
                "echarts-ssr",
                (KeystoneEndpoint("internal", "{cluster}-echarts-ssr.{namespace}.svc"),),
                scheme="http",
            ),
        ),
    }
    return out


KEYSTONE_SERVICES: dict[str, tuple[KeystoneService, ...]] = _keystone_services()
"""Component name -> the keystone services it registers (none for a component not named)."""


@dataclass(frozen=True)
class Volume:
    """The component's data PVC: default size (``requests.storage`` wins) and mount path.

    ``annotation_path`` goes into the ``pvc.onecloud.yunion.io/pv-path`` annotation, as the reference
    sets it: the host directory meant to back the volume.
    """

    storage: str
    mount: str
    annotation_path: str | None = None


@dataclass(frozen=True)
class Component:
    """One component as data: the planner gates it, render and images build it, from this and the spec alone.

    Entries are frozen and shared by every cluster; what a spec changes is computed from them, never
    written into them.
    """

    name: str
    spec_key: str
    kind: Kind
    group: Group
    containers: tuple[Container, ...]
    init_containers: tuple[Container, ...] = ()
    products: frozenset[ProductVersion] = ALL
    edition: EditionGate | None = None
    feature: Feature | None = None
    services: tuple[Service, ...] = ()
    config: Config | None = None
    account: str | None = None
    """The :data:`ACCOUNTS` entry it logs in with and whose database it uses."""
    owns_account: bool = True
    config_from: str | None = None
    """Mounts this component's config instead of one of its own (the host sub-DaemonSets read host's)."""
    """Whether this component's database and keystone account are its own to create (scheduler uses
    region's and creates neither)."""
    pvc: Volume | None = None
    ingress: Ingress | None = None
    node_label: str | None = CONTROLLER_LABEL
    host_network: bool = False
    host_pid: bool = False
    """hostPID and hostIPC, for node agents that manage the host's processes."""
    host_paths: tuple[str, ...] = ()
    service_account: bool = False
    etcd_tls: bool = False
    db: str | None = None
    needs_keystone: bool = True
    waits_for: tuple[str, ...] = ()
    placement_key: str | None = None
    per_zone: bool = False
    pod_labels: tuple[str, ...] = ()
    """Labels (value "") its pods carry and its workload selects on, as the reference's."""
    app_label: str | None = None
    """The ``app`` and ``app.kubernetes.io/component`` of its pods when not its name (the reference's
    onecloud-service-operator pods are ``osOperator``)."""
    selector_extra: tuple[tuple[str, str], ...] = ()
    """More selector labels of the reference's (onecloud-service-operator: ``control-plane``)."""
    max_unavailable: int | None = None
    # Runs only when the spec says ``disable: false`` explicitly (apimap, cloudmux, echarts-ssr, influxdb).
    default_off: bool = False
    # Supports ``slave_replicas``: a read-only ``<name>-slave`` Deployment and ClusterIP Service.
    read_only_slave: bool = False
    replaces_pods: str | None = None
    """A label selector (``{cluster}`` is the cluster's name) of bare Pods the reference ran instead of this
    workload: deleted once it is rolled out (the Go operator's etcd members)."""
    recreate: bool = False
    """Deployment strategy Recreate, whatever the storage (victoria-metrics: one writer on its volume)."""
    dns_options: tuple[tuple[str, str], ...] = ()
    """Pod dnsConfig options when the spec gives no dnsConfig (region: ndots 2)."""
    termination_grace_seconds: int | None = None
    notes: str = ""
    extra_labels: tuple[tuple[str, str], ...] = field(default=())

    @property
    def own_spec_key(self) -> str:
        """The top-level spec key of the component (``hostagent`` for ``hostagent.SdnAgent``)."""
        return self.spec_key.split(".")[0]

    @property
    def keystone_user(self) -> str | None:
        """The keystone service account it logs in with (its account's username)."""
        account = ACCOUNTS.get(self.account or "")
        return account.username if account else None

    @property
    def database_user(self) -> str | None:
        """The MySQL user of the database it ensures (None without one)."""
        account = ACCOUNTS.get(self.account or "")
        return (account.db_user if account else None) if self.db else None

    @property
    def keystone_services(self) -> tuple[KeystoneService, ...]:
        """The keystone services (and their endpoints) it registers: :data:`KEYSTONE_SERVICES`."""
        return KEYSTONE_SERVICES.get(self.name, ())

    @property
    def placement_spec_key(self) -> str:
        """The spec whose disable/placement fields apply (host sub-DaemonSets read ``hostagent``)."""
        return self.placement_key or self.spec_key.split(".")[0]


# ---- builders for the two common shapes ------------------------------------------------------

OVS_TAG = "2.12.4-20260415"


def _bin(name: str, conf: str | None = None) -> tuple[str, ...]:
    return (f"/opt/yunion/bin/{name}", "--config", f"/etc/yunion/{conf or name}.conf")


def _service(
    name: str,
    spec_key: str,
    port: int,
    *,
    letters: str,
    group: Group,
    hyper: bool = True,
    image_name: str | None = None,
    pinned_tag: str | None = None,
    edition_image: EditionGate | None = None,
    container: str | None = None,
    init: bool = False,
    readiness: bool = False,
    privileged: bool = False,
    **kw: object,
) -> Component:
    """A control-plane API service: one container, one NodePort ``api`` Service, a ConfigMap."""
    rule = ImageRule(image_name or name, pinned_tag=pinned_tag, hyper=hyper, edition=edition_image)
    main = Container(
        container or name,
        rule,
        command=_bin(name),
        ports=(Port("api", port),),
        privileged=privileged,
        readiness_port=port if readiness else None,
    )
    inits = (Container("init", rule, command=(*_bin(name), "--auto-sync-table", "--exit-after-db-init")),)
    return Component(
        name=name,
        spec_key=spec_key,
        kind=Kind.DEPLOYMENT,
        group=group,
        containers=(main,),
        init_containers=inits if init else (),
        products=products(letters),
        services=(Service((ServicePort("api", port, port),)),),
        **kw,  # type: ignore[arg-type]
    )


SEQ, PAR = Group.SEQUENTIAL, Group.PARALLEL
HOST_PATHS = (
    "/etc/yunion",
    "/opt/cloud",
    "/usr/local",
    "/dev",
    "/sys",
    "/tmp",
    "/var/run/onecloud",
    "/var/run/vmware",
    "/var/run/openvswitch",
    "/var/log/openvswitch",
    "/etc/openvswitch",
)
OVS_PATHS = ("/var/run/openvswitch", "/var/log/openvswitch", "/etc/openvswitch", "/lib/modules", "/sys")


def _host_ds(
    name: str,
    container: str,
    source: str,
    image: ImageRule,
    command: tuple[str, ...],
    *,
    capabilities: tuple[str, ...] = (),
    waits_for: tuple[str, ...] = (),
    feature: Feature | None = None,
    node_label: str = HOST_LABEL,
    host_paths: tuple[str, ...] = OVS_PATHS,
    letters: str = "FELA",
    **kw: object,
) -> Component:
    """A host sub-DaemonSet driven by a ``hostagent`` sub-spec."""
    return Component(
        name=name,
        spec_key=source,
        kind=Kind.DAEMONSET,
        group=SEQ,
        containers=(
            Container(container, image, command=command, privileged=True, capabilities=capabilities),
        ),
        products=products(letters),
        feature=feature,
        node_label=node_label,
        host_network=True,
        host_pid=True,
        host_paths=host_paths,
        needs_keystone=False,
        waits_for=waits_for,
        max_unavailable=3,
        **({"placement_key": "hostagent"} | kw),  # type: ignore[arg-type]
    )


OVS = ImageRule("openvswitch", pinned_tag=OVS_TAG, source="hostagent.OvnController")

COMPONENTS: tuple[Component, ...] = (
    # ---- etcd: the reference's embedded etcd-operator, here a StatefulSet with the same Services
    Component(
        name="etcd",
        spec_key="etcd",
        kind=Kind.STATEFULSET,
        group=Group.ETCD,
        containers=(
            Container(
                "etcd",
                ImageRule("etcd", pinned_tag="3.5.12"),
                command=("/usr/local/bin/etcd",),
                ports=(Port("client", 2379), Port("peer", 2380)),
            ),
        ),
        init_containers=(
            Container(
                "check-dns", ImageRule("busybox", pinned_tag="1.37.0-glibc", fixed=True, source="etcd")
            ),
        ),
        services=(
            Service(
                (ServicePort("client", 2379, 2379, node_port=False), ServicePort("peer", 2380, 2380, False)),
                headless=True,
            ),
            Service(
                (ServicePort("client", 2379, 2379, fixed_node_port=30379, node_port_field="clientNodePort"),),
                suffix="-client",
            ),
        ),
        products=products("FCELA"),
        needs_keystone=False,
        notes="bare Pods from an embedded etcd-operator in the reference; a StatefulSet here",
        replaces_pods="etcd_cluster={cluster}-etcd",
    ),
    # ---- the sequential group, in the reference's order
    Component(
        name="keystone",
        account="keystone",
        config=Config(
            "/etc/yunion/keystone.conf",
            common="identity",
            application_id="identity",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=keystone&read_timeout=10&write_timeout=20&username=keystone&password=${secret:keystone.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("bootstrap_admin_user_password", "${secret:sysadmin-password}"),
                Option("reset_admin_user_password", True),
                Option("admin_port", 30357),
            ),
        ),
        spec_key="keystone",
        kind=Kind.DEPLOYMENT,
        group=SEQ,
        containers=(
            Container(
                "keystone",
                ImageRule("keystone", hyper=True),
                command=_bin("keystone"),
                ports=(Port("public", 30500), Port("admin", 30357)),
                readiness_port=30500,
            ),
        ),
        init_containers=(
            Container(
                "init",
                ImageRule("keystone", hyper=True),
                command=(*_bin("keystone"), "--auto-sync-table", "--exit-after-db-init"),
            ),
        ),
        products=products("FCELA"),
        services=(
            Service(
                (
                    ServicePort("public", 30500, 30500, spec_field="publicService"),
                    ServicePort("admin", 30357, 30357, spec_field="adminService"),
                ),
                internal_only_fields=("adminService", "service"),
            ),
        ),
        db="keystone",
        needs_keystone=False,
        read_only_slave=True,
    ),
    Component(
        name="victoria-metrics",
        spec_key="victoriaMetrics",
        kind=Kind.DEPLOYMENT,
        group=SEQ,
        containers=(
            Container(
                "victoria-metrics",
                ImageRule("victoria-metrics", pinned_tag="v1.129.1-1"),
                command=(
                    "/victoria-metrics-prod",
                    "--httpListenAddr=:30428",
                    "--storageDataPath=/storage",
                    "--retentionPeriod=93d",
                    "--envflag.prefix=VM_",
                ),
                ports=(Port("api", 30428),),
                readiness_port=30428,
            ),
        ),
        products=products("FCELA"),
        services=(Service((ServicePort("api", 30428, 30428),)),),
        pvc=Volume("20G", "/storage"),
        needs_keystone=False,
        recreate=True,
    ),
    Component(
        name="telegraf",
        spec_key="telegraf",
        kind=Kind.DAEMONSET,
        group=SEQ,
        containers=(
            Container(
                "telegraf",
                ImageRule("telegraf", pinned_tag="release-1.36.4-6"),
                command=("/usr/bin/telegraf", "-config", "/etc/telegraf/telegraf.conf"),
                privileged=True,
                env=(
                    ("HOST_ETC", "/hostfs/etc"),
                    ("HOST_PROC", "/hostfs/proc"),
                    ("HOST_SYS", "/hostfs/sys"),
                    ("HOST_VAR", "/hostfs/var"),
                    ("HOST_RUN", "/hostfs/run"),
                    ("HOST_MOUNT_PREFIX", "/hostfs"),
                ),
            ),
            Container(
                "telegraf-raid-plugin",
                ImageRule(
                    "telegraf-raid-plugin", pinned_tag="v4.0-20260115.0", source="telegraf.TelegrafRaid"
                ),
                privileged=True,
                enabled_by="telegraf.enableRaidPlugin",
            ),
        ),
        init_containers=(
            Container(
                "telegraf-init",
                ImageRule("telegraf-init", pinned_tag="release-1.36-1", fixed=True, source="telegraf"),
                privileged=True,
            ),
        ),
        products=products("FELA"),
        node_label=None,
        host_network=True,
        host_paths=("/", "/etc/telegraf"),
        service_account=True,
        needs_keystone=False,
        max_unavailable=20,
    ),
    _service(
        "region",
        "regionServer",
        30888,
        read_only_slave=True,
        letters="FCELA",
        group=SEQ,
        edition_image="ee",
        init=True,
        readiness=True,
        etcd_tls=True,
        service_account=True,
        db="yunioncloud",
        dns_options=(("ndots", "2"),),
        account="region",
        config=Config(
            "/etc/yunion/region.conf",
            application_id="compute_v2",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=yunioncloud&read_timeout=10&write_timeout=20&username=yunioncloud&password=${secret:region.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("auto_sync_table", True),
                Option("dns_domain", "${spec:regionServer.dnsDomain}"),
                Option("dns_server", "${spec:regionServer.dnsServer|$lb}"),
                Option("port_v2", 30888),
                Option(
                    "baremetal_prepare_package_url",
                    "https://${lb}/baremetal-prepare/baremetal_prepare.tar.gz",
                ),
            ),
        ),
    ),
    _service(
        "scheduler",
        "scheduler",
        30887,
        letters="FCELA",
        group=SEQ,
        account="region",
        owns_account=False,
        config=Config(
            "/etc/yunion/scheduler.conf",
            application_id="scheduler",
            options=(Option("scheduler_port", 30887),),
        ),
    ),
    _service(
        "kubeserver",
        "kubeserver",
        30442,
        letters="FCELA",
        group=SEQ,
        hyper=False,
        init=True,
        etcd_tls=True,
        service_account=True,
        db="kubeserver",
        account="kubeserver",
        config=Config(
            "/etc/yunion/kubeserver.conf",
            application_id="k8s",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=kubeserver&read_timeout=10&write_timeout=20&username=kubeserver&password=${secret:kubeserver.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("auto_sync_table", True),
                Option("tls_cert_file", "/etc/yunion/pki/service.crt"),
                Option("tls_private_key_file", "/etc/yunion/pki/service.key"),
                Option("https_port", 30442),
            ),
        ),
    ),
    Component(
        name="webconsole",
        account="webconsole",
        config=Config(
            "/etc/yunion/webconsole.conf",
            application_id="webconsole",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=webconsole&read_timeout=10&write_timeout=20&username=webconsole&password=${secret:webconsole.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("auto_sync_table", True),
                Option("ipmitool_path", "/usr/sbin/ipmitool"),
                Option("enable_auto_login", True),
                Option("api_server", "https://${lb}"),
            ),
        ),
        spec_key="webconsole",
        kind=Kind.DEPLOYMENT,
        group=SEQ,
        containers=(
            Container(
                "web",
                ImageRule("webconsole", hyper=True),
                command=_bin("webconsole"),
                ports=(Port("api", 30899),),
            ),
            Container(
                "guacd",
                ImageRule("guacd", pinned_tag="1.6.0", source="webconsole.Guacd"),
                command=("/opt/guacamole/sbin/guacd", "-b", "0.0.0.0", "-L", "info", "-f"),
                ports=(Port("guacd", 4822),),
            ),
        ),
        products=products("FCELA"),
        services=(Service((ServicePort("api", 30899, 30899),)),),
        db="webconsole",
    ),
    _service(
        "glance",
        "glance",
        30292,
        read_only_slave=True,
        letters="FCELA",
        group=SEQ,
        init=True,
        privileged=True,
        pvc=Volume("100G", "/data", "/opt/cloud/workspace/data/glance"),
        host_paths=("/opt/cloud", "/var/run", "/dev"),
        pod_labels=(HOST_DEPLOYER_POD_LABEL,),
        db="glance",
        account="glance",
        config=Config(
            "/etc/yunion/glance.conf",
            application_id="image",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=glance&read_timeout=10&write_timeout=20&username=glance&password=${secret:glance.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("filesystem_store_datadir", "/opt/cloud/workspace/data/glance/images"),
                Option("enable_torrent_service", False),
                Option("auto_sync_table", True),
                Option("enable_remote_executor", True, when="!product:CMP"),
                Option("enable_remote_executor", False, when="product:CMP"),
                Option("target_image_formats", ("qcow2", "vmdk"), when="product:CMP"),
                Option("storage_driver", "s3", when="glance.switchToS3"),
            ),
        ),
    ),
    Component(
        name="region-dns",
        account="region",
        owns_account=False,
        config=Config(
            "/etc/yunion/region-dns.conf", common="none", tls=False, template="region-dns.Corefile"
        ),
        spec_key="regionDNS",
        kind=Kind.DAEMONSET,
        group=SEQ,
        containers=(
            Container(
                "region-dns",
                ImageRule("region-dns"),
                command=("/opt/yunion/bin/region-dns", "-conf", "/etc/yunion/region-dns.conf"),
                ports=(Port("dns", 53, "UDP"), Port("dns-tcp", 53)),
            ),
        ),
        products=products("FCELA"),
        services=(Service((), headless=True),),
        host_network=True,
        host_pid=True,
    ),
    Component(
        name="yunionagent",
        account="yunionagent",
        config=Config(
            "/etc/yunion/yunionagent.conf",
            application_id="yunionagent",
            options=(Option("auto_sync_table", True),),
        ),
        spec_key="yunionagent",
        kind=Kind.DAEMONSET,
        group=SEQ,
        containers=(
            Container(
                "yunionagent",
                ImageRule("yunionagent", hyper=True),
                command=_bin("yunionagent"),
                ports=(Port("api", 30898),),
            ),
        ),
        products=products("FCE"),
        edition="ee_or_ese",
        services=(Service((), headless=True),),
        host_network=True,
        host_pid=True,
        service_account=True,
        db="yunionagent",
    ),
    _service(
        "ansibleserver",
        "ansibleserver",
        30890,
        read_only_slave=True,
        letters="FCEA",
        group=SEQ,
        container="server",
        db="yunionansible",
        account="ansibleserver",
        config=Config(
            "/etc/yunion/ansibleserver.conf",
            application_id="ansible",
            options=(Option("auto_sync_table", True),),
        ),
    ),
    Component(
        name="apigateway",
        account="apiGateway",
        config=Config(
            "/etc/yunion/apigateway.conf",
            application_id="apigateway",
            options=(
                Option("ws_port", 30443),
                Option("cors_hosts", "${spec:apiGateway.corsHosts}"),
                Option("show_captcha", True),  # default tags of the reference's own ApiOptions struct
                Option("enable_totp", True),
            ),
        ),
        spec_key="apiGateway",
        kind=Kind.DEPLOYMENT,
        group=SEQ,
        containers=(
            Container(
                "api",
                ImageRule("apigateway", hyper=True, edition="ee_or_ese"),
                command=_bin("apigateway"),
                ports=(Port("api", 30300),),
                readiness_port=30300,
            ),
            Container(
                "ws",
                ImageRule("apigateway", hyper=True, edition="ee_or_ese"),
                command=("/opt/yunion/bin/ws", "--config", "/etc/yunion/apigateway.conf"),
                ports=(Port("ws", 30443),),
                edition="ee_or_ese",
            ),
        ),
        products=products("FCELA"),
        services=(
            Service(
                (
                    ServicePort("api", 30300, 30300, spec_field="apiService"),
                    ServicePort("ws", 30443, 30443, spec_field="wsService"),
                ),
                internal_only_fields=("apiService", "service"),
            ),
        ),
    ),
    _service(
        "meter",
        "meter",
        30909,
        letters="FCE",
        group=SEQ,
        init=True,
        readiness=True,
        edition="ee",
        db="yunionmeter",
        read_only_slave=True,
        account="meter",
        config=Config(
            "/etc/yunion/meter.conf",
            application_id="meter",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=yunionmeter&read_timeout=10&write_timeout=20&username=yunionmeter&password=${secret:meter.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("billing_file_directory", "/opt/yunion/meter/billing"),
                Option("cloudrates_file_directory", "/opt/yunion/meter/rates"),
                Option("aws_ri_plan_id_handle", "true"),
                Option("influxdb_meter_name", "meter_db"),
                Option("monthly_bill", True),
                Option("auto_sync_table", True),
            ),
        ),
    ),
    _service(
        "billing",
        "billing",
        30404,
        letters="FCE",
        group=SEQ,
        init=True,
        edition="ee",
        db="yunionbilling",
        read_only_slave=True,
        account="billing",
        config=Config(
            "/etc/yunion/billing.conf",
            application_id="billing",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=yunionbilling&read_timeout=10&write_timeout=20&username=yunionbilling&password=${secret:billing.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
            ),
        ),
    ),
    Component(
        name="esxi-agent",
        account="esxiagent",
        config=Config(
            "/etc/yunion/esxi-agent.conf",
            options=(Option("zone", "${zone}"), Option("listen_interface", "eth0")),
        ),
        spec_key="esxiagent",
        kind=Kind.DEPLOYMENT,
        group=SEQ,
        containers=(
            Container(
                "esxi-agent",
                ImageRule("esxi-agent", hyper=True),
                command=_bin("esxi-agent"),
                ports=(Port("api", 30883),),
                privileged=True,
            ),
        ),
        products=products("FCE"),
        host_paths=("/opt/cloud", "/var/run"),
        pod_labels=(HOST_DEPLOYER_POD_LABEL,),
        per_zone=True,
    ),
    Component(
        name="ovn-north",
        spec_key="ovnNorth",
        kind=Kind.DEPLOYMENT,
        group=SEQ,
        containers=(
            Container(
                "ovn-north",
                ImageRule("openvswitch", pinned_tag=OVS_TAG),
                command=("/start.sh", "north"),
                ports=(Port("north-db", 6641), Port("south-db", 6642)),
                capabilities=("SYS_NICE",),
            ),
        ),
        products=products("FELA"),
        feature="localVpc",
        # ``service.nodePort`` moves north-db only: moving both to one number made it unsettable.
        services=(
            Service(
                (ServicePort("north-db", 32241, 6641), ServicePort("south-db", 32242, 6642, movable=False))
            ),
        ),
        needs_keystone=False,
    ),
    _service(
        "apimap",
        "apiMap",
        31999,
        letters="FE",
        group=SEQ,
        default_off=True,
        account="region",
        owns_account=False,
        config=Config("/etc/yunion/apimap.conf", application_id="apimap", options=(Option("port", 31999),)),
    ),
    _service(
        "vpcagent",
        "vpcAgent",
        30932,
        letters="FELA",
        group=SEQ,
        feature="localVpc",
        account="vpcagent",
        config=Config(
            "/etc/yunion/vpcagent.conf",
            application_id="vpcagent",
            options=(Option("ovn_north_database", "tcp:${cluster}-ovn-north:${port:ovn-north.north-db}"),),
        ),
    ),
    Component(
        name="host-deployer",
        account="host",
        config_from="host",
        spec_key="hostdeployer",
        kind=Kind.DAEMONSET,
        group=SEQ,
        containers=(
            Container(
                "host-deployer",
                ImageRule("host-deployer"),
                command=(
                    "/opt/yunion/bin/host-deployer",
                    "--common-config-file",
                    "/etc/yunion/common/common.conf",
                    "--config",
                    "/etc/yunion/host.conf",
                ),
                privileged=True,
            ),
        ),
        products=products("FCELA"),
        node_label=HOST_LABEL,
        host_network=True,
        host_pid=True,
        host_paths=HOST_PATHS,
        needs_keystone=False,
        max_unavailable=999,
        notes="reads the host ConfigMap; node affinity host=enable or controller=enable in the reference",
    ),
    _host_ds(
        "host-image",
        "host-image",
        "hostimage",
        ImageRule("host-image", pinned_tag="v1.0.8", forced_pull_policy=True),
        (
            "/opt/yunion/bin/host-image",
            "--common-config-file",
            "/etc/yunion/common/common.conf",
            "--config",
            "/etc/yunion/host.conf",
        ),
        host_paths=HOST_PATHS,
        account="host",
        owns_account=False,
        config_from="host",
        placement_key="hostimage",  # HEAD: disabled only by hostimage.disable, not with hostagent
    ),
    Component(
        name="host",
        account="host",
        config=Config(
            "/etc/yunion/common/common.conf",
            options=(
                Option("enable_remote_executor", True),
                Option("disable_security_group", "${spec:hostagent.disableSecurityGroup|false}"),
                Option("manage_ntp_configuration", "${spec:hostagent.manageNtpConfiguration|false}"),
                Option("host_cpu_passthrough", "${spec:hostagent.hostCpuPassthrough|true}"),
                Option("default_qemu_version", "${spec:hostagent.defaultQemuVersion|10.0.7}"),
                Option("disable_local_vpc", "${disable_local_vpc}"),
            ),
        ),
        spec_key="hostagent",
        kind=Kind.DAEMONSET,
        group=SEQ,
        containers=(
            Container(
                "host",
                ImageRule("host", hyper=True),
                command=("/opt/yunion/bin/host", "--common-config-file", "/etc/yunion/common/common.conf"),
                ports=(Port("api", 8885),),
                privileged=True,
                env=(("HOST_SYSTEM_SERVICES_OFF", "host-deployer,host_sdnagent,telegraf"),),
            ),
        ),
        products=products("FELA"),
        node_label=HOST_LABEL,
        host_network=True,
        host_pid=True,
        host_paths=HOST_PATHS,
        pod_labels=(HOST_DEPLOYER_POD_LABEL,),
        max_unavailable=3,
        termination_grace_seconds=300,
    ),
    _host_ds(
        "host-sdnagent",
        "sdnagent",
        "hostagent.SdnAgent",
        ImageRule("sdnagent", hyper=True, source="hostagent.SdnAgent"),
        ("/opt/yunion/bin/sdnagent", "--common-config-file", "/etc/yunion/common/common.conf"),
        host_paths=HOST_PATHS,
        account="host",
        owns_account=False,
        config_from="host",
    ),
    _host_ds(
        "host-ovn-controller",
        "ovn-controller",
        "hostagent.OvnController",
        OVS,
        ("/start.sh", "controller"),
        capabilities=("NET_ADMIN", "SYS_MODULE", "SYS_NICE"),
        waits_for=("host-ovs-vswitchd",),
        feature="localVpc",
    ),
    _host_ds(
        "host-ovsdb-server",
        "ovsdb-server",
        "hostagent.OvnController",
        OVS,
        ("/start.sh", "ovsdb"),
        capabilities=("SYS_NICE",),
    ),
    _host_ds(
        "host-ovs-vswitchd",
        "ovs-vswitchd",
        "hostagent.OvnController",
        OVS,
        ("/start.sh", "vswitchd"),
        capabilities=("NET_ADMIN", "SYS_MODULE", "SYS_NICE"),
        waits_for=("host-ovsdb-server",),
    ),
    _host_ds(
        "host-health",
        "host-health",
        "hostagent.HostHealth",
        ImageRule("host-health", pinned_tag="v0.0.4", source="hostagent.HostHealth"),
        ("/opt/yunion/bin/host-health", "--common-config-file", "/etc/yunion/common/common.conf"),
        host_paths=HOST_PATHS,
        account="host",
        owns_account=False,
        config_from="host",
    ),
    _service(
        "monitor",
        "monitor",
        30093,
        letters="FCELA",
        group=SEQ,
        edition_image="ee",
        db="monitor",
        account="monitor",
        config=Config(
            "/etc/yunion/monitor.conf",
            application_id="monitor",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=monitor&read_timeout=10&write_timeout=20&username=yunionmonitor&password=${secret:monitor.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("auto_sync_table", True),
            ),
        ),
    ),
    _service(
        "cloudmon",
        "cloudmon",
        30931,
        letters="FCE",
        group=SEQ,
        edition_image="ee",
        account="cloudmon",
        config=Config("/etc/yunion/cloudmon.conf", application_id="cloudmon"),
    ),
    Component(
        name="web",
        config=Config(
            "/etc/nginx/conf.d/default.conf",
            common="none",
            tls=False,
            template="web-ce.conf",
            template_ee="web-ee.conf",
        ),
        spec_key="web",
        kind=Kind.DEPLOYMENT,
        group=SEQ,
        containers=(
            Container(
                "web",
                ImageRule("web", edition="ee_or_ese"),
                command=("nginx", "-g", "daemon off;"),
                ports=(Port("http", 80),),
            ),
            Container(
                "overview",
                ImageRule("dashboard-overview", source="web.Overview"),
                ports=(Port("overview", 8080),),
                edition="ee",
            ),
            Container(
                "docs", ImageRule("docs-ee", source="web.Docs"), ports=(Port("docs", 8081),), edition="ee"
            ),
        ),
        products=products("FCELA"),
        services=(
            Service(
                (
                    ServicePort("http", 80, 80, False),
                    ServicePort("https", 443, 443, False),
                    ServicePort("overview", 8080, 8080, False),
                    ServicePort("docs", 8081, 8081, False),
                ),
                cluster_ip=True,
            ),
        ),
        ingress=Ingress(
            "/",
            (("nginx.ingress.kubernetes.io/backend-protocol", "HTTPS"),),
            port=443,
            http_port=80,
            http_field="useHTTP",
        ),
        needs_keystone=False,
    ),
    # ---- the parallel group
    _service(
        "logger",
        "logger",
        30999,
        letters="FCELA",
        group=PAR,
        init=True,
        db="yunionlogger",
        account="logger",
        config=Config(
            "/etc/yunion/logger.conf",
            application_id="log",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=yunionlogger&read_timeout=10&write_timeout=20&username=yunionlogger&password=${secret:logger.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
            ),
        ),
    ),
    Component(
        name="climc",
        config=Config("/etc/yunion/rcadmin", common="none", tls=False, template="climc.rc"),
        spec_key="climc",
        kind=Kind.DEPLOYMENT,
        group=PAR,
        containers=(
            Container(
                "climc",
                ImageRule("climc", edition="ee_or_ese"),
                command=("bash", "/opt/climc-entrypoint.sh"),
                env=(
                    ("OS_USERNAME", "sysadmin"),
                    ("OS_PROJECT_NAME", "system"),
                    ("YUNION_INSECURE", "true"),
                    ("EDITOR", "vim"),
                ),
                # The reference puts the bootstrap password in the pod spec; here it stays in the Secret.
                secret_env=(("OS_PASSWORD", "sysadmin-password"),),
            ),
        ),
        products=products("FCELA"),
    ),
    Component(
        name="cloudmux",
        spec_key="cloudmux",
        kind=Kind.DEPLOYMENT,
        group=PAR,
        containers=(Container("cloudmux", ImageRule("cloudmux"), command=("tail", "-f", "/dev/null")),),
        products=products("FCE"),
        needs_keystone=False,
        default_off=True,
    ),
    _service(
        "autoupdate",
        "autoupdate",
        30981,
        letters="FCELA",
        group=PAR,
        init=True,
        edition="ee",
        service_account=True,
        db="autoupdate",
        account="autoupdate",
        config=Config(
            "/etc/yunion/autoupdate.conf",
            application_id="autoupdate",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=autoupdate&read_timeout=10&write_timeout=20&username=autoupdate&password=${secret:autoupdate.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("update_server", "https://iso.yunion.cn"),
                Option("update_check_interval_hours", 1),
                Option("host_update_start_hour", 2),
                Option("host_update_stop_hour", 4),
                Option("host_update_time_zone", "Asia/Shanghai"),
                Option("kubernetes_mode", True),
                Option("channel", "stable"),
            ),
        ),
    ),
    _service(
        "cloudnet",
        "cloudnet",
        30891,
        letters="F",
        group=PAR,
        hyper=False,
        container="server",
        feature="enableCloudNet",
        db="yunioncloudnet",
        account="cloudnet",
        config=Config(
            "/etc/yunion/cloudnet.conf", application_id="cloudnet", options=(Option("auto_sync_table", True),)
        ),
    ),
    _service(
        "cloudproxy",
        "cloudproxy",
        30882,
        letters="FCE",
        group=PAR,
        hyper=False,
        container="server",
        db="yunioncloudproxy",
        account="cloudproxy",
        config=Config(
            "/etc/yunion/cloudproxy.conf",
            application_id="cloudproxy",
            options=(
                Option("auto_sync_table", True),
                Option("enable_proxy_agent", True),
                Option("proxy_agent_id", "proxyagent0"),
            ),
        ),
    ),
    _service(
        "cloudevent",
        "cloudevent",
        30892,
        letters="FC",
        group=PAR,
        container="server",
        db="yunioncloudevent",
        account="cloudevent",
        config=Config(
            "/etc/yunion/cloudevent.conf",
            application_id="cloudevent",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=yunioncloudevent&read_timeout=10&write_timeout=20&username=yunioncloudevent&password=${secret:cloudevent.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("auto_sync_table", True),
            ),
        ),
    ),
    _service(
        "devtool",
        "devtool",
        30997,
        letters="FCEA",
        group=PAR,
        db="devtool",
        account="devtool",
        config=Config(
            "/etc/yunion/devtool.conf", application_id="devtool", options=(Option("auto_sync_table", True),)
        ),
    ),
    _service(
        "yunionconf",
        "yunionconf",
        30889,
        letters="FCELA",
        group=PAR,
        db="yunionconf",
        account="yunionconf",
        config=Config(
            "/etc/yunion/yunionconf.conf",
            application_id="yunionconf",
            options=(Option("auto_sync_table", True),),
        ),
    ),
    _service(
        "s3gateway",
        "s3gateway",
        30884,
        letters="FC",
        group=PAR,
        hyper=False,
        feature="enableS3Gateway",
        account="s3gateway",
        config=Config("/etc/yunion/s3gateway.conf", application_id="s3gateway"),
    ),
    _service(
        "notify",
        "notify",
        30777,
        letters="FCELA",
        group=PAR,
        init=True,
        etcd_tls=True,
        db="notify",
        account="notify",
        config=Config(
            "/etc/yunion/notify.conf",
            application_id="notify",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=notify&read_timeout=10&write_timeout=20&username=notify&password=${secret:notify.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
            ),
        ),
    ),
    Component(
        name="baremetal-agent",
        account="baremetal",
        config=Config(
            "/etc/yunion/baremetal-agent.conf",
            options=(
                Option("zone", "${zone}"),
                Option("auto_register_baremetal", False),
                Option("linux_default_root_user", True),
            ),
        ),
        spec_key="baremetalagent",
        kind=Kind.DEPLOYMENT,
        group=PAR,
        containers=(
            Container(
                "baremetal-agent",
                ImageRule("baremetal-agent"),
                command=_bin("baremetal-agent"),
                ports=(Port("api", 8879),),
                privileged=True,
            ),
        ),
        products=products("FE"),
        pvc=Volume("100G", "/opt/cloud/workspace"),
        node_label=BAREMETAL_LABEL,
        host_network=True,
        per_zone=True,
        notes="0 replicas while no node carries onecloud.yunion.io/baremetal=enable",
    ),
    Component(
        name="onecloud-service-operator",
        app_label="osOperator",
        selector_extra=(("control-plane", "controller-manager"),),
        account="onecloudServiceOperator",
        config=Config(
            "/etc/yunion/oro.conf",
            common="none",
            tls=False,
            options=(
                Option("enable_webhooks", False),
                Option("ap_dense", True),
                Option("sync_period", 15),
                Option("auth_url", "${keystone_url}"),
                Option("admin_username", "osOperator"),
                Option("admin_password", "${secret:onecloudServiceOperator.keystone-password}"),
                Option("admin_project", "system"),
                Option("admin_domain", "Default"),
                Option("webhook_port", 0),
                Option("enable_leader_election", False),
            ),
        ),
        spec_key="onecloudServiceOperator",
        kind=Kind.DEPLOYMENT,
        group=PAR,
        containers=(
            Container(
                "manager",
                ImageRule("onecloud-service-operator"),
                command=("/manager", "--config", "/etc/yunion/oro.conf"),
                ports=(Port("api", 30885),),
            ),
        ),
        init_containers=(
            Container(
                "init",
                ImageRule("onecloud-service-operator"),
                command=("kubectl", "apply", "-f", "/etc/crds/"),
            ),
        ),
        products=products("FCE"),
        services=(Service((ServicePort("api", 30885, 30885),)),),
        service_account=True,
    ),
    Component(
        name="itsm",
        account="itsm",
        config=Config(
            "/deployments/config/application.properties", common="none", tls=False, template="itsm.properties"
        ),
        spec_key="itsm",
        kind=Kind.DEPLOYMENT,
        group=PAR,
        containers=(
            Container(
                "itsm",
                ImageRule("itsm"),
                ports=(Port("api", 30595),),
                env=(("JAVA_APP_JAR", "itsm.jar"), ("JAVA_OPTIONS", "-Xms1024M -Xmx1024M")),
            ),
        ),
        products=products("FCE"),
        edition="ee",
        services=(Service((ServicePort("api", 30595, 30595),)),),
        db="itsm_engine",
    ),
    _service(
        "cloudid",
        "cloudid",
        30893,
        letters="FC",
        group=PAR,
        container="server",
        db="yunioncloudid",
        account="cloudid",
        config=Config(
            "/etc/yunion/cloudid.conf", application_id="cloudid", options=(Option("auto_sync_table", True),)
        ),
    ),
    _service(
        "suggestion",
        "suggestion",
        30987,
        letters="FCEA",
        group=PAR,
        edition="ee",
        db="suggestion",
        account="suggestion",
        config=Config(
            "/etc/yunion/suggestion.conf",
            application_id="suggestion",
            options=(Option("auto_sync_table", True),),
        ),
    ),
    _service(
        "scheduledtask",
        "scheduledtask",
        30978,
        letters="FCEA",
        group=PAR,
        init=True,
        account="region",
        owns_account=False,
        config=Config(
            "/etc/yunion/scheduledtask.conf",
            application_id="scheduledtask",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=yunioncloud&read_timeout=10&write_timeout=20&username=yunioncloud&password=${secret:region.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("port", 30978),
                Option("auto_sync_table", True),
            ),
        ),
    ),
    _service(
        "report",
        "report",
        30967,
        letters="FCEA",
        group=PAR,
        edition="ee",
        db="report",
        account="report",
        config=Config(
            "/etc/yunion/report.conf",
            application_id="report",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=report&read_timeout=10&write_timeout=20&username=report&password=${secret:report.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("auto_sync_table", True),
            ),
        ),
    ),
    Component(
        name="lbagent",
        account="lbagent",
        config=Config(
            "/etc/yunion/common/common.conf",
            options=(
                Option("base_data_dir", "/opt/cloud/workspace/lbagent"),
                Option("enable_remote_executor", True),
                Option("disable_local_vpc", "${disable_local_vpc}"),
            ),
        ),
        spec_key="lbagent",
        kind=Kind.DAEMONSET,
        group=PAR,
        containers=(
            # One container at HEAD (lbagent.go): ``lbagent.OvnController`` is accepted and builds nothing.
            Container(
                "lbagent",
                ImageRule("lbagent", hyper=True),
                command=(*_bin("lbagent"), "--common-config-file", "/etc/yunion/common/common.conf"),
                privileged=True,
                env=(
                    ("HOST_OVN_ENCAP_IP_DETECTION_METHOD", ""),
                    ("HOST_OVN_SOUTH_DATABASE", "tcp:${cluster}-ovn-north:32242"),
                    ("OVN_CONTAINER_IMAGE_TAG", OVS_TAG),
                ),
                working_dir="/opt/cloud",
            ),
        ),
        products=products("FEA"),
        node_label=LBAGENT_LABEL,
        host_network=True,
        host_pid=True,
        host_paths=HOST_PATHS,
        etcd_tls=True,
        max_unavailable=3,
        termination_grace_seconds=300,
    ),
    Component(
        name="echarts-ssr",
        spec_key="echartsSSR",
        kind=Kind.DEPLOYMENT,
        group=PAR,
        containers=(
            Container(
                "echarts-ssr", ImageRule("echarts-ssr", pinned_tag="v0.0.6"), ports=(Port("server", 8081),)
            ),
        ),
        products=products("FCE"),
        edition="ee",
        services=(Service((ServicePort("server", 8081, 8081, False),), cluster_ip=True),),
        needs_keystone=False,
        default_off=True,
    ),
    _service(
        "bastionhost",
        "bastionHost",
        30983,
        letters="FCE",
        group=PAR,
        init=True,
        edition="ee",
        db="bastionhost",
        account="bastionHost",
        config=Config("/etc/yunion/bastionhost.conf", application_id="bastionhost"),
    ),
    _service(
        "extdb",
        "extdb",
        30991,
        letters="FCE",
        group=PAR,
        edition="ee",
        db="extdb",
        account="extdb",
        config=Config(
            "/etc/yunion/extdb.conf",
            application_id="extdb",
            options=(
                Option(
                    "clickhouse",
                    "tcp://${spec:clickhouse.host}:${spec:clickhouse.port|9000}?database=extdb&read_timeout=10&write_timeout=20&username=extdb&password=${secret:extdb.clickhouse-password}",
                    when="clickhouse.host",
                ),
                Option("ops_log_with_clickhouse", True, when="clickhouse.host"),
                Option("auto_sync_table", True),
            ),
        ),
    ),
    _service(
        "llm",
        "llm",
        31512,
        letters="FCEA",
        group=PAR,
        db="llm",
        account="llm",
        config=Config(
            "/etc/yunion/llm.conf", application_id="llm", options=(Option("auto_sync_table", True),)
        ),
    ),
    _service(
        "mcp-server",
        "mcpServer",
        30876,
        letters="FCEA",
        group=PAR,
        edition_image="ee",
        account="mcpServer",
        config=Config("/etc/yunion/mcp-server.conf", application_id="mcp-server", tls=False),
    ),
    _service(
        "aiproxy",
        "aiproxy",
        31513,
        letters="FCEA",
        group=PAR,
        ingress=Ingress(
            "/ai/",
            (
                ("nginx.ingress.kubernetes.io/backend-protocol", "HTTPS"),
                ("nginx.ingress.kubernetes.io/proxy-ssl-verify", "off"),
                ("nginx.ingress.kubernetes.io/proxy-read-timeout", "600"),
                ("nginx.ingress.kubernetes.io/proxy-buffering", "off"),
            ),
        ),
        db="aiproxy",
        account="aiproxy",
        config=Config(
            "/etc/yunion/aiproxy.conf",
            application_id="aiproxy",
            options=(
                Option("auto_sync_table", True),
                Option(
                    "api_log_s3_endpoint",
                    "http://monitor-minio.onecloud-monitoring.svc:9000",
                    when="!monitorStack.disable",
                ),
                Option(
                    "api_log_s3_access_key",
                    "${spec:monitorStack.minio.accessKey|monitor-admin}",
                    when="!monitorStack.disable",
                ),
                Option(
                    "api_log_s3_secret_key",
                    "${spec:monitorStack.minio.secretKey}",
                    when="!monitorStack.disable",
                ),
            ),
        ),
    ),
    # ---- in the reference's types but not run by it: planned only when enabled explicitly
    _service(
        "influxdb",
        "influxdb",
        30086,
        letters="FCE",
        group=Group.NOT_RUN,
        hyper=False,
        pinned_tag="1.7.7",
        default_off=True,
        pvc=Volume("20G", "/var/lib/influxdb"),
        needs_keystone=False,
        config=Config("/etc/yunion/influxdb.conf", common="none", tls=False, template="influxdb.conf"),
    ),
)

BY_NAME: dict[str, Component] = {c.name: c for c in COMPONENTS}


def config_of(comp: Component) -> tuple[Component, Config] | None:
    """The component whose config this one mounts (itself, or ``config_from``) and that config."""
    owner = BY_NAME[comp.config_from] if comp.config_from else comp
    return (owner, owner.config) if owner.config else None


SPEC_KEYS: frozenset[str] = frozenset(c.spec_key.split(".")[0] for c in COMPONENTS) | {"monitorStack"}
