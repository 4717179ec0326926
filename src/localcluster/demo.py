"""`make demo`: the quickstart, end to end, on the local control plane.

    python -m localcluster.demo              # control plane, chart, operator, example cluster, a table
    python -m localcluster.demo --stop       # stop the operator, MariaDB and Keystone the demo left running

1. start the local control plane in .cluster/ ($LOCALCLUSTER_DIR), or reuse the one running there;
2. `helm upgrade --install` charts/cloudpods-operator into namespace cloudpods-system (its pod lands on a
   KWOK node and never runs: the image is not needed);
3. start a throwaway MariaDB on 127.0.0.1 and a free port (the server the MySQL tests start; its datadir
   in ~/.cache/cloudpods-operator/demo/mariadb) and put its root password in Secret onecloud/demo-mysql;
   start a throwaway Keystone v3 server (OpenStack Keystone from PyPI, the server the keystone tests run,
   in ~/.cache/cloudpods-operator/demo/keystone); run the operator as a local process with
   `--mysql-address 127.0.0.1:<port>` and `--keystone-url http://127.0.0.1:<port>/v3`, authenticated as
   the chart's ServiceAccount (a TokenRequest token), so it has exactly the chart's RBAC;
4. apply examples/onecloudcluster.yaml in namespace onecloud (with spec.mysql.passwordSecret naming that
   Secret, so the operator creates every database and user); once the operator has written keystone's
   config, play keystone's first start (bootstrap `sysadmin` with its bootstrap_admin_user_password), so
   the operator registers every account, service and endpoint; wait for Ready=True, printing N/M
   components ready; then a table of the cluster's status and the next commands to type.

The operator, MariaDB and Keystone keep running in the background; their pids, logs and the operator's
kubeconfig live in ~/.cache/cloudpods-operator/demo/ ($CLOUDPODS_OPERATOR_CACHE), outside .cluster/, with
the run directory of the control plane they were started against (`cluster.json`): `--stop` stops all
three, and so does `python -m localcluster down` (`make cluster-down`) of that control plane, first, so no
demo operator is left holding :8080 against a dead API server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import _cluster, _keystone, _mariadb
from ._binaries import binaries, cache_root
from .errors import LocalClusterError

RELEASE = "cloudpods-operator"
RELEASE_NAMESPACE = "cloudpods-system"
CLUSTER_NAMESPACE = "onecloud"
FIELD_MANAGER = "cloudpods-demo"
GROUP, VERSION, PLURAL = "onecloud.yunion.io", "v1alpha1", "onecloudclusters"
TOKEN_SECONDS = 24 * 3600
MYSQL_SECRET, MYSQL_SECRET_KEY = "demo-mysql", "password"


class DemoError(Exception):
    """An expected failure: the message is the whole story (no traceback)."""


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "charts" / "cloudpods-operator").is_dir():
            return parent
    raise DemoError("cannot find the repository (charts/cloudpods-operator): run the demo from a checkout")


def state_dir() -> Path:
    return cache_root() / "demo"


def say(msg: str = "") -> None:
    print(msg, flush=True)


# ---- reusable pieces (the chart's integration test uses them too) ------------------------------------


async def service_account_token(
    admin_kubeconfig: Path, namespace: str, service_account: str, seconds: int = 3600
) -> str:
    """A bearer token for the ServiceAccount from TokenRequest (POST .../serviceaccounts/<sa>/token)."""
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio.config import new_client_from_config

    api = await new_client_from_config(config_file=str(admin_kubeconfig), persist_config=False)
    try:
        body = k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
        )
        issued = await k8s.CoreV1Api(api).create_namespaced_service_account_token(
            service_account, namespace, body
        )
    finally:
        await api.close()
    return str(issued.status.token)


def write_token_kubeconfig(admin_kubeconfig: Path, token: str, out: Path, user: str) -> Path:
    """A kubeconfig with the admin kubeconfig's server and CA, and the token as its only credential."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    context_name = admin.get("current-context")
    contexts = {c["name"]: c["context"] for c in admin.get("contexts") or []}
    clusters = {c["name"]: c["cluster"] for c in admin.get("clusters") or []}
    if context_name not in contexts or contexts[context_name].get("cluster") not in clusters:
        raise DemoError(f"{admin_kubeconfig}: no current context with a cluster")
    cluster = dict(clusters[contexts[context_name]["cluster"]])
    ca = cluster.get("certificate-authority")
    if ca and not Path(ca).is_absolute():  # relative to the file it was read from
        cluster["certificate-authority"] = str((admin_kubeconfig.parent / ca).resolve())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "cluster", "user": user}}],
        "current-context": user,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    return out


