"""Taking over a cluster the Go operator left: our operator process, started on a namespace that holds
what yunionio/cloudpods-operator made for OnecloudCluster ``default`` (tests/fixtures/go_cluster/,
written from the research facts, not by our renderer; loaded by gocluster.py).

One test, a checklist: every check runs and reports, so one run shows all that is wrong (the operator
log's tail and the CR's status are printed with the failures). The checks are the issue's:

  Ready                     Ready=True for the current generation within 240 s
  warnings                  no Warning Event after the operator started, but the documented ones
                            (README, take-over section: ConfigEditsDropped)
  same UIDs                 every Go workload, Service, Ingress, PVC, the CR and default-certs kept
                            (no delete/recreate); any other Go object still there has its UID
  generation bumps          at most one per Go workload
  field owners              no field of a workload, Service or Ingress owned by another manager
                            (onecloud-controller-manager); the built-in controllers aside
  references                no pod template refers to a missing ConfigMap, Secret (or key) or ServiceAccount
  passwords in pods         each Go pod's passwords are the ones the new pod reads from its config file
                            (inline or through an ``*_file`` option) and its environment
  credentials               <cluster>-credentials holds the Go passwords (DESIGN-14 keys, cluster-config)
  no password in ConfigMaps no Go password left in any ConfigMap (data or annotations)
  etcd                      what the README says: StatefulSet <cluster>-etcd rolled out behind the
                            reference's Services, then the Go member Pods deleted
  zero writes at rest       two resync passes without a write, no object changed

Until the operator applies anything (a spec it cannot plan, say), same UIDs, generation bumps,
references, passwords in pods and zero writes hold vacuously: Ready is the check that tells.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from .cloud import Cloud
from .conftest import Kube
from .gocluster import (
    GO_FIELD_MANAGER,
    KIND_RESOURCES,
    LAST_APPLIED,
    GoCluster,
    Key,
    create_go_cluster,
    list_namespace,
    objects_by_key,
    password_fields,
    wait_settled,
)
from .helpers import REPO, Kubectl, eventually, wait_for
from .operator_process import OperatorProcess

pytestmark = pytest.mark.integration

OUR_FIELD_MANAGER = "cloudpods-operator"
BUILTIN_MANAGERS = frozenset({"kube-controller-manager"})
"""Managers whose fields on workloads/Services/Ingresses are fine: the built-in controllers."""
SERVER_MAINTAINED = frozenset({"f:metadata.f:annotations.f:deprecated.daemonset.template.generation"})
"""Fields the API server itself sets on a write, recorded under whoever wrote (DaemonSet strategy)."""
DOCUMENTED_WARNINGS = frozenset({"ConfigEditsDropped"})
"""Warning reasons the README's take-over section names as an outcome of the first pass (each checked to be
in the README). Not `BootstrapPasswordIgnored`: the README gives it for a later change of the spec's
bootstrapPassword, which a take-over is not."""
README_ETCD = (
    "etcd runs as a StatefulSet `<cluster>-etcd`",
    "on takeover the old Pods are deleted just before the StatefulSet is created",
)
"""The README sentences the etcd check follows; if the README changes, so must the check."""
GO_PASSWORD_OPTIONS = frozenset(
    {"admin_password", "sql_connection", "bootstrap_admin_user_password", "env:OS_PASSWORD"}
)
"""Where the Go pods read their passwords (YAML options, Corefile directives, climc's environment)."""
READY_TIMEOUT = 240.0
WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet")
KEPT_KINDS = ("OnecloudCluster", "Deployment", "DaemonSet", "Service", "Ingress", "PersistentVolumeClaim")
"""Go objects a take-over must keep (same UID); Secret default-certs too (the CA every service trusts)."""


# ---- fixtures -------------------------------------------------------------------------------------


def _remove_clusters(kubectl: Kubectl, namespace: str) -> None:
    """Delete the CR (its owned objects are garbage-collected) and wait for the Services: NodePorts are
    cluster-wide, a leftover would break the next test (as the `cloud` fixture does)."""
    kubectl("delete", KIND_RESOURCES["OnecloudCluster"], "--all", "-n", namespace, "--wait=true", check=False)

    def services_gone() -> bool:
        done = kubectl("get", "services", "-n", namespace, "-o", "name", check=False)
        return done.returncode == 0 and not done.stdout.strip()

    wait_for(services_gone, 120, what=f"the Services in {namespace} to be deleted")


@pytest.fixture
async def go_cluster(kubectl: Kubectl, crd: None, namespace: str) -> AsyncIterator[GoCluster]:
    """The Go operator's cluster in a fresh namespace (no operator of ours yet)."""
    try:
        cluster = await create_go_cluster(kubectl, namespace)
        yield cluster
    finally:
        await asyncio.to_thread(_remove_clusters, kubectl, namespace)


# ---- the checklist --------------------------------------------------------------------------------


class Checklist:
    """Runs named checks, keeps going after a failure, and fails once at the end with every message."""

    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[tuple[str, str]] = []

    async def run(self, name: str, check: Callable[[], Awaitable[None] | None]) -> bool:
        try:
            result = check()
            if inspect.isawaitable(result):
                await result
        except AssertionError as exc:
            self.failed.append((name, str(exc).split("\nassert ", 1)[0]))  # without pytest's rewritten repr
            return False
        except Exception as exc:  # a check that cannot even run is a failed check, not a stopped test
            self.failed.append((name, f"{type(exc).__name__}: {exc}"))
            return False
        self.passed.append(name)
        return True

    def report(self) -> str:
        lines = [f"{len(self.failed)} of {len(self.failed) + len(self.passed)} take-over checks failed"]
        lines += [f"  passed: {name}" for name in self.passed]
        for name, message in self.failed:
            lines.append(f"  FAILED: {name}: {message}")
        return "\n".join(lines)


def _log_tail(operator: OperatorProcess, lines: int = 60) -> str:
    """The operator log's warnings and errors (each message once), then its last lines."""
    text = operator.logs()
    notable: dict[str, None] = {}
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if entry.get("level") in ("warning", "error", "critical"):
            extra = {k: v for k, v in entry.items() if k not in ("ts", "level", "logger", "msg")}
            notable[f"{entry.get('level')} {entry.get('msg')} {json.dumps(extra)[:600]}"] = None
    tail = "\n".join(text.splitlines()[-lines:])
    return "warnings/errors:\n" + "\n".join(list(notable)[:40]) + f"\n--- last {lines} lines ---\n" + tail


def _short(values: set[str] | None) -> str:
    return ", ".join(sorted(values)) if values else "nothing"


def _leaves(fields: Any) -> list[str]:
    """The owned field paths of a FieldsV1 tree (``f:spec.f:replicas``)."""
    if not isinstance(fields, dict) or not fields:
        return []
    out = []
    for key, child in fields.items():
        if key == ".":
            continue
        below = _leaves(child)
        out += [f"{key}.{b}" for b in below] if below else [key]
    return out


# ---- preconditions: the Go cluster is what the Go operator leaves -----------------------------------


def _check_go_cluster(kubectl: Kubectl, cluster: GoCluster) -> None:
    """Hard asserts: a broken fixture would make every later check meaningless."""
    ns = cluster.namespace
    live = list_namespace(kubectl, ns, *KIND_RESOURCES, managed_fields=True)
    for obj in cluster.objects:
        key = (obj["kind"], obj["metadata"]["name"])
        assert key in live, f"fixture object {key} missing"
        entries = live[key]["metadata"].get("managedFields") or []
        managers = {(m["manager"], m["operation"]) for m in entries if not m.get("subresource")}
        if obj["kind"] != "ServiceAccount":
            assert (GO_FIELD_MANAGER, "Update") in managers, f"{key}: managed by {managers}"
    cr = live[("OnecloudCluster", cluster.name)]
    assert cr["metadata"]["labels"]["app.kubernetes.io/instance"] == "onecloud-cluster-default"
    assert cr["spec"]["keystone"]["bootstrapPassword"] == cluster.passwords["sysadmin-password"]
    assert cr["spec"]["mysql"]["password"] == cluster.passwords["mysql-root-password"]
    glance = live[("Deployment", "default-glance")]["spec"]["selector"]["matchLabels"]
    assert glance.get("onecloud.yunion.io/host-deployer") == "", glance
    operator_sel = live[("Deployment", "default-onecloud-service-operator")]["spec"]["selector"][
        "matchLabels"
    ]
    assert operator_sel["app"] == "osOperator", operator_sel
    assert LAST_APPLIED in live[("Deployment", "default-region")]["metadata"]["annotations"]
    # every password a Go pod reads is a fixture password, and they are the cluster-config's
    known = set(cluster.passwords.values()) | set(cluster.other_secrets.values())
    sent = objects_by_key(cluster.objects)
    found = set()
    for workload in cluster.of_kind("Deployment", "DaemonSet"):
        for option, values in password_fields(workload["spec"]["template"], sent).items():
            if option in GO_PASSWORD_OPTIONS:
                unknown = values - known
                assert not unknown, (
                    f"{workload['metadata']['name']} {option}: not a fixture password: {unknown}"
                )
            found |= values & known
    for secret in cluster.passwords.values():
        if secret in found:
            assert secret in cluster.cluster_config or secret in (
                cluster.passwords["sysadmin-password"],
                cluster.passwords["mysql-root-password"],
            ), f"{secret} is in a pod's config but not in default-cluster-config"
    assert len(found) > 40, f"only {len(found)} passwords found in the Go pods' configs"


def _event_key(event: dict[str, Any]) -> tuple[str, str, str, str]:
    source = event.get("reportingComponent") or (event.get("source") or {}).get("component") or "?"
    target = event.get("involvedObject") or {}
    return (source, str(event.get("reason")), str(target.get("kind")), str(target.get("name")))


def _events_before(kubectl: Kubectl, namespace: str) -> set[tuple[str, str, str, str]]:
    """(source, reason, kind, name) of the Warning Events the Go cluster already had: their repeats (the
    endpoints controllers refusing KWOK's loopback host-network IPs, say) are not the take-over's."""
    items = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return {_event_key(e) for e in items if e.get("type") == "Warning"}


# ---- the checks -----------------------------------------------------------------------------------


def _condition(cr: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (cr.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


class Hopeless(Exception):
    """A state waiting cannot change: ends `eventually` at once."""


async def check_ready(cloud: Cloud) -> None:
    """Ready=True for the current generation within READY_TIMEOUT; at once a failure if the operator exits
    or calls the spec unplannable (InvalidSpec cannot heal: the spec is never written but by users)."""

    def ready() -> None:
        operator = cloud.operator
        if operator.proc is not None and operator.proc.poll() is not None:
            raise Hopeless(f"the operator exited with {operator.proc.returncode}")
        cr = cloud.cr()
        ready, degraded = _condition(cr, "Ready"), _condition(cr, "Degraded")
        if degraded.get("reason") == "InvalidSpec" and degraded.get("status") == "True":
            raise Hopeless(f"Degraded=True InvalidSpec: {str(degraded.get('message'))[:600]}")
        assert (
            ready.get("status") == "True" and ready.get("observedGeneration") == cr["metadata"]["generation"]
        ), (
            f"Ready={ready.get('status')} ({ready.get('reason')}: {ready.get('message')}) "
            f"observedGeneration={ready.get('observedGeneration')} "
            f"generation={cr['metadata']['generation']}; Degraded={degraded.get('status')} "
            f"({degraded.get('reason')}: {str(degraded.get('message'))[:400]})"
        )

    await eventually(lambda: asyncio.to_thread(ready), timeout=READY_TIMEOUT, interval=1.0)


def _passes(cloud: Cloud) -> float:
    return cloud.operator.metric("controller_runtime_reconcile_total")


async def _two_passes(cloud: Cloud, timeout: float) -> None:  # noqa: ASYNC109 - a deadline
    start = _passes(cloud)
    await eventually(lambda: _passes(cloud) >= start + 2, timeout=timeout, interval=0.2)


def _versions(kubectl: Kubectl, namespace: str) -> dict[Key, str]:
    kinds = (
        "OnecloudCluster",
        *WORKLOAD_KINDS,
        "Service",
        "ConfigMap",
        "Secret",
        "Ingress",
        "PersistentVolumeClaim",
    )
    return {
        k: o["metadata"]["resourceVersion"] for k, o in list_namespace(kubectl, namespace, *kinds).items()
    }


async def check_at_rest(cloud: Cloud, kubectl: Kubectl) -> None:
    """Quiet within 90 s (two passes in a row without a write), then two resync passes: no write and no
    object changed."""

    async def quiet() -> None:
        writes = cloud.operator.writes()
        await _two_passes(cloud, 30)
        assert cloud.operator.writes() == writes, (
            f"{cloud.operator.writes() - writes:.0f} writes in two passes"
        )

    await eventually(quiet, timeout=90, interval=0.0)
    writes = cloud.operator.writes()
    before = await asyncio.to_thread(_versions, kubectl, cloud.namespace)
    await _two_passes(cloud, 15)
    after = await asyncio.to_thread(_versions, kubectl, cloud.namespace)
    changed = sorted(
        f"{k}/{n}" for (k, n) in set(before) | set(after) if before.get((k, n)) != after.get((k, n))
    )
    assert cloud.operator.writes() == writes and not changed, (
        f"{cloud.operator.writes() - writes:.0f} writes during two resync passes at rest; "
        f"changed: {changed[:20]}"
    )


def check_warnings(kubectl: Kubectl, namespace: str, before: set[tuple[str, str, str, str]]) -> None:
    readme = (REPO / "README.md").read_text()
    undocumented = sorted(r for r in DOCUMENTED_WARNINGS if r not in readme)
    assert not undocumented, f"allowed Warning reasons the README does not name: {undocumented}"
    items = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    new = []
    for event in items:
        key = _event_key(event)
        if event.get("type") != "Warning" or key in before or key[1] in DOCUMENTED_WARNINGS:
            continue
        source, reason, kind, name = key
        note = str(event.get("message") or event.get("note") or "")[:300]
        new.append(f"[{source}] {reason} on {kind}/{name}: {note}")
    assert not new, f"{len(new)} Warning Events: " + " | ".join(new[:12])


def check_same_uids(cluster: GoCluster, live: dict[Key, dict[str, Any]]) -> None:
    problems = []
    for key, uid in sorted(cluster.uids.items()):
        obj = live.get(key)
        kept = key[0] in KEPT_KINDS or key == ("Secret", "default-certs")
        if obj is None:
            if kept:
                problems.append(f"{key[0]}/{key[1]} deleted")
        elif obj["metadata"]["uid"] != uid:
            problems.append(f"{key[0]}/{key[1]} recreated")
    assert not problems, f"{len(problems)} Go objects not kept: " + ", ".join(problems)


def check_generations(cluster: GoCluster, live: dict[Key, dict[str, Any]]) -> None:
    bumped = []
    for obj in cluster.of_kind("Deployment", "DaemonSet"):
        key = (obj["kind"], obj["metadata"]["name"])
        now = live.get(key)
        if now is None:
            continue  # reported by the UID check
        delta = int(now["metadata"].get("generation") or 0) - cluster.generations[key]
        if delta > 1:
            bumped.append(f"{key[0]}/{key[1]} +{delta}")
    assert not bumped, f"{len(bumped)} workloads changed more than once: " + ", ".join(bumped)


def check_field_owners(live: dict[Key, dict[str, Any]]) -> None:
    foreign = []
    for (kind, name), obj in sorted(live.items()):
        if kind not in (*WORKLOAD_KINDS, "Service", "Ingress"):
            continue
        for entry in obj["metadata"].get("managedFields") or []:
            manager = entry.get("manager", "")
            if manager == OUR_FIELD_MANAGER or manager in BUILTIN_MANAGERS:
                continue
            owned = [f for f in _leaves(entry.get("fieldsV1")) if f not in SERVER_MAINTAINED]
            if owned:
                foreign.append(
                    f"{kind}/{name}: {manager} ({entry.get('operation')}) owns {len(owned)} fields, "
                    f"e.g. {', '.join(owned[:3])}"
                )
    assert not foreign, f"{len(foreign)} objects with fields of another manager: " + " | ".join(foreign[:15])


def _template_refs(template: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(kind, name, key or None) of every ConfigMap/Secret/ServiceAccount a pod template needs."""
    pod = template.get("spec") or {}
    refs: list[tuple[str, str, str | None]] = []

    def add(kind: str, source: dict[str, Any], name_key: str) -> None:
        if source.get("optional"):
            return
        items = source.get("items") or []
        if not items:
            refs.append((kind, source.get(name_key, ""), None))
        refs.extend((kind, source.get(name_key, ""), item["key"]) for item in items)

    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            add("ConfigMap", volume["configMap"], "name")
        if "secret" in volume:
            add("Secret", volume["secret"], "secretName")
        for source in (volume.get("projected") or {}).get("sources", []):
            if "configMap" in source:
                add("ConfigMap", source["configMap"], "name")
            if "secret" in source:
                add("Secret", source["secret"], "name")
    for container in (*pod.get("initContainers", []), *pod.get("containers", [])):
        for env in container.get("env", []):
            ref = env.get("valueFrom") or {}
            for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if field in ref and not ref[field].get("optional"):
                    refs.append((kind, ref[field]["name"], ref[field]["key"]))
        for source in container.get("envFrom", []):
            for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if field in source and not source[field].get("optional"):
                    refs.append((kind, source[field]["name"], None))
    refs.extend(("Secret", s["name"], None) for s in pod.get("imagePullSecrets", []))
    if pod.get("serviceAccountName"):
        refs.append(("ServiceAccount", pod["serviceAccountName"], None))
    return refs


def check_references(live: dict[Key, dict[str, Any]]) -> None:
    missing = []
    for (kind, name), obj in sorted(live.items()):
        if kind not in WORKLOAD_KINDS:
            continue
        for ref_kind, ref_name, ref_key in _template_refs(obj["spec"]["template"]):
            target = live.get((ref_kind, ref_name))
            if target is None:
                missing.append(f"{kind}/{name} -> {ref_kind}/{ref_name}")
            elif ref_key is not None:
                data = {**(target.get("data") or {}), **(target.get("binaryData") or {})}
                if ref_key not in data:
                    missing.append(f"{kind}/{name} -> {ref_kind}/{ref_name} key {ref_key}")
    assert not missing, f"{len(missing)} references to missing objects: " + ", ".join(sorted(set(missing)))


def check_pod_passwords(cluster: GoCluster, live: dict[Key, dict[str, Any]]) -> None:
    # the cluster-config passwords and the spec's secrets; not the fixture's stand-in for a Go literal
    spec_values = {v: k for k, v in cluster.other_secrets.items() if k.startswith("spec.")}
    known = {v: k for k, v in cluster.passwords.items()} | spec_values
    sent = objects_by_key(cluster.objects)
    wrong = []
    checked = 0
    for workload in cluster.of_kind("Deployment", "DaemonSet"):
        key = (workload["kind"], workload["metadata"]["name"])
        now = live.get(key)
        if now is None:
            continue  # reported by the UID check
        go = {
            option: values & set(known)
            for option, values in password_fields(workload["spec"]["template"], sent).items()
            if values & set(known)
        }
        ours = password_fields(now["spec"]["template"], live)
        for option, values in sorted(go.items()):
            checked += 1
            if ours.get(option) != values:
                names = ", ".join(known[v] for v in sorted(values))
                wrong.append(
                    f"{key[1]} {option}: Go read {_short(values)} ({names}), now {_short(ours.get(option))}"
                )
    assert checked, "no Go pod read a password: the fixture lost its configs"
    assert not wrong, f"{len(wrong)} of {checked} passwords differ from the Go pods': " + " | ".join(
        wrong[:25]
    )


def check_credentials(cluster: GoCluster, live: dict[Key, dict[str, Any]]) -> None:
    secret = live.get(("Secret", f"{cluster.name}-credentials"))
    assert secret is not None, f"no Secret {cluster.name}-credentials"
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    wrong = sorted(k for k, v in cluster.passwords.items() if data.get(k) != v)
    assert not wrong, f"{len(wrong)} credentials keys are not the Go passwords: {wrong[:30]}"
    assert data.get("cluster-config") == cluster.cluster_config, (
        "key cluster-config is not the Go document verbatim"
    )


def check_export_gives_back_the_go_cluster_config(cluster: GoCluster, kube: Kube) -> None:
    """README, "To go back": `export-cluster-config` rebuilds the Go operator's document from the Secret:
    the adopted one, as the Go operator wrote it (its ConfigMap is gone by now)."""
    binary = Path(sys.executable).parent / "cloudpods-operator"
    ref = f"{cluster.namespace}/{cluster.name}"
    done = subprocess.run(
        [str(binary), "export-cluster-config", ref, "--kubeconfig", str(kube.kubeconfig), "-o", "yaml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == cluster.cluster_config, "the exported document differs from the adopted one"
    manifest = subprocess.run(
        [str(binary), "export-cluster-config", ref, "--kubeconfig", str(kube.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert manifest.returncode == 0, manifest.stderr
    doc = yaml.safe_load(manifest.stdout)
    assert (doc["kind"], doc["metadata"]["name"]) == ("ConfigMap", f"{cluster.name}-cluster-config")
    assert doc["data"]["OnecloudClusterConfig"] == cluster.cluster_config


def check_no_password_in_configmaps(cluster: GoCluster, live: dict[Key, dict[str, Any]]) -> None:
    secrets = dict(cluster.passwords)
    stale = "default-itsm.yunion.rc.email.link.encryption.key"
    secrets[stale] = cluster.other_secrets[stale]
    leaks = []
    for (kind, name), obj in sorted(live.items()):
        if kind != "ConfigMap":
            continue
        places = {f"data.{k}": v for k, v in (obj.get("data") or {}).items()}
        places |= {f"annotation {k}": v for k, v in (obj["metadata"].get("annotations") or {}).items()}
        where = sorted(w for w, text in places.items() if any(v in text for v in secrets.values()))
        found = sorted(k for k, v in secrets.items() if any(v in text for text in places.values()))
        if found:
            shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
            leaks.append(f"{name} ({' + '.join(where)}): {shown}")
    assert not leaks, f"Go passwords left in {len(leaks)} ConfigMaps: " + " | ".join(leaks[:12])


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_etcd(cluster: GoCluster, live: dict[Key, dict[str, Any]]) -> str:
    """README: etcd runs as a StatefulSet `<cluster>-etcd` behind the reference's Services (`<cluster>-etcd`
    headless, `<cluster>-etcd-client` NodePort 30379), TLS Secrets `<cluster>-etcd-{server,client,peer}`;
    on takeover the Go member Pods are deleted just before the StatefulSet is created. Also: the Services
    never select the Go members next to ours (two etcd clusters behind one
    Service). Returns what became of the Go member Pods."""
    readme = " ".join((REPO / "README.md").read_text().split())
    for sentence in README_ETCD:
        assert sentence in readme, f"the README no longer says {sentence!r}: update this check"
    name = f"{cluster.name}-etcd"
    problems = []
    sts = live.get(("StatefulSet", name))
    pod_labels: dict[str, str] = {}
    if sts is None:
        problems.append(f"no StatefulSet {name}")
    else:
        want = sts["spec"].get("replicas", 1)
        ready = (sts.get("status") or {}).get("readyReplicas") or 0
        if not want or ready != want:
            problems.append(f"StatefulSet {name}: {ready}/{want} ready")
        pod_labels = sts["spec"]["template"]["metadata"].get("labels") or {}
    go_pods = {p: live.get(("Pod", p)) for p in cluster.etcd_pods}
    kept = [p for p, pod in go_pods.items() if pod is not None]
    for pod_name in kept:
        pod = go_pods[pod_name] or {}
        phase = (pod.get("status") or {}).get("phase")
        problems.append(f"Go member Pod {pod_name} not deleted ({phase})")
    for service, headless in ((name, True), (f"{name}-client", False)):
        svc = live.get(("Service", service))
        if svc is None:
            problems.append(f"no Service {service}")
            continue
        selector = svc["spec"].get("selector") or {}
        if pod_labels and not _selects(selector, pod_labels):
            problems.append(f"Service {service} selector {selector} does not select the StatefulSet's pods")
        for pod_name in kept:
            labels = (go_pods[pod_name] or {}).get("metadata", {}).get("labels") or {}
            if not _selects(selector, labels):
                continue
            if pod_labels and _selects(selector, pod_labels):
                problems.append(f"Service {service} selects both the Go member {pod_name} and ours")
            else:
                problems.append(f"Service {service} still selects the Go member {pod_name}")
        if headless and svc["spec"].get("clusterIP") != "None":
            problems.append(f"Service {service} is not headless")
        if not headless:
            ports = {p.get("name"): p for p in svc["spec"].get("ports", [])}
            if svc["spec"].get("type") != "NodePort" or ports.get("client", {}).get("nodePort") != 30379:
                problems.append(f"Service {service} is not NodePort 30379 on port client")
    for part in ("server", "client", "peer"):
        if ("Secret", f"{name}-{part}") not in live:
            problems.append(f"no Secret {name}-{part}")
    assert not problems, "; ".join(problems)
    return f"Go member Pods deleted: {sorted(go_pods)}"


# ---- the test -------------------------------------------------------------------------------------


@pytest.mark.timeout(900)
async def test_operator_takes_over_a_cluster_the_go_operator_left(
    kube: Kube, kubectl: Kubectl, go_cluster: GoCluster
) -> None:
    ns = go_cluster.namespace
    await wait_settled(kubectl, go_cluster)
    await asyncio.to_thread(_check_go_cluster, kubectl, go_cluster)
    events_before = await asyncio.to_thread(_events_before, kubectl, ns)

    operator = OperatorProcess(kube.kubeconfig, namespaces=(ns,))
    await asyncio.to_thread(operator.start)
    cloud = Cloud(ns, operator, kubectl)
    checks = Checklist()
    notes: list[str] = []
    try:
        await checks.run("Ready", lambda: check_ready(cloud))
        await checks.run("zero writes at rest", lambda: check_at_rest(cloud, kubectl))
        live = await asyncio.to_thread(list_namespace, kubectl, ns, *KIND_RESOURCES, managed_fields=True)
        await checks.run("warnings", lambda: check_warnings(kubectl, ns, events_before))
        await checks.run("same UIDs", lambda: check_same_uids(go_cluster, live))
        await checks.run("generation bumps", lambda: check_generations(go_cluster, live))
        await checks.run("field owners", lambda: check_field_owners(live))
        await checks.run("references", lambda: check_references(live))
        await checks.run("passwords in pods", lambda: check_pod_passwords(go_cluster, live))
        await checks.run("credentials", lambda: check_credentials(go_cluster, live))
        await checks.run(
            "no password in ConfigMaps", lambda: check_no_password_in_configmaps(go_cluster, live)
        )
        await checks.run("etcd", lambda: notes.append(check_etcd(go_cluster, live)))
        await checks.run(
            "the way back", lambda: check_export_gives_back_the_go_cluster_config(go_cluster, kube)
        )
    finally:
        alive = operator.proc is not None and operator.proc.poll() is None
        if alive:
            operator.terminate()
    report = checks.report()
    print(report)
    print("\n".join(notes))
    if checks.failed:
        cr = await asyncio.to_thread(cloud.cr)
        print("CR status:\n" + json.dumps(cr.get("status"), indent=1)[:8000])
        print("operator log:\n" + _log_tail(operator))
    assert not checks.failed, report
