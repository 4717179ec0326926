"""The Helm chart on a real API server, and the operator running with exactly the chart's permissions.

`helm install` creates the ServiceAccount, the RBAC and the Deployment (its pod is admitted by a namespace
enforcing the restricted Pod Security Standard and lands on a KWOK node, so no image is pulled). The real
operator process then runs locally, authenticated as the chart's ServiceAccount (a TokenRequest token in a
kubeconfig), reconciles examples/onecloudcluster.yaml without a single 403, and is refused what the chart
does not grant. The same holds for a namespaced install (Roles) with leader election.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.config import new_client_from_config

from cloudpods_operator import __version__
from localcluster import demo

from .conftest import Kube
from .helpers import (
    CHART,
    KEYSTONE_IMAGE,
    Kubectl,
    delete_namespace,
    eventually,
    example_yaml,
    new_namespace,
)
from .operator_process import OperatorProcess

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "onecloud.yunion.io", "v1alpha1", "onecloudclusters"


@dataclass
class Helm:
    """The helm CLI against the test cluster, with homes of its own (tests/conftest.py); awaited per run."""

    binary: Path
    kubeconfig: Path
    env: dict[str, str]

    async def __call__(self, *args: str, seconds: float = 180.0) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            str(self.binary),
            *args,
            "--kubeconfig",
            str(self.kubeconfig),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), seconds)
        return int(proc.returncode or 0), out.decode(), err.decode()


@dataclass
class Release:
    """An installed release of the chart, and a way to act as its ServiceAccount."""

    name: str
    namespace: str
    service_account: str
    kubeconfig: Path
    """A kubeconfig whose only credential is a token of the chart's ServiceAccount."""
    install_output: str


@pytest.fixture(scope="module")
def helm(helm_binary: Path, helm_env: dict[str, str], kube: Kube) -> Helm:
    """helm (tests/conftest.py: failing, not skipping, when it is not built) for the cluster under test."""
    return Helm(helm_binary, kube.kubeconfig, helm_env)


