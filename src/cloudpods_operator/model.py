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
import ipaddress
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

# The OCI distribution reference grammar (github.com/distribution/reference), written so that
# Python's ``re``, pydantic's Rust regex and Go's RE2 (the API server) all read it the same way.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
# The first component is a registry host only when it has a dot or a port (docker's rule, which the
# kubelet applies): ``UPPER/case`` is the path ``UPPER/case`` on docker.io, refused as not lowercase.
# A dotless lowercase host (``localhost``, ``registry``) reads as a path component, which it matches.
_DOMAIN = (
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})+(?::[0-9]+)?"
    rf"|{_DOMAIN_COMPONENT}:[0-9]+|{_PATH_COMPONENT})"
)
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
REPOSITORY_PATTERN = rf"^{_DOMAIN}(?:/{_PATH_COMPONENT})*$"
IMAGE_NAME_PATTERN = rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$"
TAG_PATTERN = rf"^{_TAG}$"
IMAGE_PATTERN = rf"^{_DOMAIN}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@sha256:[a-f0-9]{{64}})?$"

# ---- Kubernetes' own value rules (k8s.io/apimachinery/pkg/util/validation, resource.Quantity) ----
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1024
"""int64's bound, rounded so the CRD's ``maximum`` survives the API server's float64 reading of it."""
MAX_STRING = 1024
"""Every string without a tighter bound: nothing the operator writes into an object needs more."""
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS_LABEL_PATTERN = rf"^{_DNS_LABEL}$"
DNS_SUBDOMAIN_PATTERN = rf"^{_DNS_LABEL}(?:\.{_DNS_LABEL})*$"
_QN_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
QUALIFIED_NAME_PATTERN = rf"^(?:{_DNS_LABEL}(?:\.{_DNS_LABEL})*/)?{_QN_NAME}$"
# The API server lowercases an annotation key before checking it as a qualified name.
_ANY_CASE_LABEL = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
ANNOTATION_KEY_PATTERN = rf"^(?:{_ANY_CASE_LABEL}(?:\.{_ANY_CASE_LABEL})*/)?{_QN_NAME}$"
LABEL_VALUE_PATTERN = rf"^(?:{_QN_NAME})?$"
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
QUANTITY_PATTERN = rf"^\+?{_NUMBER}(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{{1,2}})?$"
"""resource.Quantity's grammar without the minus sign: requests, limits and storage refuse negatives."""
MAX_ANNOTATIONS = 64
MAX_ANNOTATION_VALUE = 3072
"""64 keys of 253 and values of 3072 stay under the API server's 256 KiB for all annotations."""
MAX_ZONES = 32

Int32 = Annotated[int, Field(ge=-INT32_MAX - 1, le=INT32_MAX)]
NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=-INT64_MAX, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, Field(ge=0, le=INT64_MAX)]
QualifiedName = Annotated[str, Field(pattern=QUALIFIED_NAME_PATTERN, max_length=253)]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, max_length=63)]
DNSSubdomain = Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]
AnnotationKey = Annotated[str, Field(pattern=ANNOTATION_KEY_PATTERN, max_length=253)]
AnnotationValue = Annotated[str, Field(max_length=MAX_ANNOTATION_VALUE)]


def _json_object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError("must be of type object")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError("must be JSON (no NaN, infinity, dates or binary)") from exc
    return value


FreeJson = Annotated[dict[str, Any], PlainValidator(_json_object), WithJsonSchema({"type": "object"})]
"""An object kept as written (etcd's pod policy, monitorStack): the CRD preserves it unpruned and unbounded,
so the model does not bound its strings either; it must only be JSON the API server can store."""


def _cel(*rules: tuple[str, str]) -> dict[str, JsonValue]:
    """``json_schema_extra`` with CEL rules (rule, message): the CRD's copy of a model validator."""
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


def _node_port_range(value: int) -> int:
    if value and not 30000 <= value <= 32767:
        raise ValueError("provided port is not in the valid range. The range of valid ports is 30000-32767")
    return value


