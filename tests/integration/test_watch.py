"""The operator's own list-then-watch and HTTP layer against the real API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from cloudpods_operator import errors
from cloudpods_operator.cache import Cache
from cloudpods_operator.kinds import JSON, RESOURCES
from cloudpods_operator.kube import watch
from cloudpods_operator.kube.client import Kube

from . import conftest
from .helpers import eventually
from .tcpproxy import TcpProxy, api_address, kubeconfig_via, proxied

pytestmark = pytest.mark.integration


class Recorder(watch.Sink):
    """A watch sink that records what it is fed: each list's names, then each (event type, name)."""

    def __init__(self) -> None:
        self.lists: list[list[str]] = []
        self.events: list[tuple[str, str]] = []

    def listing(self, kind: str) -> watch.Listing:
        return _Names(self.lists)

    async def event(self, kind: str, event_type: str, obj: JSON) -> None:
        self.events.append((event_type, obj["metadata"]["name"]))


class _Names(watch.Listing):
    """One list's names, recorded when it is complete."""

    def __init__(self, lists: list[list[str]]) -> None:
        self.lists = lists
        self.names: list[str] = []

    def add(self, items: list[JSON]) -> None:
        self.names += [i["metadata"]["name"] for i in items]

    async def done(self) -> None:
        self.lists.append(sorted(self.names))


def _configmap(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"watched": "yes"}},
        "data": {"k": "v"},
    }


async def test_list_then_watch_sees_adds_changes_and_deletes(kube: conftest.Kube, namespace: str) -> None:
    client = await Kube.connect(str(kube.kubeconfig))
    sink = Recorder()
    synced = anyio.Event()
    spec = watch.WatchSpec(RESOURCES["ConfigMap"], namespace, "watched=yes")
    try:
        await client.apply(_configmap(namespace, "before"), field_manager="test")
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: watch.run_watch(client, spec, sink, on_synced=synced.set))
            await synced.wait()
            assert sink.lists == [["before"]]
            await client.apply(_configmap(namespace, "after"), field_manager="test")
            body = _configmap(namespace, "after")
            body["data"] = {"k": "changed"}
            await client.apply(body, field_manager="test")
            await client.delete(RESOURCES["ConfigMap"], namespace, "after")

            def seen() -> bool:
                return sink.events == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "after")]

            await eventually(seen, timeout=20)
            tg.cancel_scope.cancel()
    finally:
        await client.close()


@pytest.fixture
def proxy(kube: conftest.Kube) -> Any:
    with proxied(*api_address(kube.kubeconfig)) as running:
        yield running


async def test_a_dropped_watch_resumes_from_the_last_version_seen_without_a_relist(
    kube: conftest.Kube, namespace: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    """The connection is reset for real (by the proxy) after an event: no re-list, no replayed event."""
    via_proxy = kubeconfig_via(kube.kubeconfig, tmp_path / "kc", f"https://127.0.0.1:{proxy.port}")
    client = await Kube.connect(str(via_proxy))
    writer = await Kube.connect(str(kube.kubeconfig))
    sink = Recorder()
    synced = anyio.Event()
    restarts: list[str] = []
    spec = watch.WatchSpec(RESOURCES["ConfigMap"], namespace, "watched=yes")
    try:
        await writer.apply(_configmap(namespace, "a"), field_manager="test")
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: watch.run_watch(client, spec, sink, on_synced=synced.set, on_restart=restarts.append)
            )
            await synced.wait()
            await writer.apply(_configmap(namespace, "b"), field_manager="test")
            await eventually(lambda: sink.events == [("ADDED", "b")], timeout=20)
            connections = proxy.accepted
            proxy.drop()
            await eventually(lambda: restarts == ["error"] and proxy.accepted > connections, timeout=20)
            await writer.apply(_configmap(namespace, "c"), field_manager="test")
            await eventually(lambda: ("ADDED", "c") in sink.events, timeout=20)
            tg.cancel_scope.cancel()
        assert sink.lists == [["a"]], "a dropped connection must not re-list"
        assert sink.events == [("ADDED", "b"), ("ADDED", "c")], "nothing replayed after the reset"
    finally:
        await client.close()
        await writer.close()


def _second_apiserver(kube: conftest.Kube, name: str, args: list[str]) -> Any:
    """A second kube-apiserver on the same etcd, with ``args``, for the module; stopped after it."""
    if kube.cluster is None:
        pytest.fail("a second API server needs the project's local control plane", pytrace=False)
    server = kube.cluster.start_apiserver(name, args)
    try:
        yield server
    finally:
        kube.cluster.stop_component(name)


@pytest.fixture(scope="module")
def uncached_server(kube: conftest.Kube) -> Any:
    """A second kube-apiserver on the same etcd without a watch cache: an old resourceVersion is 410."""
    yield from _second_apiserver(kube, "kube-apiserver-uncached", ["--watch-cache=false"])