async def _install(helm: Helm, kube: Kube, kubectl: Kubectl, tmp: Path, release: str, *sets: str) -> Release:
    namespace = new_namespace(
        kubectl,
        "it-chart",
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    args = [
        arg for s in ("image.repository=example.invalid/cloudpods-operator", *sets) for arg in ("--set", s)
    ]
    service_account = f"{release}-cloudpods-operator"
    try:
        code, out, err = await helm(
            "install", release, str(CHART), "--namespace", namespace, "--wait", "--timeout", "120s", *args
        )
        assert code == 0, f"helm install failed:\n{out}\n{err}"
        token = await demo.service_account_token(kube.kubeconfig, namespace, service_account, 3600)
    except BaseException:
        await helm("uninstall", release, "--namespace", namespace, "--ignore-not-found")
        delete_namespace(kubectl, namespace)
        raise
    kubeconfig = demo.write_token_kubeconfig(
        kube.kubeconfig, token, tmp / f"{release}.kubeconfig", f"{namespace}:{service_account}"
    )
    return Release(release, namespace, service_account, kubeconfig, out)


async def _uninstall(helm: Helm, kubectl: Kubectl, release: Release) -> None:
    code, out, err = await helm("uninstall", release.name, "--namespace", release.namespace, "--wait")
    delete_namespace(kubectl, release.namespace)
    assert code == 0, f"helm uninstall failed:\n{out}\n{err}"


@pytest.fixture(scope="module")
async def cluster_wide(
    helm: Helm, kube: Kube, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Release]:
    """The chart with its defaults: every namespace, one ClusterRole, no leader election."""
    release = await _install(helm, kube, kubectl, tmp_path_factory.mktemp("chart"), "cpo")
    try:
        yield release
    finally:
        await _uninstall(helm, kubectl, release)


def _cluster_status(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    out = kubectl("get", f"{PLURAL}.{GROUP}", "default", "-n", namespace, "-o", "json").stdout
    status: dict[str, Any] = json.loads(out).get("status") or {}
    return status


async def _reconciled(kubectl: Kubectl, namespace: str, operator: OperatorProcess) -> dict[str, Any]:
    """The operator reported keystone with its image, and the keystone Deployment exists."""

    def check() -> dict[str, Any]:
        assert operator.proc is not None and operator.proc.poll() is None, operator.logs()[-3000:]
        status = _cluster_status(kubectl, namespace)
        keystone = (status.get("components") or {}).get("keystone") or {}
        assert keystone.get("image") == KEYSTONE_IMAGE, status
        return status

    def deployments() -> list[str]:
        names = kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout.split()
        # region waits for keystone to be ready (the planner's gates): both exist once it is.
        assert {"deployment.apps/default-keystone", "deployment.apps/default-region"} <= set(names), names
        return names

    status = await eventually(check, timeout=120, interval=0.5)
    await eventually(deployments, timeout=120, interval=0.5)
    return status


def _forbidden(operator: OperatorProcess) -> None:
    assert operator.metric("rest_client_requests_total", code="403") == 0, [
        line for line in operator.logs().splitlines() if "403" in line or "orbidden" in line
    ][:5]


# ---- tests ---------------------------------------------------------------------------------------


async def test_install_creates_service_account_rbac_and_a_restricted_pod(
    cluster_wide: Release, kubectl: Kubectl
) -> None:
    ns, fullname = cluster_wide.namespace, f"{cluster_wide.name}-cloudpods-operator"
    kubectl("get", "serviceaccount", cluster_wide.service_account, "-n", ns)
    kubectl("get", "clusterrole", f"{fullname}-{ns}")
    binding = json.loads(kubectl("get", "clusterrolebinding", f"{fullname}-{ns}", "-o", "json").stdout)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": cluster_wide.service_account, "namespace": ns}
    ]
    deploy = json.loads(kubectl("get", "deployment", fullname, "-n", ns, "-o", "json").stdout)
    assert (
        deploy["spec"]["template"]["spec"]["containers"][0]["image"]
        == f"example.invalid/cloudpods-operator:{__version__}"
    )
    kubectl("get", "service", f"{fullname}-metrics", "-n", ns)
    kubectl("get", "crd", "onecloudclusters.onecloud.yunion.io")
    notes = f"cloudpods-operator {__version__} is installed in namespace {ns}"
    assert notes in cluster_wide.install_output
    # helm --wait saw the Deployment available: its pod passed the namespace's restricted Pod Security
    # admission (KWOK runs it without an image) ...
    pods = json.loads(
        kubectl(
            "get", "pods", "-n", ns, "-l", f"app.kubernetes.io/instance={cluster_wide.name}", "-o", "json"
        ).stdout
    )["items"]
    assert len(pods) == 1 and pods[0]["spec"]["serviceAccountName"] == cluster_wide.service_account
    # ... and that admission is really enforced there.
    refused = kubectl("run", "privileged", "-n", ns, "--image=example.invalid/x", "--privileged", check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr


async def test_operator_reconciles_the_example_with_the_chart_rbac(
    cluster_wide: Release, kubectl: Kubectl, tmp_path: Path
) -> None:
    target = new_namespace(kubectl, "it-chart-oc")
    operator = OperatorProcess(cluster_wide.kubeconfig, log_path=tmp_path / "operator.log")
    try:
        operator.start()
        kubectl("apply", "-f", "-", input=example_yaml(target))
        started = time.monotonic()
        status = await _reconciled(kubectl, target, operator)
        print(f"\nreconciled as {cluster_wide.service_account} in {time.monotonic() - started:.1f}s")
        assert len(status["components"]) > 30
        secrets = kubectl("get", "secrets", "-n", target, "-o", "name").stdout.split()
        assert "secret/default-credentials" in secrets and "secret/default-certs" in secrets
        events = kubectl("get", "events.events.k8s.io", "-n", target, "-o", "json").stdout
        assert "onecloud.yunion.io/cloudpods-operator" in events, "Events are recorded"
        assert operator.metric("cloudpods_operator_applies_total") > 50
        _forbidden(operator)
        assert operator.terminate() == 0
    finally:
        operator.kill()
        delete_namespace(kubectl, target)


async def test_service_account_is_refused_what_the_chart_does_not_grant(
    cluster_wide: Release, kubectl: Kubectl
) -> None:
    target = new_namespace(kubectl, "it-chart-deny")
    kubectl("create", "configmap", "kept", "-n", target, "--from-literal=a=b")
    kubectl("create", "secret", "generic", "kept", "-n", target, "--from-literal=a=b")
    api = await new_client_from_config(config_file=str(cluster_wide.kubeconfig), persist_config=False)
    try:
        core, custom = k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)
        rbac, coordination = k8s.RbacAuthorizationV1Api(api), k8s.CoordinationV1Api(api)
        # What it may do (so the token works and a 403 below is RBAC, not authentication):
        assert "kept" in [c.metadata.name for c in (await core.list_namespaced_config_map(target)).items]
        await core.list_node()

        async def status_of(call: Any) -> int:
            try:
                await call
            except k8s.ApiException as exc:
                return int(exc.status)
            return 200

        refused = {
            # ConfigMaps: patched and (superseded configs) deleted, never replaced; Secrets never deleted.
            "replace configmap": await status_of(
                core.replace_namespaced_config_map(
                    "kept", target, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="kept"))
                )
            ),
            "delete secret": await status_of(core.delete_namespaced_secret("kept", target)),
            "delete pvc": await status_of(core.delete_namespaced_persistent_volume_claim("kept", target)),
            # Pods: only listed and deleted (the Go operator's bare etcd members), never read or made.
            "get pod": await status_of(core.read_namespaced_pod("kept", target)),
            "create pod": await status_of(
                core.create_namespaced_pod(
                    target,
                    k8s.V1Pod(
                        metadata=k8s.V1ObjectMeta(name="it-pod"),
                        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="x")]),
                    ),
                )
            ),
            "delete namespace": await status_of(core.delete_namespace(target)),
            "get node": await status_of(core.read_node("node-plain-0")),
            "patch OnecloudCluster spec": await status_of(
                custom.patch_namespaced_custom_object(
                    GROUP, VERSION, target, PLURAL, "default", {"spec": {"version": "x"}}
                )
            ),
            "delete OnecloudCluster": await status_of(
                custom.delete_namespaced_custom_object(GROUP, VERSION, target, PLURAL, "default")
            ),
            "create ClusterRole": await status_of(
                rbac.create_cluster_role(k8s.V1ClusterRole(metadata=k8s.V1ObjectMeta(name="it-escalate")))
            ),
            "create Lease (no leader election)": await status_of(
                coordination.create_namespaced_lease(
                    cluster_wide.namespace,
                    k8s.V1Lease(metadata=k8s.V1ObjectMeta(name="cloudpods-operator"), spec=k8s.V1LeaseSpec()),
                )
            ),
        }
        assert refused == dict.fromkeys(refused, 403)
        kubectl("get", "configmap", "kept", "-n", target)  # still there
    finally:
        await api.close()
        delete_namespace(kubectl, target)