def example_manifest(namespace: str, path: Path | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(
        (path or repo_root() / "examples" / "onecloudcluster.yaml").read_text()
    )
    doc["metadata"]["namespace"] = namespace
    return doc


def component_rows(status: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(component, kind, object, image, ready x/y, phase) for each component in a cluster's status."""
    rows = []
    for name, comp in sorted((status.get("components") or {}).items()):
        rows.append(
            (
                name,
                str(comp.get("kind", "")),
                str(comp.get("name", "")),
                str(comp.get("image", "")),
                f"{comp.get('ready', 0)}/{comp.get('desired', 0)}",
                str(comp.get("phase", "")),
            )
        )
    return rows


def format_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in table)


def ready_counts(status: dict[str, Any]) -> tuple[int, int]:
    comps = (status.get("components") or {}).values()
    return sum(1 for c in comps if c.get("phase") == "Normal"), len(comps)


def is_ready(obj: dict[str, Any]) -> bool:
    """Ready=True for the cluster's current generation."""
    cond = condition(obj.get("status") or {}, "Ready")
    return cond.get("status") == "True" and cond.get("observedGeneration") == obj["metadata"].get(
        "generation"
    )


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


# ---- steps ---------------------------------------------------------------------------------------


def ensure_control_plane(run_dir: Path) -> _cluster.Cluster:
    rows = _cluster.status(run_dir)
    if rows:
        down = [r.name for r in rows if not (r.alive and r.healthy)]
        cluster = _cluster.load(run_dir)
        if down or cluster is None:
            raise DemoError(
                f"the local control plane in {run_dir} is partly down ({', '.join(down) or 'no state'}): "
                "`make cluster-down`, then run the demo again"
            )
        say(f"reusing the local control plane at {cluster.server} ({run_dir})")
        return cluster
    say(f"starting the local control plane in {run_dir} ...")
    try:
        cluster = _cluster.start(run_dir, progress=lambda m: say(f"  {m}"))
    except LocalClusterError as exc:
        raise DemoError(f"the local control plane did not start: {exc}") from exc
    say(f"local control plane up in {cluster.startup_seconds:.1f}s at {cluster.server}")
    return cluster


def helm_install(kubeconfig: Path, chart: Path, state: Path) -> None:
    try:
        helm = binaries(required=("helm",))["helm"]
    except LocalClusterError as exc:
        raise DemoError(str(exc)) from exc
    cmd = [
        str(helm),
        "upgrade",
        "--install",
        RELEASE,
        str(chart),
        "--namespace",
        RELEASE_NAMESPACE,
        "--create-namespace",
        "--kubeconfig",
        str(kubeconfig),
        # The chart's pod is scheduled on a KWOK node, which never pulls or runs it; the operator
        # runs locally below, with the chart's ServiceAccount and RBAC.
        "--set",
        "image.repository=cloudpods-operator-not-pulled-on-kwok",
        "--timeout",
        "120s",
    ]
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(state / "helm" / "cache"),
        "HELM_CONFIG_HOME": str(state / "helm" / "config"),
        "HELM_DATA_HOME": str(state / "helm" / "data"),
    }
    say(f"helm upgrade --install {RELEASE} charts/cloudpods-operator -n {RELEASE_NAMESPACE}")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DemoError("helm did not finish within 180s") from exc
    if done.returncode != 0:
        raise DemoError(
            f"helm failed (exit {done.returncode}):\n{done.stderr.strip() or done.stdout.strip()}"
        )
    status = next((ln for ln in done.stdout.splitlines() if ln.startswith("STATUS:")), "")
    say(f"  {status or 'installed'}")