NodePort = Annotated[
    int,
    Field(
        ge=0,
        le=32767,
        json_schema_extra=_cel(
            ("self == 0 || (self >= 30000 && self <= 32767)", "must be in the NodePort range 30000-32767")
        ),
    ),
    AfterValidator(_node_port_range),
]

_SUFFIXES: dict[str, Decimal] = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
    "P": Decimal(10**15), "E": Decimal(10**18),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}  # fmt: skip
_QUANTITY = re.compile(r"^\+?([0-9]*\.?[0-9]*)(.*)$")


def quantity_value(value: int | str) -> Decimal:
    """The amount a quantity (already matched against QUANTITY_PATTERN) stands for, to compare two."""
    if isinstance(value, int):
        return Decimal(value)
    match = _QUANTITY.match(value)
    assert match is not None
    number, suffix = match.groups()
    try:
        if suffix[:1] in ("e", "E") and len(suffix) > 1:
            return Decimal(number) * Decimal(10) ** int(suffix[1:])
        return Decimal(number) * _SUFFIXES[suffix]
    except (InvalidOperation, KeyError) as exc:  # pragma: no cover - the pattern forbids both
        raise ValueError(f"not a quantity: {value!r}") from exc


Quantity = (
    Annotated[int, Field(ge=0, le=INT64_MAX)] | Annotated[str, Field(pattern=QUANTITY_PATTERN, max_length=64)]
)

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


class _Model(BaseModel):
    """Base: camelCase JSON keys from snake_case names, unknown keys refused.

    An empty string means unset, as in the Go operator's types (its defaulting writes ``""`` into
    every string it leaves empty: a CR it ran has about two hundred of them)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="forbid",
        serialize_by_alias=True,
        strict=True,
        str_max_length=MAX_STRING,
    )

    _EMPTY_IS_UNSET: ClassVar[bool] = True
    """Off in the status models: those are ours, and an empty message is a message."""

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if cls._EMPTY_IS_UNSET and isinstance(data, dict):
            return {k: _integral(v) for k, v in data.items() if v != ""}
        return data


def _integral(value: Any) -> Any:
    """``7.0`` as ``7``: the API server's JSON decoding reads an integral number as an integer, so the
    CRD admits it where an integer is wanted (the model has no float field); ``7.5`` stays refused."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _quantity_field(description: str | None = None) -> Any:
    return Field(
        default=None, description=description, json_schema_extra={"x-kubernetes-int-or-string": True}
    )


def _set(value: int | str | None) -> bool:
    """Whether a quantity is rendered: 0, ``"0"`` and ``""`` are left out of the workload."""
    return value is not None and str(value) not in ("", "0")


class ResourceAmounts(_Model):
    """``cpu`` and ``memory`` quantities; requests' ``storage`` sizes the data volume."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            (
                "!has(self.storage) || self.storage == ''"
                " || quantity(self.storage).isGreaterThan(quantity('0'))",
                "storage: must be greater than zero",
            )
        )
    )

    cpu: Quantity | None = _quantity_field()
    memory: Quantity | None = _quantity_field()
    storage: str | None = Field(default=None, pattern=QUANTITY_PATTERN, max_length=64)

    @model_validator(mode="after")
    def _positive_storage(self) -> ResourceAmounts:
        if self.storage is not None and quantity_value(self.storage) <= 0:
            raise ValueError("storage: must be greater than zero")
        return self


def _requests_within_limits() -> list[tuple[str, str]]:
    """One CEL rule per resource: the API server refuses a request above its limit."""
    rules = []
    for res in ("cpu", "memory"):
        req, lim = f"self.requests.{res}", f"self.limits.{res}"
        rendered = " && ".join(f"has({x}) && !(string({x}) in ['', '0'])" for x in (req, lim))
        rules.append(
            (
                f"!(has(self.requests) && has(self.limits) && {rendered})"
                f" || quantity(string({req})).compareTo(quantity(string({lim}))) <= 0",
                f"requests.{res}: must be less than or equal to limits.{res}",
            )
        )
    return rules


class Toleration(_Model):
    """A Kubernetes toleration; giving any replaces the defaults (control-plane taints).
    The API server's rules (ValidateTolerations) are the model's and the CRD's."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            (
                "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
                "operator must be Exists when key is empty, which means match all values and all keys",
            ),
            (
                "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                "effect must be NoExecute when tolerationSeconds is set",
            ),
            (
                "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
                "value must be empty when operator is Exists",
            ),
        )
    )

    key: QualifiedName | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: Int64 | None = None

    @model_validator(mode="after")
    def _api_rules(self) -> Toleration:
        if not self.key and self.operator != "Exists":
            raise ValueError(
                "operator must be Exists when key is empty, which means match all values and all keys"
            )
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("effect must be NoExecute when tolerationSeconds is set")
        if self.operator == "Exists" and self.value:
            raise ValueError("value must be empty when operator is Exists")
        return self


