"""A cluster as the Go operator (yunionio/cloudpods-operator) leaves it, created from static YAML.

`tests/fixtures/go_cluster/default.yaml` holds every object the Go operator's own code builds for
OnecloudCluster ``default`` (FullStack, CE), written from the research facts, not by our renderer (its
header says how it was made and lists the test passwords). :func:`create_go_cluster` writes it into a
namespace the way the Go operator did:

* the CR: the user's manifest applied with ``kubectl apply`` (client-side, as a user does), then the
  defaulted spec and the status written back with a whole-object Update by ``onecloud-controller-manager``
  (our CRD admits the empty strings Go's defaulting persists: "" means unset);
* ServiceAccount ``onecloud-operator``: from the Go install manifest (``kubectl apply``);
* everything else: POST (create) with ``fieldManager=onecloud-controller-manager``, which the API server
  records as operation ``Update``, exactly as it recorded the Go client's creates (no field manager, user
  agent ``onecloud-controller-manager/…``). Unknown fields are dropped with a warning, as for the Go
  client (the Ingresses' ``serviceName/servicePort``).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .helpers import REPO, Kubectl, eventually

FIXTURE_DIR = REPO / "tests" / "fixtures" / "go_cluster"
FIXTURE = FIXTURE_DIR / "default.yaml"
CRD_NAME = "onecloudclusters.onecloud.yunion.io"
CR_RESOURCE = CRD_NAME
GO_FIELD_MANAGER = "onecloud-controller-manager"
"""The manager the API server recorded for every write of the Go operator (its binary's name)."""
CR_UID_MARKER = "<cr-uid>"
NAMESPACE_MARKER = "<namespace>"
LAST_APPLIED = "onecloud.yunion.io/last-applied-configuration"
CLUSTER_CONFIG_KEY = "OnecloudClusterConfig"

KIND_RESOURCES: dict[str, str] = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Deployment": "deployments.apps",
    "DaemonSet": "daemonsets.apps",
    "StatefulSet": "statefulsets.apps",
    "Ingress": "ingresses.networking.k8s.io",
    "Pod": "pods",
    "ServiceAccount": "serviceaccounts",
    "OnecloudCluster": CR_RESOURCE,
}
"""kubectl resource names of every kind the fixture (or our operator) creates in the namespace."""

Key = tuple[str, str]
"""(kind, name) of an object in the namespace."""


@dataclass(frozen=True)
class Fixture:
    """The parsed fixture file."""

    user_manifest: dict[str, Any]
    """The CR as the user applied it (examples/onecloudcluster.yaml + mysql.password)."""
    cluster: dict[str, Any]
    """The CR as the Go operator wrote it back: defaulted spec, labels, status."""
    service_account: dict[str, Any]
    objects: list[dict[str, Any]]
    """Everything the Go operator created itself, in creation order, with the markers unfilled."""
    passwords: dict[str, str]
    """`<cluster>-credentials` key (DESIGN-14) -> the test password the Go cluster uses."""
    other_secrets: dict[str, str]
    """Secret values that are not cluster-config passwords (spec values, literals)."""

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return _find(self.objects, kind, name)

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return _of_kind(self.objects, kinds)


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise KeyError((kind, name))


def _of_kind(objects: list[dict[str, Any]], kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in kinds]


def _commented_mapping(text: str, heading: str) -> dict[str, str]:
    """The ``# heading:`` block of the file's header comment, as a mapping (``#   key: value`` lines)."""
    lines = text.splitlines()
    start = lines.index(f"# {heading}:") + 1
    body: list[str] = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        body.append(line[2:])
    mapping = yaml.safe_load("\n".join(body))
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError(f"{FIXTURE}: no `# {heading}:` mapping in the header")
    return {str(k): str(v) for k, v in mapping.items()}


def load_fixture(path: Path = FIXTURE) -> Fixture:
    text = path.read_text()
    docs = [d for d in yaml.safe_load_all(text) if d]
    user, cluster, service_account, *objects = docs
    assert user["kind"] == cluster["kind"] == "OnecloudCluster", "documents 1-2 are the CR"
    assert service_account["kind"] == "ServiceAccount", "document 3 is the install manifest's ServiceAccount"
    return Fixture(
        user,
        cluster,
        service_account,
        objects,
        _commented_mapping(text, "passwords"),
        _commented_mapping(text, "other-secrets"),
    )


