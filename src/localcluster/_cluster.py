"""Start, stop and inspect the local control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok on 127.0.0.1, with simulated nodes."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from . import _http, _pki, _procs
from ._binaries import binaries
from .errors import AlreadyRunningError, LocalClusterError, StartError

STATE_FILE = "state.json"
MARKER_FILE = ".localcluster"
LOCK_FILE = ".lock"
SERVICE_CIDR = "10.0.0.0/24"
POD_CIDR = "10.244.0.0/16"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"

# Start order; stop runs the reverse (the apiserver stops before etcd).
COMPONENT_ORDER: tuple[str, ...] = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
)

CONTROLLERS: tuple[str, ...] = (
    "garbage-collector-controller",
    "persistentvolume-binder-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
    "deployment-controller",
    "replicaset-controller",
    "daemonset-controller",
    "statefulset-controller",
    "serviceaccount-token-controller",
    "serviceaccount-controller",
    "namespace-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "replicationcontroller-controller",
    "pod-garbage-collector-controller",
    "resourcequota-controller",
    "disruption-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "legacy-serviceaccount-token-cleaner-controller",
)

ADMISSION_PLUGINS: tuple[str, ...] = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "NodeRestriction",
    "TaintNodesByCondition",
    "Priority",
    "DefaultTolerationSeconds",
    "DefaultStorageClass",
    "PodSecurity",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
)


STORAGE_CLASS = "local-path"
TOKEN_FILE = "tokens.csv"
STATIC_TOKEN_USERS: tuple[str, ...] = ("token-a", "token-b")
"""Users the API server also accepts by bearer token (tests of credential refresh); they have no RBAC role."""


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    return env


@dataclass(frozen=True)
class NodeSpec:
    """A simulated (KWOK) node."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    cpu: str = "32"
    memory: str = "256Gi"
    pods: str = "1000"


DEFAULT_NODES: tuple[NodeSpec, ...] = (
    NodeSpec("node-controller-0", {"onecloud.yunion.io/controller": "enable"}),
    NodeSpec("node-host-0", {"onecloud.yunion.io/host": "enable"}),
    NodeSpec("node-host-1", {"onecloud.yunion.io/host": "enable"}),
    NodeSpec("node-lbagent-0", {"onecloud.yunion.io/lbagent": "enable"}),
    NodeSpec("node-plain-0", {}),
)