# ---- corev1.Affinity and PodDNSConfig, typed: the API server's rules, not free JSON ----------


_SET_VALUES_RULES = (
    (
        "self.operator in ['Gt','Lt']"
        " || (self.operator in ['In','NotIn']) == (has(self.values) && self.values != [])",
        "values: required with In and NotIn, forbidden with Exists and DoesNotExist",
    ),
)


def _check_values(operator: str, values: list[str] | None) -> None:
    if operator in ("In", "NotIn") and not values:
        raise ValueError("values: required with In and NotIn, forbidden with Exists and DoesNotExist")
    if operator in ("Exists", "DoesNotExist") and values:
        raise ValueError("values: required with In and NotIn, forbidden with Exists and DoesNotExist")


class NodeSelectorRequirement(_Model):
    """A node label requirement; ``Gt``/``Lt`` take one integer value."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            *_SET_VALUES_RULES,
            (
                "!(self.operator in ['Gt', 'Lt']) || (has(self.values) && size(self.values) == 1"
                " && self.values[0].matches('^[+-]?[0-9]{1,18}$'))",
                "values must be one integer when operator is Gt or Lt",
            ),
        )
    )

    key: QualifiedName
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[Annotated[str, Field(max_length=63)]] | None = Field(default=None, max_length=64)
    """Not label values (the API server does not check them), but a node label value is at most 63."""

    @model_validator(mode="after")
    def _api_rules(self) -> NodeSelectorRequirement:
        _check_values(self.operator, self.values)
        if self.operator in ("Gt", "Lt") and not (
            self.values and len(self.values) == 1 and re.fullmatch(r"[+-]?[0-9]{1,18}", self.values[0])
        ):
            raise ValueError("values must be one integer when operator is Gt or Lt")
        return self


class NodeSelectorField(_Model):
    """A node field requirement: only ``metadata.name``, with In or NotIn and one value."""

    key: Literal["metadata.name"]
    operator: Literal["In", "NotIn"]
    values: list[DNSSubdomain] = Field(min_length=1, max_length=1)


class NodeSelectorTerm(_Model):
    """Node requirements, ANDed."""

    match_expressions: list[NodeSelectorRequirement] | None = Field(default=None, max_length=32)
    match_fields: list[NodeSelectorField] | None = Field(default=None, max_length=8)


class NodeSelector(_Model):
    """Node selector terms, ORed; at least one."""

    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1, max_length=16)


class PreferredSchedulingTerm(_Model):
    """A weighted node preference (weight 1-100)."""

    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(_Model):
    """corev1.NodeAffinity."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = Field(
        default=None, max_length=16
    )


class LabelSelectorRequirement(_Model):
    """A label requirement of a label selector."""

    model_config = ConfigDict(json_schema_extra=_cel(*_SET_VALUES_RULES))

    key: QualifiedName
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[LabelValue] | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _api_rules(self) -> LabelSelectorRequirement:
        _check_values(self.operator, self.values)
        return self


class LabelSelector(_Model):
    """metav1.LabelSelector: label keys are qualified names, values label values."""

    match_labels: dict[QualifiedName, LabelValue] | None = Field(default=None, max_length=32)
    match_expressions: list[LabelSelectorRequirement] | None = Field(default=None, max_length=32)