def service_account_name() -> str:
    # The chart's fullname: the release name already contains the chart name.
    return RELEASE


@dataclass
class OperatorState:
    pid: int
    log: str
    kubeconfig: str
    metrics_port: int
    health_port: int
    started: float

    @classmethod
    def load(cls, path: Path) -> OperatorState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def _is_our_operator(pid: int) -> bool:
    """The pid runs `cloudpods-operator run` (never signal a pid a reboot or another program reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True  # no /proc (macOS): the pid file is all there is
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    zombie = bool(stat) and stat[stat.rindex(")") + 2] in "ZX"
    return not zombie and any(a.endswith(b"cloudpods-operator") for a in args) and b"run" in args


def stop_operator(state: Path, quiet: bool = False) -> bool:
    """SIGTERM the demo's operator and wait for it; True if one was running."""
    path = state / "operator.json"
    info = OperatorState.load(path)
    if info is None or not _is_our_operator(info.pid):
        path.unlink(missing_ok=True)
        if not quiet:
            say("no demo operator is running")
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _is_our_operator(info.pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.pid, os.WNOHANG)
        time.sleep(0.1)
    if _is_our_operator(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    if not quiet:
        say(f"stopped the demo operator (pid {info.pid}); its log stays at {info.log}")
    return True


def _port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0


def start_mariadb(state: Path) -> _mariadb.Server:
    say("starting MariaDB (mariadb-install-db, mariadbd on 127.0.0.1) ...")
    started = time.monotonic()
    try:
        server = _mariadb.start(state / "mariadb")
    except (LocalClusterError, OSError, subprocess.SubprocessError) as exc:
        raise DemoError(f"MariaDB did not start: {exc}") from exc
    say(f"MariaDB running at {server.address} (pid {server.pid}) in {time.monotonic() - started:.1f}s")
    return server


def start_keystone(state: Path) -> _keystone.Server:
    say("starting Keystone (OpenStack Keystone from PyPI: db_sync, fernet keys, v3 on 127.0.0.1) ...")
    started = time.monotonic()
    try:
        server = _keystone.start(state / "keystone")
    except (LocalClusterError, OSError, subprocess.SubprocessError) as exc:
        raise DemoError(f"Keystone did not start: {exc}") from exc
    say(f"Keystone running at {server.url} (pid {server.pid}) in {time.monotonic() - started:.1f}s")
    return server


def _cluster_record(state: Path) -> Path:
    return state / "cluster.json"


def record_cluster(state: Path, run_dir: Path) -> None:
    """Note which control plane the demo's processes serve: its `down` stops them too."""
    _cluster_record(state).write_text(json.dumps({"run_dir": str(run_dir.resolve())}))


def serves(state: Path, run_dir: Path) -> bool:
    """True when the demo processes recorded in ``state`` were started against the control plane in
    ``run_dir``: by the record, or (a demo started before the record existed) when the operator's
    kubeconfig names that control plane's server."""
    try:
        return bool(json.loads(_cluster_record(state).read_text())["run_dir"] == str(run_dir.resolve()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    info = OperatorState.load(state / "operator.json")
    cluster = _cluster.load(run_dir)
    if info is None or cluster is None:
        return False
    try:
        config = yaml.safe_load(Path(info.kubeconfig).read_text())
        servers = {c["cluster"]["server"] for c in config.get("clusters") or []}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return False
    return cluster.server in servers


def stop_for_cluster(run_dir: Path, quiet: bool = False) -> bool:
    """`down` of ``run_dir``: stop the demo's operator, MariaDB and Keystone if they serve that control
    plane (True if any was running); a demo of another run directory is left alone."""
    state = state_dir()
    if not serves(state, run_dir):
        return False
    stopped = stop_all(state, quiet)
    _cluster_record(state).unlink(missing_ok=True)
    return stopped


def stop_all(state: Path, quiet: bool = False) -> bool:
    """Stop the demo's operator, then its MariaDB and Keystone; True if any was running."""
    had_operator = stop_operator(state, quiet)
    server = _mariadb.stop(state / "mariadb")
    if server is not None and not quiet:
        say(f"stopped the demo MariaDB (pid {server.pid}); its log stays at {server.log}")
    root = state / "keystone"
    keystone = _keystone.load(root)
    was_running = keystone is not None and _keystone.running(keystone)
    _keystone.stop(root)
    if was_running and keystone is not None and not quiet:
        say(f"stopped the demo Keystone (pid {keystone.pid}); its access log stays at {keystone.access_log}")
    return had_operator or server is not None or was_running


def start_operator(
    kubeconfig: Path, state: Path, mysql_address: str, keystone_url: str, timeout: float = 60.0
) -> OperatorState:
    binary = Path(sys.executable).parent / "cloudpods-operator"
    if not binary.exists():
        raise DemoError(f"{binary} not found: `make install` installs the project into .venv")
    metrics_port = _port(8080)
    health_port = _port(8081 if metrics_port != 8081 else 8082)
    log = state / "operator.log"
    args = [
        str(binary),
        "run",
        "--kubeconfig",
        str(kubeconfig),
        "--log-format",
        "json",
        "--metrics-address",
        f"127.0.0.1:{metrics_port}",
        "--health-address",
        f"127.0.0.1:{health_port}",
        "--identity",
        f"demo-{socket.gethostname()}",
        # The demo's MariaDB, instead of the example's spec.mysql.host (a Service no KWOK node runs).
        "--mysql-address",
        mysql_address,
        # The demo's Keystone, instead of <cluster>-keystone.<namespace>.svc (a pod KWOK never runs).
        "--keystone-url",
        keystone_url,
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    info = OperatorState(proc.pid, str(log), str(kubeconfig), metrics_port, health_port, time.time())
    (state / "operator.json").write_text(json.dumps(info.__dict__))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise DemoError(f"the operator exited with {proc.returncode}; last lines of {log}:\n{tail}")
        if _http_status(f"http://127.0.0.1:{health_port}/readyz") == 200:
            say(f"operator running (pid {proc.pid}), caches synced")
            return info
        time.sleep(0.2)
    raise DemoError(f"the operator did not become ready within {timeout:.0f}s: see {log}")


async def _prepare(admin: Path, state: Path, mysql_password: str) -> Path:
    """Namespace onecloud, the Secret of MySQL's root password and a kubeconfig holding a token of the
    chart's ServiceAccount."""
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio.config import new_client_from_config

    api = await new_client_from_config(config_file=str(admin), persist_config=False)
    try:
        core = k8s.CoreV1Api(api)
        try:
            await core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=CLUSTER_NAMESPACE)))
            say(f"created namespace {CLUSTER_NAMESPACE}")
        except k8s.ApiException as exc:
            if exc.status != 409:
                raise
        secret = k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=MYSQL_SECRET, namespace=CLUSTER_NAMESPACE),
            string_data={MYSQL_SECRET_KEY: mysql_password},
        )
        try:
            await core.create_namespaced_secret(CLUSTER_NAMESPACE, secret)
        except k8s.ApiException as exc:
            if exc.status != 409:
                raise
            await core.replace_namespaced_secret(MYSQL_SECRET, CLUSTER_NAMESPACE, secret)
        say(f"Secret {CLUSTER_NAMESPACE}/{MYSQL_SECRET} holds MySQL's root password")
    finally:
        await api.close()
    token = await service_account_token(admin, RELEASE_NAMESPACE, service_account_name(), TOKEN_SECONDS)
    user = f"system:serviceaccount:{RELEASE_NAMESPACE}:{service_account_name()}"
    path = write_token_kubeconfig(admin, token, state / "operator.kubeconfig", user)
    say(
        f"operator credentials: ServiceAccount {RELEASE_NAMESPACE}/{service_account_name()} (token valid 24h)"
    )
    return path


