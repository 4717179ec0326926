"""Desired Kubernetes objects for one component, as plain dicts ready for server-side apply.

Everything here is a pure function of (cluster, catalog entry, resolved images). Each body is
the operator's complete intent for the fields it owns: a field left out is a field another
manager (an HPA, a user) may own. Images arrive already resolved; nothing here builds one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from pydantic import BaseModel

from cloudpods_operator import catalog, kinds
from cloudpods_operator.images import ImageRef
from cloudpods_operator.kinds import JSON
from cloudpods_operator.model import (
    DaemonSetSpec,
    DeploymentSpec,
    Edition,
    HostAgentSpec,
    LbagentSpec,
    OnecloudCluster,
    OnecloudClusterSpec,
    ResourceAmounts,
    ServiceSpec,
    StatefulDeploymentSpec,
    Toleration,
    _Placement,
    lookup,
)

MANAGED_BY = "onecloud-operator"  # the reference's value: selectors are immutable, adoption needs the same
PKI_MOUNT = "/etc/yunion/pki"
ETCD_TLS_MOUNT = "/etc/etcdtls/operator/etcd-tls"
CONFIG_HASH_ANNOTATION = "onecloud.yunion.io/config-hash"
DEFAULT_TOLERATIONS: tuple[JSON, ...] = tuple(
    {"key": f"node-role.kubernetes.io/{role}", "effect": "NoSchedule"}
    for role in ("master", "controlplane", "control-plane")
)


@dataclass(frozen=True)
class Context:
    """What every render function needs about the cluster, computed once per plan."""

    cluster: OnecloudCluster
    edition: Edition

    @property
    def name(self) -> str:
        return self.cluster.metadata.name

    @property
    def namespace(self) -> str:
        return self.cluster.metadata.namespace or "default"

    @property
    def spec(self) -> OnecloudClusterSpec:
        return self.cluster.spec

    def object_name(self, component: str, zone: str | None = None) -> str:
        """``<cluster>-<component>``, and ``-<zone>`` for the per-zone agents outside the default zone."""
        base = f"{self.name}-{component}"
        return f"{base}-{zone}" if zone else base


def instance_label(cluster_name: str) -> str:
    """The reference's ``app.kubernetes.io/instance`` value: it also tells the cache the owner."""
    return f"onecloud-cluster-{cluster_name}"


def selector_labels(cluster_name: str, component: str) -> dict[str, str]:
    """The labels every workload selects on; immutable once created, so exactly the reference's."""
    return {
        "app.kubernetes.io/name": "onecloud-cluster",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/instance": instance_label(cluster_name),
        "app.kubernetes.io/component": component,
        "app": component,
    }


ZONE_LABEL = "zone"  # the reference's key, on its per-zone ConfigMaps


def pod_labels(ctx: Context, comp: catalog.Component, zone: str | None = None) -> dict[str, str]:
    """What the workload selects on and its pods carry: exactly the reference's (a selector is immutable,
    so taking over a workload the Go operator made needs the same one).

    A per-zone agent outside the default zone gets ``app: <agent>-<zone>`` and ``zone: <zone>``, so its
    Deployment's selector neither equals nor overlaps the default zone's (the reference's are identical)."""
    labels = selector_labels(ctx.name, comp.app_label or comp.name)
    if zone:
        labels["app"] = f"{labels['app']}-{zone}"
        labels[ZONE_LABEL] = zone
    return labels | {label: "" for label in comp.pod_labels} | dict(comp.selector_extra)


