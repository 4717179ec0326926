"""The HTTP edge against the real API server: credentials, identity on writes, proxies and TLS names.

Exec-plugin credentials come from tests/integration/exec_credential.py (a real plugin, run by the
client) printing tokens from the API server's ``--token-auth-file``; who the server thinks we are is
read back from a SelfSubjectReview.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudpods_operator import errors
from cloudpods_operator.kinds import RESOURCES
from cloudpods_operator.kube import client as kube_client
from cloudpods_operator.kube.client import Kube
from cloudpods_operator.kube.events import Recorder
from cloudpods_operator.kube.lease import LeaderElector

from . import conftest
from .helpers import eventually
from .tcpproxy import api_address, kubeconfig_via, proxied

pytestmark = pytest.mark.integration

EXEC_PLUGIN = Path(__file__).with_name("exec_credential.py")


def _tokens(kube: conftest.Kube) -> dict[str, str]:
    if kube.cluster is None:
        pytest.fail("static tokens need the project's local control plane", pytrace=False)
    return kube.cluster.static_tokens()


def _exec_kubeconfig(kube: conftest.Kube, tmp_path: Path, plan: list[dict[str, Any]]) -> tuple[Path, Path]:
    """A kubeconfig whose user is the exec plugin handing out ``plan``; (kubeconfig, plan file)."""
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    doc = yaml.safe_load(kube.kubeconfig.read_text())
    doc["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(EXEC_PLUGIN), str(plan_file)],
            "interactiveMode": "Never",
        }
    }
    path = tmp_path / "exec.kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path, plan_file


def _runs(plan_file: Path) -> int:
    runs = Path(str(plan_file) + ".runs")
    return len(runs.read_text().splitlines()) if runs.exists() else 0


async def _whoami(client: Kube) -> str:
    review = await client.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    return str(review["status"]["userInfo"]["username"])


async def test_an_expiring_exec_token_is_refreshed_and_the_kubeconfig_is_never_written(
    kube: conftest.Kube, tmp_path: Path
) -> None:
    tokens = _tokens(kube)
    plan = [{"token": tokens["token-a"], "ttl": 12}, {"token": tokens["token-b"], "ttl": 3600}]
    kubeconfig, plan_file = _exec_kubeconfig(kube, tmp_path, plan)
    before = kubeconfig.read_bytes()
    client = await Kube.connect(str(kubeconfig))
    try:
        assert await _whoami(client) == "token-a"
        assert _runs(plan_file) == 1
        # 12 s of validity, refreshed 10 s before the end: within a few seconds the plugin runs again.
        await eventually(_is(client, "token-b"), timeout=30, interval=0.5)
        assert _runs(plan_file) == 2
        for _ in range(5):  # a token with an hour left is not fetched again
            assert await _whoami(client) == "token-b"
        assert _runs(plan_file) == 2
    finally:
        await client.close()
    assert kubeconfig.read_bytes() == before


def _is(client: Kube, user: str) -> Any:
    async def check() -> bool:
        return await _whoami(client) == user

    return check


async def test_a_rejected_token_is_fetched_again_once(kube: conftest.Kube, tmp_path: Path) -> None:
    tokens = _tokens(kube)
    plan = [{"token": "revoked-token", "ttl": None}, {"token": tokens["token-a"], "ttl": None}]
    kubeconfig, plan_file = _exec_kubeconfig(kube, tmp_path, plan)
    client = await Kube.connect(str(kubeconfig))
    try:
        assert await _whoami(client) == "token-a", "a 401 runs the plugin again and retries once"
        assert await _whoami(client) == "token-a"
        assert _runs(plan_file) == 2
    finally:
        await client.close()
    stuck = [{"token": "revoked-token", "ttl": None}]
    (tmp_path / "stuck").mkdir()
    kubeconfig, plan_file = _exec_kubeconfig(kube, tmp_path / "stuck", stuck)
    client = await Kube.connect(str(kubeconfig))
    try:
        with pytest.raises(errors.ApiError) as caught:
            await _whoami(client)
        assert caught.value.status == 401
        assert _runs(plan_file) == 2, "fetched once more after the 401, then given up: no loop"
    finally:
        await client.close()


def _managers(obj: dict[str, Any]) -> set[str]:
    return {str(entry["manager"]) for entry in obj["metadata"].get("managedFields", [])}


async def test_every_write_names_its_field_manager_and_user_agent(
    kube: conftest.Kube, namespace: str
) -> None:
    client = await Kube.connect(str(kube.kubeconfig))
    try:
        elector = LeaderElector(client, namespace=namespace, name="lease", identity="me")
        await elector.acquire()  # creates the Lease
        await elector.acquire()  # renews it: a PUT
        lease = await client.get(RESOURCES["Lease"], namespace, "lease")
        assert _managers(lease) == {"cloudpods-operator-lease"}
        cluster = {"metadata": {"namespace": namespace, "name": "c", "uid": "u"}}
        await Recorder(client, "test").emit(cluster, "Normal", "Tested", "Test", "a note")
        events = await client.list(RESOURCES["Event"], namespace)
        assert [_managers(e) for e in events["items"]] == [{"cloudpods-operator"}]
        # A write without fieldManager is attributed to the User-Agent's product.
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ua"}, "data": {"k": "v"}}
        made = await client.request("POST", RESOURCES["ConfigMap"].path(namespace), body=body)
        assert _managers(made) == {"cloudpods-operator"}
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("tls_server_name", "works"),
    [
        ("kubernetes.default.svc", True),  # in the serving cert's SANs; 127.0.0.2 is not
        (None, False),  # checked against 127.0.0.2
        ("elsewhere.example", False),  # checked against that name, not skipped
    ],
)
async def test_tls_server_name_is_sent_and_checked(
    kube: conftest.Kube, tmp_path: Path, tls_server_name: str | None, works: bool
) -> None:
    with proxied(*api_address(kube.kubeconfig), listen_host="127.0.0.2") as proxy:
        extra = {"tls-server-name": tls_server_name} if tls_server_name else {}
        kubeconfig = kubeconfig_via(
            kube.kubeconfig, tmp_path / "kc", f"https://127.0.0.2:{proxy.port}", **extra
        )
        client = await Kube.connect(str(kubeconfig))
        try:
            if works:
                assert (await client.request("GET", "/api/v1/namespaces/default"))["metadata"][
                    "name"
                ] == "default"
            else:
                with pytest.raises(errors.TransientError, match=r"certificate|hostname|match"):
                    await client.request("GET", "/api/v1/namespaces/default")
        finally:
            await client.close()


@pytest.mark.parametrize(
    ("proxy_url", "env", "tunnelled"),
    [
        (True, {}, True),  # the kubeconfig's proxy-url
        (False, {"HTTPS_PROXY": "PROXY"}, True),  # the environment's
        (False, {"HTTPS_PROXY": "PROXY", "NO_PROXY": "127.0.0.1"}, False),  # ... except where NO_PROXY says
        (True, {"HTTPS_PROXY": "http://127.0.0.1:9"}, True),  # proxy-url wins over the environment
    ],
)
async def test_proxies_are_honoured(
    kube: conftest.Kube,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    proxy_url: bool,
    env: dict[str, str],
    tunnelled: bool,
) -> None:
    host, port = api_address(kube.kubeconfig)
    with proxied(host, port, connect=True) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, url if value == "PROXY" else value)
        extra = {"proxy-url": url} if proxy_url else {}
        kubeconfig = kubeconfig_via(kube.kubeconfig, tmp_path / "kc", **extra)
        client = await Kube.connect(str(kubeconfig))
        try:
            assert (await client.request("GET", "/api/v1/namespaces/default"))["metadata"][
                "name"
            ] == "default"
        finally:
            await client.close()
        assert proxy.tunnels == ([f"{host}:{port}"] if tunnelled else [])


async def test_write_connections_outlive_a_quiet_spell(
    kube: conftest.Kube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst after a quiet spell reuses the last burst's connections. The spell lasts until a client
    with aiohttp's default keep-alive (15 s: a version bump then paid 32 TLS handshakes before its
    applies) has seen its own idle connections closed; ours are still open and the proxy accepts no more."""
    host, port = api_address(kube.kubeconfig)
    with proxied(host, port) as ours, proxied(host, port) as default:
        clients = []
        for proxy, name in ((ours, "ours"), (default, "default")):
            server = f"https://127.0.0.1:{proxy.port}"
            clients.append(await Kube.connect(str(kubeconfig_via(kube.kubeconfig, tmp_path / name, server))))
        client, control = clients
        try:

            async def burst(on: Kube) -> None:
                await asyncio.gather(*(on.request("GET", "/version") for _ in range(8)))

            await burst(client)
            opened = ours.accepted
            assert opened >= 2, opened
            with monkeypatch.context() as patch:  # the control's session is made at its first request
                patch.setattr(kube_client, "KEEPALIVE", 15.0)  # aiohttp's default keepalive_timeout
                await burst(control)
            assert default.open_connections >= 2, default.open_connections
            await eventually(lambda: default.open_connections == 0, timeout=40, interval=0.5)
            assert ours.open_connections == opened, "our idle connections were closed"
            await burst(client)
            assert ours.accepted == opened, f"{ours.accepted - opened} connections opened after the quiet"
        finally:
            for each in clients:
                await each.close()