def _reconciled(metrics_port: int, cluster: str) -> bool:
    """The operator started by this demo has finished a successful pass over the cluster (so its status,
    database included, is this run's and not one a previous demo's operator left)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as resp:
            text = resp.read().decode(errors="replace")
    except OSError:
        return False
    labels = f'cluster="{cluster}"'
    gauge = "cloudpods_operator_cluster_last_success_timestamp_seconds{"  # set once a pass over it succeeded
    return any(line.startswith(gauge) and labels in line for line in text.splitlines())


async def _bootstrap_keystone(kube: Any, keystone: _keystone.Server, cluster: str) -> bool:
    """Keystone's first start, once the operator wrote its config: True when bootstrapped."""
    import base64

    from cloudpods_operator import errors
    from cloudpods_operator.kinds import RESOURCES

    try:
        secret = await kube.get(RESOURCES["Secret"], CLUSTER_NAMESPACE, f"{cluster}-keystone-config")
    except errors.NotFound:
        return False
    config = json.loads(base64.b64decode(secret["data"]["config"]))
    await asyncio.to_thread(_keystone.bootstrap, keystone, str(config["bootstrap_admin_user_password"]))
    say(f"  keystone's first start: bootstrapped sysadmin from {cluster}-keystone-config")
    return True


async def _apply_and_wait(
    admin: Path, example: Path, wait_seconds: float, metrics_port: int, keystone: _keystone.Server
) -> dict[str, Any]:
    """Server-side apply the example (as `kubectl apply --server-side` would), bootstrap keystone once its
    config exists, then poll the status until Ready after a pass of this demo's operator."""
    from cloudpods_operator import errors
    from cloudpods_operator.kinds import RESOURCES
    from cloudpods_operator.kube.client import Kube

    body = example_manifest(CLUSTER_NAMESPACE, example)
    body["spec"].setdefault("mysql", {})["passwordSecret"] = {"name": MYSQL_SECRET, "key": MYSQL_SECRET_KEY}
    name = body["metadata"]["name"]
    kube = await Kube.connect(str(admin))
    try:
        deadline = time.monotonic() + 30
        while True:  # the CRD may still be getting Established right after helm installed it
            try:
                await kube.apply(body, field_manager=FIELD_MANAGER)
                break
            except errors.NotFound:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        say(f"applied {example.name} as {CLUSTER_NAMESPACE}/{name}; waiting for Ready ({wait_seconds:.0f}s)")
        started = time.monotonic()
        last = ""
        obj: dict[str, Any] = {}
        tty = sys.stdout.isatty()
        bootstrapped = False
        while True:
            if not bootstrapped:
                bootstrapped = await _bootstrap_keystone(kube, keystone, name)
            obj = await kube.get(RESOURCES["OnecloudCluster"], CLUSTER_NAMESPACE, name)
            status = obj.get("status") or {}
            ready, total = ready_counts(status)
            done = is_ready(obj) and _reconciled(metrics_port, f"{CLUSTER_NAMESPACE}/{name}")
            if not total:
                line = "  waiting for the operator's first status"
            elif done:
                line = f"  {ready}/{total} components ready, Ready=True"
            else:
                line = f"  {ready}/{total} components ready"
            if line != last:
                elapsed = time.monotonic() - started
                if tty:
                    print(f"\r{line}  [{elapsed:4.0f}s]", end="", flush=True)
                else:
                    say(f"{line}  [{elapsed:.0f}s]")
                last = line
            if done or time.monotonic() - started > wait_seconds:
                break
            await asyncio.sleep(1.0)
        if tty:
            print(flush=True)
        return obj
    finally:
        await kube.close()