def metadata(ctx: Context, name: str, component: str, *, owned: bool = True) -> JSON:
    """Name, namespace, selector labels and (``owned``) the controller reference to the cluster.

    PVCs are not owned, so they outlive the cluster."""
    meta: JSON = {"name": name, "namespace": ctx.namespace, "labels": selector_labels(ctx.name, component)}
    uid = ctx.cluster.metadata.uid
    if owned and uid:
        meta["ownerReferences"] = [
            {
                "apiVersion": kinds.GROUP_VERSION,
                "kind": kinds.CLUSTER_KIND,
                "name": ctx.name,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return meta


# ---- containers ------------------------------------------------------------------------------


def _resources(requests: ResourceAmounts | None, limits: ResourceAmounts | None) -> JSON:
    out: JSON = {}
    for key, amounts in (("requests", requests), ("limits", limits)):
        values = {
            k: str(v)
            for k, v in (("cpu", amounts and amounts.cpu), ("memory", amounts and amounts.memory))
            if v is not None and str(v) not in ("", "0")
        }
        if values:
            out[key] = values
    return out


def _mounts(ctx: Context, comp: catalog.Component) -> list[JSON]:
    """Host paths first: the config and certificates mount over parts of a host's /etc/yunion."""
    mounts: list[JSON] = [
        {"name": _host_volume_name(p), "mountPath": _host_mount(p)} for p in comp.host_paths
    ]
    config = catalog.config_of(comp)
    if config:
        mounts.append({"name": "config", "mountPath": config[1].mount_dir, "readOnly": True})
    if comp.kind is not catalog.Kind.STATEFULSET:
        mounts.append({"name": "certs", "mountPath": PKI_MOUNT, "readOnly": True})
    if comp.etcd_tls and _etcd_tls(ctx):
        mounts.append({"name": "etcd-client-tls", "mountPath": ETCD_TLS_MOUNT, "readOnly": True})
    if comp.pvc:
        mounts.append({"name": "data", "mountPath": comp.pvc.mount})
    if comp.kind is catalog.Kind.STATEFULSET:
        mounts.append({"name": "data", "mountPath": "/var/etcd"})
    return mounts


def _etcd_tls(ctx: Context) -> bool:
    etcd = ctx.spec.etcd
    return etcd is None or (not etcd.disable and etcd.enable_tls is not False)


def _host_volume_name(path: str) -> str:
    return "host-root" if path == "/" else f"host{path}".replace("/", "-").replace("_", "-").lower()


def _host_mount(path: str) -> str:
    return "/hostfs" if path == "/" else path


def render_container(
    ctx: Context,
    comp: catalog.Component,
    container: catalog.Container,
    image: ImageRef,
    pull_policy: str,
    placement: _Placement,
) -> JSON:
    """One container with its resolved image; the service config is read from the mounted file."""
    body: JSON = {"name": container.name, "image": str(image), "imagePullPolicy": pull_policy}
    if container.command:
        body["command"] = list(container.command)
    if container.working_dir:
        body["workingDir"] = container.working_dir
    if container.ports:
        body["ports"] = [
            {"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in container.ports
        ]
    if container.env or container.secret_env:
        # An empty value is left out, as the API server stores it (else it would read as drift forever).
        body["env"] = [
            {"name": k, "value": v.replace("${cluster}", ctx.name)} if v else {"name": k}
            for k, v in container.env
        ] + [
            {
                "name": k,
                "valueFrom": {"secretKeyRef": {"name": credentials_secret_name(ctx.name), "key": key}},
            }
            for k, key in container.secret_env
        ]
    body["volumeMounts"] = _mounts(ctx, comp)
    security: JSON = {}
    if container.privileged:
        security["privileged"] = True
    if container.capabilities:
        security["capabilities"] = {"add": list(container.capabilities)}
    if security:
        body["securityContext"] = security
    resources = _resources(placement.requests, placement.limits)
    if resources:
        body["resources"] = resources
    if container.readiness_port:
        body["readinessProbe"] = {
            "httpGet": {"path": "/ping", "port": container.readiness_port, "scheme": "HTTPS"},
            "initialDelaySeconds": 15,
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "successThreshold": 3,
            "failureThreshold": 2,
        }
    return body


# ---- pods ------------------------------------------------------------------------------------


def _volumes(ctx: Context, comp: catalog.Component, name: str) -> list[JSON]:
    volumes: list[JSON] = []
    config = catalog.config_of(comp)
    if config:
        owner = name if config[0] is comp else ctx.object_name(config[0].name)
        items = [{"key": "config", "path": config[1].file_name}]
        volumes.append(
            {"name": "config", "secret": {"secretName": config_secret_name(owner), "items": items}}
        )
    if comp.kind is not catalog.Kind.STATEFULSET:
        volumes.append({"name": "certs", "secret": {"secretName": f"{ctx.name}-certs"}})
    if comp.etcd_tls and _etcd_tls(ctx):
        volumes.append({"name": "etcd-client-tls", "secret": {"secretName": f"{ctx.name}-etcd-client"}})
    if comp.pvc:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": name}})
    if comp.kind is catalog.Kind.STATEFULSET:
        volumes.append({"name": "data", "emptyDir": {"medium": "Memory"}})
    volumes.extend(
        {"name": _host_volume_name(p), "hostPath": {"path": p, "type": "DirectoryOrCreate"}}
        for p in comp.host_paths
    )
    return volumes


def _tolerations(placement: _Placement) -> list[JSON]:
    given: list[Toleration] = placement.tolerations or []
    if not given:
        return [dict(t) for t in DEFAULT_TOLERATIONS]
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in given]


def _dumped(model: BaseModel) -> JSON:
    """A typed Kubernetes value (affinity, dnsConfig) as the user wrote it, nulls left out."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _affinity(comp: catalog.Component, placement: _Placement) -> JSON | None:
    """The user's affinity wins; control-plane Deployments otherwise need a controller node."""
    given: JSON = _dumped(placement.affinity) if placement.affinity else {}
    if "nodeAffinity" in given:
        return given
    base: JSON = given
    if comp.kind is catalog.Kind.DAEMONSET or comp.node_label is None:
        return base or None
    base["nodeAffinity"] = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": comp.node_label, "operator": "In", "values": ["enable"]}]}
            ]
        }
    }
    return base