async def test_a_watch_that_missed_compacted_history_relists_and_loses_nothing(
    kube: conftest.Kube, namespace: str, uncached_server: str, tmp_path: Path
) -> None:
    """Cut off while objects change and etcd compacts, the watch resumes into a real 410 Gone: it lists
    again and the cache then holds exactly what the API server holds, at the same resourceVersions."""
    assert kube.cluster is not None
    host, _ = api_address(kube.kubeconfig)
    uncached_port = int(uncached_server.rsplit(":", 1)[1])
    cache = Cache(lambda key: None)
    synced: list[int] = []
    restarts: list[str] = []
    spec = watch.WatchSpec(RESOURCES["ConfigMap"], namespace, "watched=yes")
    with proxied(host, uncached_port) as proxy:
        via_proxy = kubeconfig_via(kube.kubeconfig, tmp_path / "kc", f"https://127.0.0.1:{proxy.port}")
        client = await Kube.connect(str(via_proxy))
        writer = await Kube.connect(str(kube.kubeconfig))

        def cached() -> dict[str, str]:
            objects = cache.objects.items()
            return {k[2]: c.resource_version for k, c in objects if k[0] == "ConfigMap" and k[1] == namespace}

        async def served() -> dict[str, str]:
            items = (await writer.list(RESOURCES["ConfigMap"], namespace, labelSelector="watched=yes"))[
                "items"
            ]
            return {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items}

        try:
            for name in ("a", "b", "c"):
                await writer.apply(_configmap(namespace, name), field_manager="test")
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    lambda: watch.run_watch(
                        client, spec, cache, on_synced=lambda: synced.append(1), on_restart=restarts.append
                    )
                )
                await eventually(lambda: synced == [1], timeout=20)
                await writer.apply(_configmap(namespace, "d"), field_manager="test")
                await eventually(lambda: "d" in cached(), timeout=20)
                proxy.refuse(True)
                proxy.drop()
                changed = _configmap(namespace, "a")
                changed["data"] = {"k": "changed"}
                await writer.apply(changed, field_manager="test")
                await writer.delete(RESOURCES["ConfigMap"], namespace, "b")
                await writer.apply(_configmap(namespace, "e"), field_manager="test")
                kube.cluster.compact_etcd()
                proxy.refuse(False)
                await eventually(lambda: "gone" in restarts, timeout=30)
                want = await served()
                await eventually(lambda: cached() == want, timeout=30)
                assert sorted(want) == ["a", "c", "d", "e"]
                await writer.apply(_configmap(namespace, "f"), field_manager="test")
                await eventually(lambda: "f" in cached(), timeout=20)  # and it watches on
                tg.cancel_scope.cancel()
            assert synced == [1, 1], "one list at the start, one after the 410"
        finally:
            await client.close()
            await writer.close()


@pytest.fixture(scope="module")
def no_watchlist_server(kube: conftest.Kube) -> Any:
    """A second kube-apiserver on the same etcd that refuses streamed lists (WatchList off)."""
    yield from _second_apiserver(kube, "kube-apiserver-nowatchlist", ["--feature-gates=WatchList=false"])


@pytest.mark.parametrize("server", ["streamed", "paged"])
async def test_a_list_is_streamed_where_the_server_can_and_paged_where_it_cannot(
    kube: conftest.Kube, namespace: str, no_watchlist_server: str, tmp_path: Path, server: str
) -> None:
    """A streamed list (the current objects as a watch's first events) needs no list request; a server
    without it gets the paged list; either way the cache holds every object and the watch goes on."""
    address = str(api_address(kube.kubeconfig)[0]), int(no_watchlist_server.rsplit(":", 1)[1])
    config = (
        kube.kubeconfig
        if server == "streamed"
        else kubeconfig_via(kube.kubeconfig, tmp_path / "kc", f"https://{address[0]}:{address[1]}")
    )
    client = await Kube.connect(str(config))
    writer = await Kube.connect(str(kube.kubeconfig))
    requests: list[str] = []
    client.counter.on_request = lambda method, status: requests.append(method)
    cache = Cache(lambda key: None)
    synced = anyio.Event()
    spec = watch.WatchSpec(RESOURCES["ConfigMap"], namespace, "watched=yes")

    def cached() -> set[str]:
        return {k[2] for k in cache.objects if k[0] == "ConfigMap" and k[1] == namespace}

    try:
        for name in ("a", "b", "c"):
            await writer.apply(_configmap(namespace, name), field_manager="test")
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: watch.run_watch(client, spec, cache, on_synced=synced.set))
            await synced.wait()
            assert cached() == {"a", "b", "c"}
            await writer.apply(_configmap(namespace, "d"), field_manager="test")
            await eventually(lambda: "d" in cached(), timeout=20)
            tg.cancel_scope.cancel()
        lists = requests.count("GET")
        assert (lists == 0) if server == "streamed" else (lists == 1), requests
    finally:
        await client.close()
        await writer.close()


async def test_api_errors_are_typed(kube: conftest.Kube, namespace: str) -> None:
    client = await Kube.connect(str(kube.kubeconfig))
    try:
        with pytest.raises(errors.NotFound):
            await client.get(RESOURCES["ConfigMap"], namespace, "nope")
        bad = _configmap(namespace, "Bad_Name")
        with pytest.raises(errors.Invalid):
            await client.apply(bad, field_manager="test")
        await client.apply(_configmap(namespace, "owned"), field_manager="a")
        other = _configmap(namespace, "owned")
        other["data"] = {"k": "other"}
        with pytest.raises(errors.Conflict):
            await client.request(
                "PATCH",
                RESOURCES["ConfigMap"].path(namespace, "owned"),
                query={"fieldManager": "b"},
                body=other,
                content_type="application/apply-patch+yaml",
            )
    finally:
        await client.close()