@dataclass
class ComponentState:
    name: str
    pid: int
    start_time: int | None
    port: int
    health_url: str
    log: Path
    argv: list[str] = field(default_factory=list)
    """The command line, kept so that `Cluster.start_component` can start it again after a stop."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables set on top of the caller's (HOME for kwok)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "start_time": self.start_time,
            "port": self.port,
            "health_url": self.health_url,
            "log": str(self.log),
            "argv": self.argv,
            "env": self.env,
        }

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> ComponentState:
        return cls(
            name=name,
            pid=int(data["pid"]),
            start_time=data.get("start_time"),
            port=int(data["port"]),
            health_url=str(data["health_url"]),
            log=Path(data["log"]),
            argv=[str(a) for a in data.get("argv", [])],
            env={str(k): str(v) for k, v in dict(data.get("env", {})).items()},
        )

    def alive(self) -> bool:
        return _procs.alive(self.pid, self.start_time)


@dataclass
class Cluster:
    """A running local control plane (as started by `start` or read back by `load`)."""

    run_dir: Path
    server: str
    kubeconfig: Path
    components: dict[str, ComponentState]
    ports: dict[str, int]
    nodes: list[str]
    started_at: float
    startup_seconds: float

    @property
    def pids(self) -> dict[str, int]:
        return {name: c.pid for name, c in self.components.items()}

    @property
    def pki(self) -> _pki.Pki:
        return _pki.load(self.run_dir / "pki")

    @property
    def ca_file(self) -> Path:
        return self.pki.ca.cert

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    def env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG pointing at the admin kubeconfig (for kubectl, helm, the operator)."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 10.0,
    ) -> _http.Response:
        """One request to the API server as the admin (system:masters), e.g. request("GET", "/metrics")."""
        pki = self.pki
        ctx = _http.client_context(pki.ca.cert, pki.clients["admin"].cert, pki.clients["admin"].key)
        return _http.request(
            method, self.server + path, context=ctx, body=body, content_type=content_type, timeout=timeout
        )

    def stop(self, timeout: float = 15.0) -> None:
        stop(self.run_dir, timeout=timeout)

    def static_tokens(self) -> dict[str, str]:
        """user name -> bearer token the API server accepts (its ``--token-auth-file``)."""
        rows = (line.split(",") for line in (self.run_dir / "pki" / TOKEN_FILE).read_text().splitlines())
        return {row[1]: row[0] for row in rows if len(row) >= 2}

    def stop_component(self, name: str, timeout: float = 15.0) -> None:
        """Stop one component (SIGTERM, SIGKILL after ``timeout``); ``start_component`` brings it back."""
        comp = self.components[name]
        _procs.terminate([(comp.pid, comp.start_time)], timeout=timeout)
        _procs.reap()

    def start_component(self, name: str, timeout: float = 60.0) -> None:
        """Start a stopped component again with its recorded command line; returns once it is healthy."""
        comp = self.components[name]
        if comp.alive():
            raise LocalClusterError(f"{name} (pid {comp.pid}) still runs")
        if not comp.argv:
            raise LocalClusterError(
                f"{name}: no command line recorded (a cluster started by an older version)"
            )
        pid = _procs.spawn(comp.argv, comp.log, {**_base_env(), **comp.env})
        comp.pid, comp.start_time = pid, _procs.start_time(pid)
        self._record()
        self._wait_healthy(comp, timeout)

    def start_apiserver(self, name: str, extra_args: Sequence[str] = (), timeout: float = 60.0) -> str:
        """A further kube-apiserver on the same etcd, on a free port, with ``extra_args`` appended (a later
        flag wins, e.g. ``--watch-cache=false``); returns its URL. ``stop`` stops it with the cluster."""
        base = self.components["kube-apiserver"]
        port = _procs.free_ports(1)[0]
        argv = [a for a in base.argv if not a.startswith("--secure-port=")]
        argv += [f"--secure-port={port}", *extra_args]
        log = self.logs_dir / f"{name}.log"
        pid = _procs.spawn(argv, log, _base_env())
        server = f"https://127.0.0.1:{port}"
        comp = ComponentState(name, pid, _procs.start_time(pid), port, f"{server}/readyz", log, argv)
        self.components[name] = comp
        self._record()
        self._wait_healthy(comp, timeout)
        return server

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (its v3 HTTP gateway); returns that revision.

        A watch from an older resourceVersion then gets 410 Gone where no watch cache can serve it."""
        etcd = f"http://127.0.0.1:{self.ports['etcd-client']}"
        status = _http.request("POST", f"{etcd}/v3/maintenance/status", body={})
        revision = int(status.json()["header"]["revision"])
        done = _http.request(
            "POST", f"{etcd}/v3/kv/compaction", body={"revision": revision, "physical": True}
        )
        if done.status != 200:
            raise LocalClusterError(f"etcd compaction: HTTP {done.status}: {done.text[:300]}")
        return revision

    def _record(self) -> None:
        _write_state(self.run_dir, self.to_json())

    def _wait_healthy(self, comp: ComponentState, timeout: float) -> None:
        pki = self.pki
        ctx = _http.client_context(pki.ca.cert, pki.clients["admin"].cert, pki.clients["admin"].key)
        deadline = time.monotonic() + timeout
        detail = ""
        while time.monotonic() < deadline:
            if not comp.alive():
                raise StartError(f"{comp.name}: exited on start", comp.name, _procs.tail(comp.log))
            trusted = comp.name.startswith("kube-apiserver")  # the others serve self-signed certs
            ok, detail = _http.probe(comp.health_url, ctx if trusted else _http.insecure_context())
            if ok:
                return
            time.sleep(0.1)
        raise StartError(
            f"{comp.name}: not healthy after {timeout:.0f}s ({detail})", comp.name, _procs.tail(comp.log)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "run_dir": str(self.run_dir),
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "ports": self.ports,
            "nodes": self.nodes,
            "started_at": self.started_at,
            "startup_seconds": self.startup_seconds,
            "components": {name: c.to_json() for name, c in self.components.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cluster:
        return cls(
            run_dir=Path(data["run_dir"]),
            server=str(data["server"]),
            kubeconfig=Path(data["kubeconfig"]),
            components={
                name: ComponentState.from_json(name, c) for name, c in dict(data["components"]).items()
            },
            ports={k: int(v) for k, v in dict(data["ports"]).items()},
            nodes=list(data.get("nodes", [])),
            started_at=float(data.get("started_at", 0.0)),
            startup_seconds=float(data.get("startup_seconds", 0.0)),
        )


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int
    alive: bool
    port: int
    healthy: bool
    detail: str


def default_run_dir() -> Path:
    """LOCALCLUSTER_DIR, else .cluster/ at the repository root (the directory holding pyproject.toml)."""
    env = os.environ.get("LOCALCLUSTER_DIR")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "hack" / "cluster").is_dir():
            return parent / ".cluster"
    return Path.cwd().resolve() / ".cluster"


# --------------------------------------------------------------------------------------------- state


def _state_path(run_dir: Path) -> Path:
    return run_dir / STATE_FILE


def _write_state(run_dir: Path, data: Mapping[str, Any]) -> None:
    tmp = run_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(_state_path(run_dir))


def _read_state(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(_state_path(run_dir).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LocalClusterError(f"cannot read {_state_path(run_dir)}: {exc}") from exc
    if not isinstance(data, dict):
        raise LocalClusterError(f"{_state_path(run_dir)} is not a JSON object")
    return data


def _components_of(state: Mapping[str, Any]) -> dict[str, ComponentState]:
    return {name: ComponentState.from_json(name, c) for name, c in dict(state.get("components", {})).items()}


def load(run_dir: Path | str | None = None) -> Cluster | None:
    """The cluster recorded in run_dir, or None if none was started there."""
    run_dir = Path(run_dir).resolve() if run_dir is not None else default_run_dir()
    state = _read_state(run_dir)
    if state is None or "server" not in state:
        return None
    return Cluster.from_json(state)


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """Serialize up/down on one run directory (a second concurrent `up` is refused, not queued)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise AlreadyRunningError(
                f"another localcluster command is starting or stopping the cluster in {run_dir}"
            ) from exc
        yield
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------- config


def _kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str, embed: bool) -> dict[str, Any]:
    def data(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    cluster: dict[str, Any] = {"server": server}
    credentials: dict[str, Any]
    if embed:
        cluster["certificate-authority-data"] = data(ca)
        credentials = {"client-certificate-data": data(cert), "client-key-data": data(key)}
    else:
        cluster["certificate-authority"] = str(ca)
        credentials = {"client-certificate": str(cert), "client-key": str(key)}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "localcluster", "cluster": cluster}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "localcluster", "context": {"cluster": "localcluster", "user": user}}],
        "current-context": "localcluster",
        "preferences": {},
    }


def _write_yaml(path: Path, docs: Sequence[Mapping[str, Any]] | Mapping[str, Any], mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        if isinstance(docs, Mapping):
            yaml.safe_dump(dict(docs), fh, sort_keys=False)
        else:
            yaml.safe_dump_all([dict(d) for d in docs], fh, sort_keys=False)


def _node_object(spec: NodeSpec) -> dict[str, Any]:
    resources_ = {"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": spec.name,
                "type": "kwok",
                **dict(spec.labels),
            },
        },
        "spec": {},
        "status": {"allocatable": resources_, "capacity": resources_},
    }


# --------------------------------------------------------------------------------------------- start


Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


class _Starter:
    def __init__(
        self,
        run_dir: Path,
        nodes: Sequence[NodeSpec],
        extra_args: Mapping[str, Sequence[str]],
        progress: Progress,
        timeout: float,
    ) -> None:
        self.run_dir = run_dir
        self.nodes = list(nodes)
        self.extra_args = extra_args
        self.progress = progress
        self.timeout = timeout
        self.t0 = time.monotonic()
        self.bins = binaries(required=COMPONENT_ORDER)
        self.components: dict[str, ComponentState] = {}
        self.state: dict[str, Any] = {"version": 1, "run_dir": str(run_dir), "components": {}}
        names = (
            "etcd-client",
            "etcd-peer",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        )
        self.ports = dict(zip(names, _procs.free_ports(len(names)), strict=True))
        self.state["ports"] = self.ports
        self.server = f"https://127.0.0.1:{self.ports['kube-apiserver']}"
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pki = _pki.generate(run_dir / "pki")
        self.admin_ctx = _http.client_context(
            self.pki.ca.cert, self.pki.clients["admin"].cert, self.pki.clients["admin"].key
        )
        self.insecure_ctx = _http.insecure_context()

    def say(self, msg: str) -> None:
        self.progress(f"[{time.monotonic() - self.t0:5.1f}s] {msg}")

    # -- processes

    def launch(
        self,
        name: str,
        argv: list[str],
        port: int,
        health_url: str,
        env: Mapping[str, str],
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        argv = argv + list(self.extra_args.get(name, ()))
        log = self.logs / f"{name}.log"
        (self.logs / f"{name}.cmdline").write_text(" ".join(argv) + "\n")
        pid = _procs.spawn(argv, log, {**env, **(extra_env or {})})
        comp = ComponentState(
            name, pid, _procs.start_time(pid), port, health_url, log, argv, dict(extra_env or {})
        )
        self.components[name] = comp
        self.state["components"][name] = comp.to_json()
        _write_state(self.run_dir, self.state)
        self.say(f"{name} started (pid {pid}, port {port})")

    def fail(self, name: str, message: str) -> StartError:
        comp = self.components.get(name)
        log_tail = _procs.tail(comp.log) if comp else ""
        return StartError(f"{name}: {message}", name, log_tail)

    def wait_healthy(self, names: Sequence[str], deadline: float) -> None:
        pending = list(names)
        last: dict[str, str] = {}
        while pending:
            for name in list(pending):
                comp = self.components[name]
                if not comp.alive():
                    raise self.fail(name, "exited during start-up")
                ctx = self.admin_ctx if name == "kube-apiserver" else self.insecure_ctx
                ok, detail = _http.probe(comp.health_url, ctx)
                last[name] = detail
                if ok:
                    pending.remove(name)
                    self.say(f"{name} healthy")
            if pending:
                if time.monotonic() > deadline:
                    name = pending[0]
                    raise self.fail(name, f"not healthy after {self.timeout:.0f}s ({last.get(name)})")
                time.sleep(0.1)

    # -- the components

    def start_etcd(self, env: Mapping[str, str]) -> None:
        client = f"http://127.0.0.1:{self.ports['etcd-client']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        argv = [
            str(self.bins["etcd"]),
            "--name=localcluster",
            f"--data-dir={self.run_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=localcluster={peer}",
            "--initial-cluster-state=new",
            # A throw-away test cluster: no fsync, a small quota, quiet logs.
            "--unsafe-no-fsync=true",
            "--quota-backend-bytes=4294967296",
            "--log-level=warn",
        ]
        self.launch("etcd", argv, self.ports["etcd-client"], f"{client}/health", env)

    def token_file(self) -> Path:
        path = self.run_dir / "pki" / TOKEN_FILE
        if not path.exists():
            rows = [f"{secrets.token_hex(16)},{user},{user}" for user in STATIC_TOKEN_USERS]
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write("\n".join(rows) + "\n")
        return path

    def start_apiserver(self, env: Mapping[str, str]) -> None:
        p = self.pki
        argv = [
            str(self.bins["kube-apiserver"]),
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd-client']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports['kube-apiserver']}",
            f"--cert-dir={self.run_dir / 'pki' / 'apiserver-generated'}",
            f"--tls-cert-file={p.apiserver.cert}",
            f"--tls-private-key-file={p.apiserver.key}",
            f"--token-auth-file={self.token_file()}",
            f"--client-ca-file={p.ca.cert}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p.sa_public}",
            f"--service-account-signing-key-file={p.sa_private}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC,Node",
            "--endpoint-reconciler-type=none",
            f"--enable-admission-plugins={','.join(ADMISSION_PLUGINS)}",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ]
        self.launch("kube-apiserver", argv, self.ports["kube-apiserver"], f"{self.server}/readyz", env)

    def start_controllers(self, env: Mapping[str, str]) -> None:
        p = self.pki
        kube_dir = self.run_dir / "kubeconfigs"
        kube_dir.mkdir(exist_ok=True)
        kcs: dict[str, Path] = {}
        for name in ("controller-manager", "scheduler", "kwok"):
            creds = p.clients[name]
            kcs[name] = kube_dir / f"{name}.kubeconfig"
            _write_yaml(kcs[name], _kubeconfig(self.server, p.ca.cert, creds.cert, creds.key, name, False))

        kcm_port = self.ports["kube-controller-manager"]
        kcm = [
            str(self.bins["kube-controller-manager"]),
            f"--kubeconfig={kcs['controller-manager']}",
            "--bind-address=127.0.0.1",
            f"--secure-port={kcm_port}",
            f"--cert-dir={self.run_dir / 'pki' / 'controller-manager-generated'}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={p.sa_private}",
            f"--root-ca-file={p.ca.cert}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allocate-node-cidrs=false",
            # Dynamic hostPath volumes for the `local-path` StorageClass (single-node dev provisioner):
            # PVC-backed components (glance, victoria-metrics, ...) get bound volumes and schedule.
            "--enable-hostpath-provisioner=true",
            "--kube-api-qps=300",
            "--kube-api-burst=500",
            "--profiling=false",
            "--v=1",
        ]
        self.launch("kube-controller-manager", kcm, kcm_port, f"https://127.0.0.1:{kcm_port}/healthz", env)

        sched_port = self.ports["kube-scheduler"]
        sched_config = self.run_dir / "scheduler.yaml"
        _write_yaml(
            sched_config,
            {
                "apiVersion": "kubescheduler.config.k8s.io/v1",
                "kind": "KubeSchedulerConfiguration",
                "clientConnection": {"kubeconfig": str(kcs["scheduler"]), "qps": 300, "burst": 500},
                "leaderElection": {"leaderElect": False},
            },
            mode=0o644,
        )
        sched = [
            str(self.bins["kube-scheduler"]),
            f"--config={sched_config}",
            "--bind-address=127.0.0.1",
            f"--secure-port={sched_port}",
            f"--cert-dir={self.run_dir / 'pki' / 'scheduler-generated'}",
            "--profiling=false",
            "--v=1",
        ]
        self.launch("kube-scheduler", sched, sched_port, f"https://127.0.0.1:{sched_port}/healthz", env)

        kwok_port = self.ports["kwok"]
        stages = resources.files("localcluster").joinpath("kwok_stages.yaml").read_text()
        kwok_config = self.run_dir / "kwok.yaml"
        kwok_config.write_text(stages)
        kwok_home = self.run_dir / "kwok-home"  # so that a ~/.kwok/kwok.yaml of the user is not read
        kwok_home.mkdir(exist_ok=True)
        kwok = [
            str(self.bins["kwok"]),
            f"--kubeconfig={kcs['kwok']}",
            f"--config={kwok_config}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1",
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{kwok_port}",
        ]
        self.launch(
            "kwok", kwok, kwok_port, f"http://127.0.0.1:{kwok_port}/healthz", env, {"HOME": str(kwok_home)}
        )

    # -- API objects

    def api(self, method: str, path: str, body: Any = None) -> _http.Response:
        return _http.request(method, self.server + path, context=self.admin_ctx, body=body)

    def create_nodes(self) -> None:
        for spec in self.nodes:
            resp = self.api("POST", "/api/v1/nodes", _node_object(spec))
            if resp.status not in (201, 409):
                raise StartError(f"creating node {spec.name}: HTTP {resp.status}: {resp.text[:500]}")
        self.say(f"created {len(self.nodes)} KWOK nodes")

    def wait_nodes_ready(self, deadline: float) -> None:
        want = {n.name for n in self.nodes}
        detail = ""
        while True:
            for name in ("kwok", "kube-controller-manager"):
                if not self.components[name].alive():
                    raise self.fail(name, "exited during start-up")
            resp = self.api("GET", "/api/v1/nodes")
            if resp.status == 200:
                not_ready = []
                for item in resp.json().get("items", []):
                    name = item["metadata"]["name"]
                    if name not in want:
                        continue
                    conds = {c["type"]: c["status"] for c in item.get("status", {}).get("conditions", [])}
                    taints = [t["key"] for t in item.get("spec", {}).get("taints", []) or []]
                    if conds.get("Ready") != "True" or taints:
                        not_ready.append(f"{name}(Ready={conds.get('Ready')}, taints={taints})")
                if not not_ready:
                    self.say("nodes Ready and untainted")
                    return
                detail = ", ".join(not_ready)
            else:
                detail = f"HTTP {resp.status}"
            if time.monotonic() > deadline:
                raise self.fail("kwok", f"nodes not Ready after {self.timeout:.0f}s: {detail}")
            time.sleep(0.2)

    def create_storage_class(self) -> None:
        """The reference's default StorageClass, provisioned by the controller-manager's hostPath plugin."""
        body = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/host-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        resp = self.api("POST", "/apis/storage.k8s.io/v1/storageclasses", body)
        if resp.status not in (201, 409):
            raise StartError(f"creating StorageClass {STORAGE_CLASS}: HTTP {resp.status}: {resp.text[:500]}")

    def wait_default_serviceaccount(self, deadline: float) -> None:
        while self.api("GET", "/api/v1/namespaces/default/serviceaccounts/default").status != 200:
            if time.monotonic() > deadline:
                raise self.fail("kube-controller-manager", "no default service account")
            time.sleep(0.2)

    # -- all of it

    def run(self) -> Cluster:
        env = dict(os.environ)
        env.pop("KUBECONFIG", None)
        deadline = time.monotonic() + self.timeout
        self.start_etcd(env)
        self.wait_healthy(["etcd"], deadline)
        self.start_apiserver(env)
        self.wait_healthy(["kube-apiserver"], deadline)
        self.start_controllers(env)
        self.create_nodes()
        self.create_storage_class()
        self.wait_healthy(["kube-controller-manager", "kube-scheduler", "kwok"], deadline)
        self.wait_nodes_ready(deadline)
        self.wait_default_serviceaccount(deadline)

        kubeconfig = self.run_dir / "kubeconfig"
        admin = self.pki.clients["admin"]
        _write_yaml(
            kubeconfig, _kubeconfig(self.server, self.pki.ca.cert, admin.cert, admin.key, "admin", True)
        )
        cluster = Cluster(
            run_dir=self.run_dir,
            server=self.server,
            kubeconfig=kubeconfig,
            components=self.components,
            ports=self.ports,
            nodes=[n.name for n in self.nodes],
            started_at=time.time(),
            startup_seconds=round(time.monotonic() - self.t0, 2),
        )
        _write_state(self.run_dir, cluster.to_json())
        self.say("ready")
        return cluster


def _live(state: Mapping[str, Any] | None) -> list[ComponentState]:
    if state is None:
        return []
    return [c for c in _components_of(state).values() if c.alive()]


def _clear_run_dir(run_dir: Path) -> None:
    """Empty a run directory of ours (keeping the lock file we hold)."""
    for child in run_dir.iterdir():
        if child.name == LOCK_FILE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def start(
    run_dir: Path | str | None = None,
    *,
    nodes: Sequence[NodeSpec] = DEFAULT_NODES,
    extra_args: Mapping[str, Sequence[str]] | None = None,
    progress: Progress | None = None,
    timeout: float = 120.0,
) -> Cluster:
    """Start a cluster in run_dir (default: `default_run_dir()`); return once it is usable.

    Refuses with AlreadyRunningError if a cluster recorded there still runs. On failure, stops whatever it
    started and raises StartError carrying the failing component's log tail (the logs stay in run_dir/logs).
    `extra_args` maps a component name (see COMPONENT_ORDER) to additional command-line flags."""
    run_dir = Path(run_dir).resolve() if run_dir is not None else default_run_dir()
    binaries(required=COMPONENT_ORDER)  # fail before touching run_dir when nothing is built
    foreign = not (run_dir / MARKER_FILE).exists() and not _state_path(run_dir).exists()
    if run_dir.exists() and any(run_dir.iterdir()) and foreign:
        raise LocalClusterError(f"{run_dir} exists, is not empty and is not a localcluster run directory")
    with _locked(run_dir):
        state = _read_state(run_dir)
        live = _live(state)
        if live:
            listing = ", ".join(f"{c.name} (pid {c.pid})" for c in live)
            raise AlreadyRunningError(
                f"a local cluster already runs from {run_dir}: {listing}; "
                "use `python -m localcluster down` (or `make cluster-down`) first"
            )
        say = progress or _noop
        if state is not None:
            say(f"the cluster recorded in {run_dir} no longer runs: starting afresh")
        for attempt in (1, 2):
            _clear_run_dir(run_dir)
            (run_dir / MARKER_FILE).write_text("localcluster run directory; removed by `localcluster down`\n")
            starter = _Starter(run_dir, nodes, extra_args or {}, say, timeout)
            try:
                return starter.run()
            except BaseException as exc:
                _stop_components(list(starter.components.values()), timeout=10.0)
                _procs.reap()
                with contextlib.suppress(FileNotFoundError):
                    _state_path(run_dir).unlink()
                # The free ports are chosen before the components bind them: another process may have
                # taken one in between. Retry once with new ports.
                if attempt == 1 and isinstance(exc, StartError) and "address already in use" in exc.log_tail:
                    say(f"{exc.component}: port taken meanwhile, starting again with other ports")
                    continue
                raise
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------- stop


def _stop_components(components: Sequence[ComponentState], timeout: float) -> None:
    by_name = {c.name: c for c in components}
    others = [n for n in by_name if n not in ("kube-apiserver", "etcd")]
    # Clients first (in parallel), then the apiserver, then etcd.
    for group in (others, ["kube-apiserver"], ["etcd"]):
        procs = [(by_name[n].pid, by_name[n].start_time) for n in group if n in by_name]
        if procs:
            _procs.terminate(procs, timeout=timeout)


def stop(run_dir: Path | str | None = None, *, timeout: float = 15.0, remove: bool = True) -> bool:
    """Stop exactly the processes recorded in run_dir and (by default) remove run_dir.

    Returns False if nothing was recorded there. A directory that is not a localcluster run directory is
    never removed."""
    run_dir = Path(run_dir).resolve() if run_dir is not None else default_run_dir()
    if not run_dir.exists():
        return False
    ours = (run_dir / MARKER_FILE).exists() or _state_path(run_dir).exists()
    if not ours:
        raise LocalClusterError(f"{run_dir} is not a localcluster run directory; not touching it")
    with _locked(run_dir):
        state = _read_state(run_dir)
        components = list(_components_of(state).values()) if state else []
        _stop_components(components, timeout)
        _procs.reap()
        still = [c for c in components if c.alive()]
        if still:
            raise LocalClusterError("could not stop: " + ", ".join(f"{c.name} (pid {c.pid})" for c in still))
        if remove:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                _state_path(run_dir).unlink()
    return state is not None


# --------------------------------------------------------------------------------------------- status


def status(run_dir: Path | str | None = None) -> list[ComponentStatus]:
    """One entry per recorded component: pid, alive?, port and its health endpoint's answer."""
    run_dir = Path(run_dir).resolve() if run_dir is not None else default_run_dir()
    _procs.reap()
    state = _read_state(run_dir)
    if state is None:
        return []
    pki = _pki.load(run_dir / "pki")
    admin_ctx: Any = None
    with contextlib.suppress(OSError):
        admin_ctx = _http.client_context(pki.ca.cert, pki.clients["admin"].cert, pki.clients["admin"].key)
    insecure = _http.insecure_context()
    out: list[ComponentStatus] = []
    for name in COMPONENT_ORDER:
        comp = _components_of(state).get(name)
        if comp is None:
            continue
        is_alive = comp.alive()
        healthy, detail = False, "not running"
        if is_alive:
            ctx = admin_ctx if name == "kube-apiserver" else insecure
            healthy, detail = _http.probe(comp.health_url, ctx)
        out.append(ComponentStatus(name, comp.pid, is_alive, comp.port, healthy, detail))
    return out