def render_pod(
    ctx: Context,
    comp: catalog.Component,
    containers: list[JSON],
    init_containers: list[JSON],
    placement: _Placement,
    name: str,
    config_hash: str | None = None,
    zone: str | None = None,
) -> JSON:
    """``name`` is the workload's: per-zone agents read their own zone's config and PVC.

    ``config_hash`` (a digest of the config file) in the template rolls the pods when their config
    changes, a rotated password included."""
    template_meta: JSON = {"labels": pod_labels(ctx, comp, zone)}
    annotations = dict(placement.annotations or {})
    if config_hash:
        annotations[CONFIG_HASH_ANNOTATION] = config_hash
    if annotations:
        template_meta["annotations"] = annotations
    pod: JSON = {"containers": containers}
    if init_containers:
        pod["initContainers"] = init_containers
    pod["volumes"] = _volumes(ctx, comp, name)
    pod["tolerations"] = _tolerations(placement)
    affinity = _affinity(comp, placement)
    if affinity:
        pod["affinity"] = affinity
    node_selector = dict(placement.node_selector or {})
    if comp.kind is catalog.Kind.DAEMONSET and comp.node_label:
        node_selector.setdefault(comp.node_label, "enable")
    if node_selector:
        pod["nodeSelector"] = node_selector
    if comp.service_account:
        pod["serviceAccountName"] = workload_service_account(ctx)
    if comp.host_network:
        pod["hostNetwork"] = True
        pod["dnsPolicy"] = "ClusterFirstWithHostNet"
    if comp.host_pid:
        pod["hostPID"] = True
        pod["hostIPC"] = True
    if isinstance(placement, DeploymentSpec) and placement.dns_config:
        pod["dnsConfig"] = _dumped(placement.dns_config)
    elif comp.dns_options:
        pod["dnsConfig"] = {"options": [{"name": k, "value": v} for k, v in comp.dns_options]}
    if placement.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s.name} for s in placement.image_pull_secrets]
    if comp.termination_grace_seconds is not None:
        pod["terminationGracePeriodSeconds"] = comp.termination_grace_seconds
    return {"metadata": template_meta, "spec": pod}


def workload_service_account(ctx: Context) -> str:
    """The ServiceAccount of the workloads that call the Kubernetes API: the reference's shared one, which
    its install manifest creates in the namespace (so a cluster it built keeps working as it was)."""
    return catalog.WORKLOAD_SERVICE_ACCOUNT


# ---- workloads -------------------------------------------------------------------------------