async def test_namespaced_install_with_leader_election(
    helm: Helm, kube: Kube, kubectl: Kubectl, tmp_path: Path
) -> None:
    """watchNamespaces: Roles in the watched namespace only (plus Node read), a Lease in the release's."""
    target = new_namespace(kubectl, "it-chart-ns")
    release = await _install(
        helm,
        kube,
        kubectl,
        tmp_path,
        "cpons",
        f"watchNamespaces={{{target}}}",
        "leaderElection.enabled=true",
        "replicas=1",
    )
    args = ("--leader-elect", "--lease-namespace", release.namespace, "--identity", "it-operator")
    operator = OperatorProcess(release.kubeconfig, (target,), args, log_path=tmp_path / "operator.log")
    try:
        kubectl("get", "role", "cpons-cloudpods-operator", "-n", target)
        kubectl("get", "role", "cpons-cloudpods-operator-leader-election", "-n", release.namespace)
        operator.start()
        kubectl("apply", "-f", "-", input=example_yaml(target))
        await _reconciled(kubectl, target, operator)

        def holder() -> str:
            lease = kubectl(
                "get", "lease", "cloudpods-operator", "-n", release.namespace, "-o", "json"
            ).stdout
            return str(json.loads(lease)["spec"].get("holderIdentity", ""))

        assert holder() == "it-operator"
        assert operator.metric("leader_election_master_status") == 1
        _forbidden(operator)

        api = await new_client_from_config(config_file=str(release.kubeconfig), persist_config=False)
        try:
            custom = k8s.CustomObjectsApi(api)
            await custom.list_namespaced_custom_object(GROUP, VERSION, target, PLURAL)
            for call in (
                custom.list_cluster_custom_object(GROUP, VERSION, PLURAL),
                custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL),
                k8s.CoreV1Api(api).list_namespaced_config_map("default"),
            ):
                with pytest.raises(k8s.ApiException) as refused:
                    await call
                assert refused.value.status == 403
        finally:
            await api.close()
        assert operator.terminate() == 0
        assert holder() == "", "the Lease is released on SIGTERM"
    finally:
        operator.kill()
        delete_namespace(kubectl, target)
        await _uninstall(helm, kubectl, release)