class PodAffinityTerm(_Model):
    """Pods to be near (or away from) on nodes sharing ``topologyKey``, which is required."""

    label_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    namespaces: list[DNSSubdomain] | None = Field(default=None, max_length=32)
    topology_key: QualifiedName
    match_label_keys: list[QualifiedName] | None = Field(default=None, max_length=32)
    mismatch_label_keys: list[QualifiedName] | None = Field(default=None, max_length=32)


class WeightedPodAffinityTerm(_Model):
    """A weighted pod (anti-)affinity preference (weight 1-100)."""

    weight: int = Field(ge=1, le=100)
    pod_affinity_term: PodAffinityTerm


class PodAffinity(_Model):
    """corev1.PodAffinity and PodAntiAffinity (the same shape)."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = Field(
        default=None, max_length=16
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = Field(
        default=None, max_length=16
    )


class Affinity(_Model):
    """corev1.Affinity; a ``nodeAffinity`` replaces the controller-node default of control-plane pods."""

    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


def _ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise ValueError("must be a valid IP address") from exc
    return value


class PodDNSConfigOption(_Model):
    """A resolver option: a name (required), with an optional value."""

    name: str = Field(min_length=1, max_length=253)
    value: str | None = Field(default=None, max_length=253)


class PodDNSConfig(_Model):
    """corev1.PodDNSConfig: at most 3 nameservers (IP addresses), 32 search domains in 2048 characters."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            (
                "!has(self.searches) || self.searches.join(' ').size() <= 2048",
                "searches must not have more than 2048 characters (including spaces)",
            )
        )
    )

    nameservers: (
        list[
            Annotated[
                str,
                Field(max_length=45, json_schema_extra=_cel(("isIP(self)", "must be a valid IP address"))),
                AfterValidator(_ip),
            ]
        ]
        | None
    ) = Field(default=None, max_length=3)
    searches: (
        list[
            Annotated[
                str,
                Field(
                    pattern=r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\.?$",
                    max_length=254,
                ),
            ]
        ]
        | None
    ) = Field(default=None, max_length=32)
    options: list[PodDNSConfigOption] | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _search_length(self) -> PodDNSConfig:
        if self.searches and len(" ".join(self.searches)) > 2048:
            raise ValueError("searches must not have more than 2048 characters (including spaces)")
        return self


class LocalObjectReference(_Model):
    """A Secret in the cluster's namespace, by name."""

    name: DNSSubdomain


class ContainerSpec(_Model):
    """One container's image and resources; ``repository``, ``imageName`` and ``tag`` win over the defaults.

    ``image`` is accepted for compatibility and ignored: the image is always computed from the others."""

    model_config = ConfigDict(json_schema_extra=_cel(*_requests_within_limits()))

    image: str | None = Field(default=None, pattern=IMAGE_PATTERN, max_length=512)
    repository: str | None = Field(default=None, pattern=REPOSITORY_PATTERN, max_length=255)
    image_name: str | None = Field(default=None, pattern=IMAGE_NAME_PATTERN, max_length=255)
    tag: str | None = Field(default=None, pattern=TAG_PATTERN, max_length=128)
    image_pull_policy: PullPolicy | None = None
    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ContainerSpec:
        if self.requests is None or self.limits is None:
            return self
        for res in ("cpu", "memory"):
            req, lim = getattr(self.requests, res), getattr(self.limits, res)
            if _set(req) and _set(lim) and quantity_value(req) > quantity_value(lim):
                raise ValueError(f"requests.{res}: must be less than or equal to limits.{res}")
        return self


class _Placement(ContainerSpec):
    disable: bool = False
    affinity: Affinity | None = None
    node_selector: dict[QualifiedName, LabelValue] | None = Field(default=None, max_length=32)
    tolerations: list[Toleration] | None = Field(default=None, max_length=32)
    annotations: dict[AnnotationKey, AnnotationValue] | None = Field(default=None, max_length=MAX_ANNOTATIONS)
    image_pull_secrets: list[LocalObjectReference] | None = Field(default=None, max_length=16)