def render_workload(
    ctx: Context,
    comp: catalog.Component,
    name: str,
    template: JSON,
    placement: _Placement,
    *,
    replicas: int | None,
    zone: str | None = None,
) -> JSON:
    """Deployment, DaemonSet or StatefulSet around a pod template.

    ``replicas`` None leaves the field to other managers (an HPA, ``kubectl scale``)."""
    meta = metadata(ctx, name, comp.name)
    selector = {"matchLabels": pod_labels(ctx, comp, zone)}
    spec: JSON = {"selector": selector, "template": template}
    if comp.kind is catalog.Kind.DAEMONSET:
        spec["updateStrategy"] = _daemonset_strategy(comp, placement)
        return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta, "spec": spec}
    if replicas is not None:
        spec["replicas"] = replicas
    if comp.kind is catalog.Kind.STATEFULSET:
        spec["serviceName"] = name
        spec["podManagementPolicy"] = "Parallel"
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": spec}
    spec["strategy"] = {"type": "Recreate" if _recreate(comp, placement) else "RollingUpdate"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def _recreate(comp: catalog.Component, placement: _Placement) -> bool:
    if comp.host_network or comp.recreate:
        return True
    storage_class = placement.storage_class_name if isinstance(placement, StatefulDeploymentSpec) else None
    return comp.pvc is not None and (storage_class or "local-path") != "local-path"


def _daemonset_strategy(comp: catalog.Component, placement: _Placement) -> JSON:
    if isinstance(placement, DaemonSetSpec) and placement.update_strategy == "OnDelete":
        return {"type": "OnDelete"}
    count = comp.max_unavailable or 1
    if isinstance(placement, HostAgentSpec | LbagentSpec) and placement.max_unavailable_count:
        count = placement.max_unavailable_count
    return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": count}}


def render_read_only(
    ctx: Context, comp: catalog.Component, workload: JSON, service: JSON | None, replicas: int
) -> list[JSON]:
    """The reference's read-only replica: ``<name>-slave``, no init containers, ``--is-slave-node``,
    labelled ``<component>-slave`` and ``read-only=true``, behind a ClusterIP Service without nodePorts."""
    label = f"{comp.name}-slave"
    labels = selector_labels(ctx.name, label) | {"read-only": "true"}
    name = f"{workload['metadata']['name']}-slave"
    pod = dict(workload["spec"]["template"]["spec"])
    pod.pop("initContainers", None)
    first = dict(pod["containers"][0])
    first["command"] = [*first.get("command", []), "--is-slave-node"]
    pod["containers"] = [first, *pod["containers"][1:]]
    meta = metadata(ctx, name, label)
    meta["labels"] = labels
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": workload["spec"]["strategy"],
            "template": {
                "metadata": {**workload["spec"]["template"]["metadata"], "labels": labels},
                "spec": pod,
            },
        },
    }
    out = [deployment]
    if service is not None:
        ports = [{k: v for k, v in p.items() if k != "nodePort"} for p in service["spec"].get("ports", [])]
        svc_meta = metadata(ctx, f"{service['metadata']['name']}-slave", label)
        svc_meta["labels"] = labels
        spec = {"selector": labels, "ports": ports, "type": "ClusterIP"}
        out.append({"apiVersion": "v1", "kind": "Service", "metadata": svc_meta, "spec": spec})
    return out


def desired_replicas(placement: _Placement) -> int | None:
    """The reference turns unset or 0 into 1; unset is left out so an HPA may own replicas."""
    if not isinstance(placement, DeploymentSpec) or "replicas" not in placement.model_fields_set:
        return None
    return max(placement.replicas or 0, 1)


# ---- side objects ----------------------------------------------------------------------------


def render_services(ctx: Context, comp: catalog.Component, own: BaseModel | None) -> list[JSON]:
    """The component's Services; ``own`` is its own spec (ports, nodePorts and internalOnly move them)."""
    out = []
    for service in comp.services:
        internal = _internal_only(own, service)
        ports = []
        for sp in service.ports:
            port = service_port(own, sp)
            entry: JSON = {
                "name": sp.name,
                "port": port,
                "targetPort": sp.target_port,
                "protocol": sp.protocol,
            }
            if sp.node_port and not internal and not service.headless and not service.cluster_ip:
                entry["nodePort"] = _node_port(own, sp) or port
            ports.append(entry)
        svc_spec: JSON = {"selector": _service_selector(ctx, comp)}
        if ports:
            svc_spec["ports"] = ports
        if service.headless:
            svc_spec["clusterIP"] = "None"
            if comp.kind is catalog.Kind.STATEFULSET:
                svc_spec["publishNotReadyAddresses"] = True
        node_port = any("nodePort" in p for p in ports)
        svc_spec["type"] = "NodePort" if node_port else "ClusterIP"
        name = ctx.object_name(comp.name) + service.suffix
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata(ctx, name, comp.name),
                "spec": svc_spec,
            }
        )
    return out


def _service_selector(ctx: Context, comp: catalog.Component) -> dict[str, str]:
    """The Service reaches the pods: the selector labels without the pod-only ones (the reference's
    Service of onecloud-service-operator selects no pod at all; this one does)."""
    return selector_labels(ctx.name, comp.app_label or comp.name) | dict(comp.selector_extra)