@contextlib.contextmanager
def _api_errors(what: str) -> Iterator[None]:
    """API and connection failures become one readable line (the API server's own message)."""
    from aiohttp import ClientError
    from kubernetes_asyncio.client import ApiException

    from cloudpods_operator import errors

    try:
        yield
    except ApiException as exc:
        raw = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body)
        detail = raw
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            detail = str(json.loads(raw).get("message", raw))
        raise DemoError(f"{what}: {exc.status} {exc.reason}: {detail}") from exc
    except errors.OperatorError as exc:
        raise DemoError(f"{what}: {exc}") from exc
    except (ClientError, OSError) as exc:
        raise DemoError(f"{what}: {type(exc).__name__}: {exc}") from exc


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run(timeout: float) -> int:
    root = repo_root()
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    run_dir = _cluster.default_run_dir()
    cluster = ensure_control_plane(run_dir)
    admin = cluster.kubeconfig
    helm_install(admin, root / "charts" / "cloudpods-operator", state)
    if stop_all(state, quiet=True):
        say("stopped what a previous demo left running (operator, MariaDB, Keystone)")
    record_cluster(state, run_dir)
    mysql = start_mariadb(state)
    keystone = start_keystone(state)
    with _api_errors("preparing the namespace, the MySQL Secret and the operator's token"):
        sa_kubeconfig = asyncio.run(_prepare(admin, state, mysql.root_password))
    info = start_operator(sa_kubeconfig, state, mysql.address, keystone.url)
    example = root / "examples" / "onecloudcluster.yaml"
    try:
        with _api_errors(f"applying {_relative(example)}"):
            obj = asyncio.run(_apply_and_wait(admin, example, timeout, info.metrics_port, keystone))
    except KeyboardInterrupt:
        say(
            f"\ninterrupted; the operator (pid {info.pid}), MariaDB (pid {mysql.pid}) and Keystone "
            f"(pid {keystone.pid}) keep running: "
            "python -m localcluster.demo --stop"
        )
        return 130
    status = obj.get("status") or {}
    say()
    header = ("COMPONENT", "KIND", "OBJECT", "IMAGE", "READY", "PHASE")
    say(format_table(component_rows(status), header))
    ready_cond = condition(status, "Ready")
    ok = is_ready(obj)
    cluster_ref = f"OnecloudCluster {CLUSTER_NAMESPACE}/{obj['metadata']['name']}"
    ready, total = ready_counts(status)
    say()
    if ok:
        say(f"{cluster_ref} is Ready: {ready}/{total} components")
    else:
        say(
            f"{cluster_ref} is not Ready after {timeout:.0f}s ({ready}/{total} components ready): "
            f"{ready_cond.get('reason', 'no status yet')}: {ready_cond.get('message', '')}"
        )
        say(f"  the operator's log: {info.log}")
    say(f"databases (status.database): {status.get('database', 'no status yet')}, MySQL at {mysql.address}")
    say(
        f"keystone (status.keystoneRegistration): {status.get('keystoneRegistration', 'no status yet')},"
        f" Keystone at {keystone.url}"
    )
    kubeconfig = _relative(admin)
    say(
        "\nNext:\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  kubectl get oc -n {CLUSTER_NAMESPACE}\n"
        f"  kubectl edit oc -n {CLUSTER_NAMESPACE} {obj['metadata']['name']}\n"
        f"  cloudpods-operator plan -f {_relative(example)}\n"
        "  python -m localcluster.demo --stop      # stop the operator, MariaDB and Keystone\n"
        "  make cluster-down                       # stop all three and the local control plane\n"
        f"\nThe operator keeps running in the background: pid {info.pid}\n"
        f"  log      {info.log}\n"
        f"  metrics  http://127.0.0.1:{info.metrics_port}/metrics\n"
        f"MariaDB keeps running in the background: pid {mysql.pid}, {mysql.address}, user root\n"
        f"  log      {mysql.log}\n"
        f"  password kubectl get secret -n {CLUSTER_NAMESPACE} {MYSQL_SECRET}"
        f" -o jsonpath='{{.data.{MYSQL_SECRET_KEY}}}' | base64 -d\n"
        f"Keystone keeps running in the background: pid {keystone.pid}, {keystone.url}, user sysadmin\n"
        f"  requests {keystone.access_log}\n"
        "  stop all   python -m localcluster.demo --stop"
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stop",
        action="store_true",
        help="stop the operator, MariaDB and Keystone a previous demo left running",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for Ready (default 300)"
    )
    args = parser.parse_args(argv)
    try:
        if args.stop:
            stop_all(state_dir())
            _cluster_record(state_dir()).unlink(missing_ok=True)
            return 0
        return run(args.timeout)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