def _unique(values: list[str]) -> list[str]:
    seen = set()
    for v in values:
        if v in seen:
            raise ValueError(f"Duplicate value: {json.dumps(v)}")
        seen.add(v)
    return values


MAX_ZONE_NAME = 63 - len("baremetal-agent-")
"""A zone names objects ``<cluster>-<agent>-<zone>`` and labels pods ``app: <agent>-<zone>`` (a label
value of at most 63; a unit test checks the longest per-zone agent name against the catalog)."""
ZoneName = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=MAX_ZONE_NAME)]
ZoneList = Annotated[
    list[ZoneName],
    Field(max_length=MAX_ZONES, json_schema_extra={"x-kubernetes-list-type": "set"}),
    AfterValidator(_unique),
]


class DeploymentSpec(_Placement):
    """A control-plane service run as a Deployment: its image, resources, replicas and pod placement."""

    replicas: NonNegativeInt32 | None = None
    dns_config: PodDNSConfig | None = None
    slave_replicas: int | None = Field(default=None, ge=0, le=1000, alias="slave_replicas")


class ServiceSpec(_Model):
    """``internalOnly``: ClusterIP, no nodePorts; ``nodePort`` (30000-32767, 0 is unset) moves the port
    inside the cluster too (ovnNorth: its north-db port; south-db stays 32242)."""

    internal_only: bool | None = None
    node_port: NodePort | None = None


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

    storage_class_name: DNSSubdomain | None = None


class ZoneStatefulDeploymentSpec(StatefulDeploymentSpec):
    """A per-zone agent with a data volume: one Deployment per zone in ``zones``.
    Without ``zones``: the cluster's ``zone`` and ``customZones``."""

    zones: ZoneList | None = None


class GlanceSpec(StatefulDeploymentSpec):
    """glance, the image service, with its image store on a data volume."""

    switch_to_s3: bool | None = Field(default=None, alias="switchToS3")


class WebconsoleSpec(DeploymentServicePortSpec):
    """The web console (VNC, RDP and SSH to guests); ``Guacd`` sets its guacd container's image."""

    guacd: ContainerSpec | None = Field(default=None, alias="Guacd")


class VictoriaMetricsSpec(StatefulDeploymentSpec):
    """VictoriaMetrics, the metrics store, on a data volume; it keeps samples 93 days.
    ``rententionPeriodDays`` (spelled as in the reference) is accepted and not applied."""

    rentention_period_days: int | None = Field(default=None, ge=1, le=INT32_MAX, alias="rententionPeriodDays")


class NotifySpec(StatefulDeploymentSpec):
    """The notification service; ``plugins`` is accepted and unused, as in the reference."""

    plugins: ContainerSpec | None = None


class APIGatewaySpec(DeploymentServicePortSpec):
    """The API gateway behind the web UI; ``apiService`` and ``wsService`` expose its API and websocket."""

    api_service: ServiceSpec | None = None
    ws_service: ServiceSpec | None = None
    cors_hosts: list[str] | None = Field(default=None, max_length=64)


class WebSpec(DeploymentServicePortSpec):
    """The web UI, reached through an Ingress: HTTPS, or HTTP with ``useHTTP``.
    ``Overview`` and ``Docs`` set the images of its dashboard and docs containers (edition ee)."""

    use_http: bool | None = Field(default=None, alias="useHTTP")
    overview: ContainerSpec | None = Field(default=None, alias="Overview")
    docs: ContainerSpec | None = Field(default=None, alias="Docs")


class CloudmonSpec(DeploymentServicePortSpec):
    """cloudmon, which collects metrics from public clouds; ``CloudmonPingDuration`` is accepted, unused."""

    cloudmon_ping_duration: int | None = Field(default=None, ge=0, le=INT64_MAX, alias="CloudmonPingDuration")


class OptionalDeploymentSpec(DeploymentSpec):
    """A Deployment that is off by default (echarts-ssr, cloudmux): it runs only with ``disable: false``."""

    disable: bool = True