def _service_spec(own: BaseModel | None, field: str) -> ServiceSpec | None:
    value = lookup(own, field)
    return value if isinstance(value, ServiceSpec) else None


def _internal_only(own: BaseModel | None, service: catalog.Service) -> bool:
    """``internalOnly`` of the first ServiceSpec the catalog names that the spec sets."""
    for field in service.internal_only_fields:
        spec = _service_spec(own, field)
        if spec is not None:
            return bool(spec.internal_only)
    return False


def service_port(own: BaseModel | None, sp: catalog.ServicePort) -> int:
    """A ServiceSpec's ``nodePort`` moves the in-cluster port too (the reference's habit)."""
    spec = _service_spec(own, sp.spec_field)
    if sp.node_port and sp.movable and spec is not None and spec.node_port:
        return int(spec.node_port)
    return sp.port


def _node_port(own: BaseModel | None, sp: catalog.ServicePort) -> int | None:
    """etcd's client Service: port 2379 inside the cluster, 30379 (``etcd.clientNodePort``) outside."""
    if sp.fixed_node_port is None:
        return None
    value = lookup(own, sp.node_port_field) if sp.node_port_field else None
    return int(value) if isinstance(value, int) and value else sp.fixed_node_port


def credentials_secret_name(cluster_name: str) -> str:
    """``<cluster>-credentials``: every password of the cluster."""
    return f"{cluster_name}-credentials"


def config_secret_name(workload: str) -> str:
    """``<workload>-config``: the config holds passwords, so it is a Secret, never a ConfigMap."""
    return f"{workload}-config"


def render_config_secret(ctx: Context, comp: catalog.Component, workload: str, text: str) -> JSON:
    """The service config file as Secret ``<workload>-config``, key ``config``."""
    body = render_secret(ctx.cluster, config_secret_name(workload), {"config": text.encode()})
    body["metadata"]["labels"] = selector_labels(ctx.name, comp.name)
    return body


def render_pvc(ctx: Context, comp: catalog.Component, own: BaseModel | None) -> JSON:
    """The data volume: created once, never updated (its size and class are immutable in practice)."""
    assert comp.pvc is not None
    requests = lookup(own, "requests")
    storage = (requests.storage if isinstance(requests, ResourceAmounts) else None) or comp.pvc.storage
    storage_class = lookup(own, "storageClassName")
    meta = metadata(ctx, ctx.object_name(comp.name), comp.name, owned=False)
    if comp.pvc.annotation_path:
        meta["annotations"] = {"pvc.onecloud.yunion.io/pv-path": comp.pvc.annotation_path}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta,
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage_class if isinstance(storage_class, str) else "local-path",
            "resources": {"requests": {"storage": storage}},
        },
    }


def render_ingress(ctx: Context, comp: catalog.Component, own: BaseModel | None) -> JSON:
    """The Ingress in front of the component's Service (web, aiproxy), as its catalog entry says."""
    route = comp.ingress
    assert route is not None
    annotations = dict(route.annotations)
    port = route.port or service_port(own, comp.services[0].ports[0])
    if route.http_field and route.http_port and lookup(own, route.http_field) is True:
        port = route.http_port
        annotations["nginx.ingress.kubernetes.io/backend-protocol"] = "HTTP"
    meta = metadata(ctx, ctx.object_name(comp.name), comp.name)
    meta["annotations"] = annotations
    backend = {"service": {"name": ctx.object_name(comp.name), "port": {"number": port}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta,
        "spec": {
            "tls": [{"secretName": f"{ctx.name}-certs"}],
            "rules": [{"http": {"paths": [{"path": route.path, "pathType": "Prefix", "backend": backend}]}}],
        },
    }


def render_service_account(ctx: Context) -> JSON:
    """The namespace's workload ServiceAccount, shared by its clusters: no owner (never pruned, nor
    collected with one cluster) and no cluster's labels (two clusters apply the same body)."""
    labels = {"app.kubernetes.io/name": "onecloud-cluster", "app.kubernetes.io/managed-by": MANAGED_BY}
    meta = {"name": workload_service_account(ctx), "namespace": ctx.namespace, "labels": labels}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def render_secret(cluster: OnecloudCluster, name: str, data: dict[str, bytes]) -> JSON:
    """An Opaque Secret of the cluster (never pruned, never rewritten once created)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(Context(cluster, "ce"), name, "cluster"),
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