@dataclass
class GoCluster:
    """What :func:`create_go_cluster` made: the objects as sent, and what the API server returned."""

    namespace: str
    fixture: Fixture
    cr_uid: str
    objects: list[dict[str, Any]]
    """Every object as sent (markers filled in; Secrets with `data`), the CR (as the Go operator wrote it)
    and the ServiceAccount included."""
    uids: dict[Key, str] = field(default_factory=dict)
    generations: dict[Key, int] = field(default_factory=dict)
    """metadata.generation right after creation (0 for kinds without one)."""
    resource_versions: dict[Key, str] = field(default_factory=dict)

    name: str = "default"

    @property
    def passwords(self) -> dict[str, str]:
        return self.fixture.passwords

    @property
    def other_secrets(self) -> dict[str, str]:
        return self.fixture.other_secrets

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """The object as it was sent."""
        return _find(self.objects, kind, name)

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return _of_kind(self.objects, kinds)

    @property
    def etcd_pods(self) -> list[str]:
        return [o["metadata"]["name"] for o in self.of_kind("Pod")]

    @property
    def cluster_config(self) -> str:
        """The OnecloudClusterConfig document of ``<cluster>-cluster-config``, verbatim."""
        text: str = self.get("ConfigMap", f"{self.name}-cluster-config")["data"][CLUSTER_CONFIG_KEY]
        return text


# ---- creating ---------------------------------------------------------------------------------------


def _fill(value: Any, cr_uid: str, namespace: str) -> Any:
    if isinstance(value, str):
        return value.replace(CR_UID_MARKER, cr_uid).replace(NAMESPACE_MARKER, namespace)
    if isinstance(value, list):
        return [_fill(v, cr_uid, namespace) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, cr_uid, namespace) for k, v in value.items()}
    return value