class DaemonSetSpec(_Placement):
    """A node agent run as a DaemonSet on the nodes labelled for it: image, resources, placement, updates."""

    update_strategy: Literal["RollingUpdate", "OnDelete"] | None = None
    max_unavailable: NonNegativeInt32 | None = None


class DaemonSetServiceSpec(DaemonSetSpec):
    """A node agent run as a DaemonSet, with a headless Service (yunionagent)."""

    service: ServiceSpec | None = None
    db_engine: DBEngine | None = Field(default=None, alias="db_engine")


class RegionDNSProxy(_Model):
    """One forwarding rule of region-dns: names under ``from`` are resolved by the ``to`` servers."""

    from_: str = Field(alias="from")
    to: list[str] | None = Field(default=None, max_length=16)


class RegionDNSSpec(DaemonSetSpec):
    """region-dns, the DNS server for the cloud's names, on the host network of its nodes."""

    cache_ttl: NonNegativeInt32 | None = Field(default=None, alias="cache_ttl")
    proxies: list[RegionDNSProxy] | None = Field(default=None, max_length=64)
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
    max_unavailable_count: int | None = Field(default=None, ge=1, le=INT32_MAX)


class LbagentSpec(DaemonSetSpec):
    """The load-balancer agent; ``OvnController`` sets its openvswitch container's image.
    ``maxUnavailableCount`` is how many nodes update at once."""

    ovn_controller: ContainerSpec | None = Field(default=None, alias="OvnController")
    max_unavailable_count: int | None = Field(default=None, ge=1, le=INT32_MAX)


class TelegrafSpec(DaemonSetSpec):
    """telegraf, the metrics agent on every node; ``enableRaidPlugin`` adds the RAID plugin container.
    ``TelegrafRaid`` sets that container's image; ``initContainerImage`` is ignored (always computed)."""

    init_container_image: str | None = Field(default=None, pattern=IMAGE_PATTERN, max_length=512)
    enable_raid_plugin: bool | None = None
    telegraf_config_dir: str | None = None
    telegraf_raid: ContainerSpec | None = Field(default=None, alias="TelegrafRaid")


class EtcdSpec(_Model):
    """The etcd the services share: the StatefulSet ``<name>-etcd``, ``size`` members (default 1).
    It serves TLS unless ``enableTls`` is false; ``pod`` and ``TLS`` are kept as the reference wrote them."""

    disable: bool = False
    enable_tls: bool | None = None
    size: int | None = Field(default=None, ge=0, le=9)
    repository: str | None = Field(default=None, pattern=REPOSITORY_PATTERN, max_length=255)
    version: str | None = Field(default=None, pattern=TAG_PATTERN, max_length=128)
    paused: bool | None = None
    pod: FreeJson | None = None
    tls: FreeJson | None = Field(default=None, alias="TLS")
    created_secrets: bool | None = None
    client_node_port: NodePort | None = None
    etcd_backend_quota_size: NonNegativeInt64 | None = None


class SecretKeyRef(_Model):
    """One key of a Secret in the cluster's namespace."""

    name: DNSSubdomain
    key: str = Field(max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")


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
    minio: FreeJson | None = None
    grafana: FreeJson | None = None
    loki: FreeJson | None = None
    prometheus: FreeJson | None = None
    thanos: FreeJson | None = None


class ServiceType(_Model):
    """Declared by the reference and never read there: accepted and kept."""

    name: str
    type: str


_LIGHT_EDGE_MESSAGE = "productVersion LightEdge runs without a local VPC: disableLocalVpc cannot be false"
_CROSS_FIELD_RULES: list[JsonValue] = [
    {
        "rule": "!has(self.productVersion) || self.productVersion != 'LightEdge' "
        "|| !has(self.disableLocalVpc) || self.disableLocalVpc",
        "message": _LIGHT_EDGE_MESSAGE,
        "fieldPath": ".disableLocalVpc",
    },
]


class OnecloudClusterSpec(_Model):
    """The Cloudpods cluster to run: cluster-wide image, product and network settings, one key per component.

    The CRD shows crdgen's own description for it; these JSON keys are the reference operator's."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _CROSS_FIELD_RULES})

    version: str | None = Field(
        default=None, pattern=TAG_PATTERN, max_length=128, description="Image tag for every component"
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
    custom_zones: ZoneList | None = None
    load_balancer_endpoint: str | None = None
    disable_resource_management: bool | None = None
    disable_local_vpc: bool | None = None
    enable_cloud_net: bool | None = None
    enable_s3_gateway: bool | None = Field(default=None, alias="enableS3Gateway")
    ipv6_cluster: bool | None = Field(default=None, alias="ipv6Cluster")
    cert_sans: list[str] | None = Field(default=None, max_length=64, alias="certSANs")
    services: list[ServiceType] | None = Field(default=None, max_length=64)
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

    @model_validator(mode="after")
    def _cross_field_rules(self) -> OnecloudClusterSpec:
        """The CRD's CEL rule above, for ``plan`` and the reconciler (same rule, same words); the rules on
        the ports of one Service come from the catalog (crdgen writes them, the planner checks them)."""
        if self.product_version == "LightEdge" and self.disable_local_vpc is False:
            raise ValueError(f"disableLocalVpc: {_LIGHT_EDGE_MESSAGE}")
        return self

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
    generation: NonNegativeInt64 | None = None
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
    observed_generation: NonNegativeInt64 | None = None


class ComponentStatus(_Model):
    _EMPTY_IS_UNSET = False

    """One component's workload as last observed: image, replica counts and a phase.
    ``Normal``: rolled out with the planned images; ``Upgrade``: rolling out; ``Pending``: not created yet;
    ``Waiting``: held back until a component it depends on is ready."""

    kind: str
    name: str
    image: str = Field(description="The resolved image of the first container")
    phase: Literal["Normal", "Upgrade", "Pending", "Waiting", "Missing"]
    desired: NonNegativeInt32 = 0
    updated: NonNegativeInt32 = 0
    ready: NonNegativeInt32 = 0
    available: NonNegativeInt32 = 0
    message: str | None = None


class OnecloudClusterStatus(_Model):
    _EMPTY_IS_UNSET = False

    """Written by the operator only: conditions and one entry per component that is not disabled.
    ``specChecksum`` changes once a pass has applied the whole spec."""

    observed_generation: NonNegativeInt64 | None = None
    version: str | None = None
    spec_checksum: str | None = None
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    components: dict[str, ComponentStatus] | None = Field(
        default=None,
        # One value for server-side apply: only the operator writes it, and the field-by-field ownership of
        # ~40 entries x 9 fields made each status write cost the API server ~2.5x (measured, 100 clusters).
        json_schema_extra={"x-kubernetes-map-type": "atomic"},
    )
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
    REPOSITORY_PATTERN: "must be an image repository: a registry host with a dot or a port, then lowercase "
    "path components (OCI grammar)",
    IMAGE_NAME_PATTERN: "must be an image name: lowercase path components (OCI grammar)",
    TAG_PATTERN: "must be an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
    IMAGE_PATTERN: "must be an image reference (OCI grammar)",
    QUANTITY_PATTERN: "must be a non-negative quantity such as 500m, 1.5, 128Mi or 2Gi",
    DNS_SUBDOMAIN_PATTERN: "must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-' and '.')",
    DNS_LABEL_PATTERN: "must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending "
    "alphanumeric)",
    QUALIFIED_NAME_PATTERN: "must be a qualified name: an optional DNS subdomain prefix and '/', then at "
    "most 63 characters of [A-Za-z0-9_.-] starting and ending alphanumeric",
    ANNOTATION_KEY_PATTERN: "must be a qualified name: an optional DNS subdomain prefix and '/', then at "
    "most 63 characters of [A-Za-z0-9_.-] starting and ending alphanumeric",
    LABEL_VALUE_PATTERN: "must be a label value: empty, or at most 63 characters of [A-Za-z0-9_.-] "
    "starting and ending alphanumeric",
}


MAX_SHOWN = 80
"""Values in messages are cut to this many characters: a 10 MB value must not come back in a status."""

_TYPE_NAMES = {
    "int_type": "integer", "int_parsing": "integer", "int_from_float": "integer",
    "bool_type": "boolean", "bool_parsing": "boolean", "string_type": "string",
    "dict_type": "object", "model_type": "object", "model_attributes_type": "object",
    "list_type": "array", "float_type": "number",
}  # fmt: skip
# pydantic names the members of a union in the error path (``cpu.int``, ``function-after[...]``).
_UNION_TAG = re.compile(
    r"^(?:int|str|bool|float|list\[.*|dict\[.*|constrained-\w+|function-\w+\[.*|literal\[.*|"
    r"json-or-python\[.*|lax-or-strict\[.*|nullable\[.*|union\[.*|tagged-union\[.*|is-instance\[.*|"
    r"chain\[.*|default\[.*|Annotated\[.*)$"
)


def shorten(value: object) -> str:
    """A value as JSON, cut to MAX_SHOWN characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]" or _UNION_TAG.match(part):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _reason(first: Any) -> str:
    kind = first["type"]
    ctx = first.get("ctx") or {}
    value = first.get("input")
    shown = f"Invalid value: {shorten(value)}: "
    if kind == "extra_forbidden":
        return "unknown field: not a component or setting of OnecloudCluster v1alpha1"
    if kind == "missing":
        return "Required value"
    if kind in _TYPE_NAMES:
        return f"{shown}must be of type {_TYPE_NAMES[kind]}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        return shown + _PATTERN_NAMES.get(pattern, f"must match {shorten(pattern)}")
    if kind == "literal_error":
        return f"Unsupported value: {shorten(value)}: supported values: {ctx.get('expected', '')}"
    if kind in ("string_too_long", "too_long"):
        return f"Too long: may not be more than {ctx.get('max_length')} " + (
            "characters" if kind == "string_too_long" else "items"
        )
    if kind in ("string_too_short", "too_short"):
        return f"{shown}must have at least {ctx.get('min_length')} " + (
            "characters" if kind == "string_too_short" else "items"
        )
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}
        limit = next(iter(ctx.values()), "")
        return f"{shown}must be {bound[kind]} {limit}"
    if kind == "value_error":
        return str(ctx.get("error", first["msg"]))
    return f"{shown}{first['msg']}"