def _as_sent(obj: dict[str, Any], cr_uid: str, namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = _fill(copy.deepcopy(obj), cr_uid, namespace)
    out["metadata"]["namespace"] = namespace
    if out["kind"] == "Secret" and "stringData" in out:
        data = out.pop("stringData")
        out["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return out


def _write_cr(kubectl: Kubectl, fixture: Fixture, namespace: str) -> dict[str, Any]:
    """The CR as a user applied it and the Go operator then Updated it (Get → Default → Update)."""
    user = copy.deepcopy(fixture.user_manifest)
    user["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input=json.dumps(user))
    live: dict[str, Any] = json.loads(
        kubectl("get", CR_RESOURCE, "-n", namespace, user["metadata"]["name"], "-o", "json").stdout
    )
    go = fixture.cluster
    live["metadata"].setdefault("labels", {}).update(go["metadata"].get("labels") or {})
    live["metadata"].setdefault("annotations", {}).update(go["metadata"].get("annotations") or {})
    live["spec"] = copy.deepcopy(go["spec"])
    live["status"] = copy.deepcopy(go.get("status") or {})
    # A raw PUT, as client-go's Update: `kubectl replace` would rewrite kubectl's last-applied annotation.
    name = user["metadata"]["name"]
    path = f"/apis/{live['apiVersion']}/namespaces/{namespace}/onecloudclusters/{name}"
    uri = f"{path}?fieldManager={GO_FIELD_MANAGER}"
    kubectl("replace", "--raw", uri, "-f", "-", input=json.dumps(live))
    written: dict[str, Any] = json.loads(
        kubectl("get", CR_RESOURCE, "-n", namespace, user["metadata"]["name"], "-o", "json").stdout
    )
    return written


def list_namespace(
    kubectl: Kubectl, namespace: str, *kinds: str, managed_fields: bool = False
) -> dict[Key, dict[str, Any]]:
    """(kind, name) -> live object, for `kinds` (every kind of KIND_RESOURCES by default)."""
    resources = ",".join(KIND_RESOURCES[k] for k in (kinds or tuple(KIND_RESOURCES)))
    extra = ["--show-managed-fields"] if managed_fields else []
    done = kubectl("get", resources, "-n", namespace, "-o", "json", *extra, timeout=120)
    return {(o["kind"], o["metadata"]["name"]): o for o in json.loads(done.stdout)["items"]}


def _create_sync(kubectl: Kubectl, namespace: str, fixture: Fixture) -> GoCluster:
    # Our CRD admits the CR the Go operator defaulted ("" means unset): no schema swap is needed.
    cr = _write_cr(kubectl, fixture, namespace)
    cr_uid = str(cr["metadata"]["uid"])
    sa = copy.deepcopy(fixture.service_account)
    sa["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input=json.dumps(sa))  # the install manifest's ServiceAccount
    sent = [_as_sent(o, cr_uid, namespace) for o in fixture.objects]
    body = {"apiVersion": "v1", "kind": "List", "items": sent}
    kubectl(
        "create",
        "-n",
        namespace,
        f"--field-manager={GO_FIELD_MANAGER}",
        "--validate=warn",  # what the Go client got: unknown fields dropped with a warning
        "-f",
        "-",
        input=json.dumps(body),
        timeout=180,
    )
    cluster_doc = copy.deepcopy(fixture.cluster)
    cluster_doc["metadata"]["namespace"] = namespace
    everything = [cluster_doc, sa, *sent]
    live = list_namespace(kubectl, namespace)
    cluster = GoCluster(namespace, fixture, cr_uid, everything, name=cr["metadata"]["name"])
    for obj in everything:
        key = (obj["kind"], obj["metadata"]["name"])
        found = live.get(key)
        if found is None:
            raise AssertionError(f"{key} was sent but is not in namespace {namespace}")
        cluster.uids[key] = str(found["metadata"]["uid"])
        cluster.generations[key] = int(found["metadata"].get("generation") or 0)
        cluster.resource_versions[key] = str(found["metadata"]["resourceVersion"])
    return cluster


async def create_go_cluster(kubectl: Kubectl, namespace: str, *, path: Path = FIXTURE) -> GoCluster:
    """Write the Go-made cluster of `path` into `namespace` (which must exist), as the Go operator did.

    Returns the objects as sent with their UIDs and generations; the fixture's passwords are
    ``.passwords`` (DESIGN-14 credentials keys) and ``.other_secrets``.
    """
    fixture = load_fixture(path)
    return await asyncio.to_thread(_create_sync, kubectl, namespace, fixture)


# ---- waiting for the Go cluster to settle -------------------------------------------------------------


def unsettled(kubectl: Kubectl, cluster: GoCluster) -> list[str]:
    """What of the Go cluster is not rolled out yet (KWOK runs the pods): empty once settled."""
    live = list_namespace(
        kubectl, cluster.namespace, "Deployment", "DaemonSet", "PersistentVolumeClaim", "Pod"
    )
    out = []
    for (kind, name), obj in sorted(live.items()):
        status, meta = obj.get("status") or {}, obj["metadata"]
        if kind in ("Deployment", "DaemonSet") and status.get("observedGeneration") != meta.get("generation"):
            out.append(f"{kind}/{name}: generation {meta.get('generation')} not observed yet")
        elif kind == "Deployment":
            want = obj["spec"].get("replicas", 1)
            if (status.get("availableReplicas") or 0) != want or (status.get("updatedReplicas") or 0) != want:
                out.append(f"Deployment/{name}: {status.get('availableReplicas') or 0}/{want} available")
        elif kind == "DaemonSet":
            want = status.get("desiredNumberScheduled", 0)
            if not want or status.get("numberAvailable") != want:
                out.append(f"DaemonSet/{name}: {status.get('numberAvailable') or 0}/{want} available")
        elif kind == "PersistentVolumeClaim" and status.get("phase") != "Bound":
            out.append(f"PVC/{name}: {status.get('phase')}")
        elif kind == "Pod" and name in cluster.etcd_pods and status.get("phase") != "Running":
            out.append(f"Pod/{name}: {status.get('phase')}")
    return out


async def wait_settled(kubectl: Kubectl, cluster: GoCluster, timeout: float = 180.0) -> None:  # noqa: ASYNC109
    """Until every Go workload is rolled out, every PVC bound and the etcd member Running."""

    def settled() -> None:
        left = unsettled(kubectl, cluster)
        assert not left, f"{len(left)} not settled: " + "; ".join(left[:8])

    await eventually(lambda: asyncio.to_thread(settled), timeout=timeout, interval=1.0)


# ---- reading configs the way a pod reads them -----------------------------------------------------------

CONFIG_FLAGS = ("--config", "-conf", "--conf", "-config", "--common-config-file")
LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_.]+)\s*(?::|=|\s)\s*(?P<value>\S+)\s*$")
"""``key: value`` (YAML), ``key value`` (Corefile), ``key=value`` (properties), ``export K=V`` (rc)."""
URL_PASSWORD = re.compile(r"^[A-Za-z0-9+.-]+://[^:/@\s]*:(?P<password>[^@\s]+)@")
PASSWORDISH = re.compile(r"password|encryption.?key", re.IGNORECASE)


def _options(text: str) -> list[tuple[str, str]]:
    """(option, value) of a config file: the top-level scalars of a YAML/JSON mapping, else its lines."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if isinstance(doc, dict):
        return [(str(k), str(v)) for k, v in doc.items() if isinstance(v, str | int | float)]
    out = []
    for line in text.splitlines():
        match = LINE.match(line)
        if match is not None:
            out.append((match["key"], match["value"].strip("'\"")))
    return out


def config_paths(container: dict[str, Any]) -> list[str]:
    """The config files a container's command line names (``--config X``, ``-conf X``, ``--config=X``)."""
    argv = [*container.get("command", []), *container.get("args", [])]
    out = []
    for i, arg in enumerate(argv):
        for flag in CONFIG_FLAGS:
            if arg == flag and i + 1 < len(argv):
                out.append(argv[i + 1])
            elif arg.startswith(flag + "="):
                out.append(arg.split("=", 1)[1])
    return out


def _data(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "Secret":
        if "stringData" in obj:
            return dict(obj["stringData"])
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def read_file(
    path: str, container: dict[str, Any], pod: dict[str, Any], objects: dict[Key, dict[str, Any]]
) -> str | None:
    """The content `container` sees at `path`, when a ConfigMap/Secret (or projected) volume provides it;
    None for node files, emptyDirs and anything not found."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = sorted(container.get("volumeMounts", []), key=lambda m: -len(m["mountPath"]))
    for mount in mounts:
        mount_path = mount["mountPath"].rstrip("/")
        if path == mount_path and mount.get("subPath"):
            relative = mount["subPath"]
        elif path.startswith(mount_path + "/"):
            relative = path[len(mount_path) + 1 :]
            if mount.get("subPath"):
                relative = f"{mount['subPath']}/{relative}"
        else:
            continue
        volume = volumes.get(mount["name"], {})
        sources = []
        if "configMap" in volume:
            sources.append(("ConfigMap", volume["configMap"].get("name"), volume["configMap"].get("items")))
        if "secret" in volume:
            sources.append(("Secret", volume["secret"].get("secretName"), volume["secret"].get("items")))
        for source in (volume.get("projected") or {}).get("sources", []):
            for kind, ref, name_key in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "name")):
                if ref in source:
                    sources.append((kind, source[ref].get(name_key), source[ref].get("items")))
        for kind, name, items in sources:
            obj = objects.get((kind, name or ""))
            if obj is None:
                continue
            data = _data(obj)
            if items:
                for item in items:
                    if item["path"] == relative and item["key"] in data:
                        return data[item["key"]]
            elif relative in data:
                return data[relative]
        return None
    return None


def password_fields(template: dict[str, Any], objects: dict[Key, dict[str, Any]]) -> dict[str, set[str]]:
    """Every password a pod of `template` reads, by where it reads it: ``<option>`` of a config file named
    on a main container's command line (inline, or from the file an ``<option>_file`` option names;
    ``sql_password_file`` stands for ``sql_connection``'s password), and ``env:<NAME>`` for password
    environment variables (literal or from a Secret key)."""
    pod = template["spec"]
    out: dict[str, set[str]] = {}
    for container in pod.get("containers", []):
        for path in config_paths(container):
            text = read_file(path, container, pod, objects)
            for key, value in _options(text or ""):
                url = URL_PASSWORD.match(value)
                if url is not None:
                    out.setdefault(key, set()).add(url["password"])
                    continue
                if not PASSWORDISH.search(key):
                    continue
                if key.endswith("_file"):
                    key = key.removesuffix("_file")
                    key = "sql_connection" if key == "sql_password" else key
                    resolved = read_file(value, container, pod, objects)
                    if resolved is None:
                        out.setdefault(key, set()).add(f"<unreadable file {value}>")
                        continue
                    value = resolved.strip()
                out.setdefault(key, set()).add(value)
        for env in container.get("env", []):
            if "PASSWORD" not in env["name"].upper():
                continue
            if "value" in env:
                out.setdefault(f"env:{env['name']}", set()).add(env["value"])
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                secret = objects.get(("Secret", ref["name"]))
                found = _data(secret).get(ref["key"]) if secret else None
                out.setdefault(f"env:{env['name']}", set()).add(
                    found if found is not None else f"<missing {ref['name']}/{ref['key']}>"
                )
    return out


def objects_by_key(objects: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}