def describe_validation_error(err: ValidationError, root: str = "") -> str:
    """The first problem of a pydantic error, as kubectl words it: ``spec.x.y: Invalid value: "...": why``.

    ``root`` prefixes the path (the reconciler's ``spec`` errors are the CR's). A value is shown cut to
    MAX_SHOWN characters. A union's type mismatches (``cpu`` is an integer or a quantity string) give
    way to the member error that says more; the count of further problems is dropped."""
    errors = err.errors()
    first = next((e for e in errors if e["type"] not in _TYPE_NAMES), errors[0])
    path = _path(first["loc"])
    kind = first["type"]
    if "[key]" in first["loc"]:
        path = _path(first["loc"][: first["loc"].index("[key]") - 1])
        reason = f"{_reason(first)} (a key)"
    elif kind in _TYPE_NAMES and sum(1 for e in errors if _path(e["loc"]) == path) > 1:
        names = sorted(
            {_TYPE_NAMES[e["type"]] for e in errors if _path(e["loc"]) == path and e["type"] in _TYPE_NAMES}
        )
        reason = f"Invalid value: {shorten(first.get('input'))}: must be of type {' or '.join(names)}"
    else:
        reason = _reason(first)
    if kind == "value_error":
        # A model validator names the field it refuses: "field.sub: why" (the CRD's fieldPath).
        head, sep, tail = reason.partition(": ")
        if sep and re.fullmatch(r"[A-Za-z0-9_.\[\]]+", head) and " " not in head:
            path, reason = f"{path}.{head}" if path else head, tail
        reason = reason.removeprefix("Value error, ")
    path = ".".join(p for p in (root, path) if p) or "(document)"
    return f"{path}: {reason}"
