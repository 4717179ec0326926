"""A TCP forwarder in front of the real API server, to break a client's connections for real.

It runs its own event loop in a thread, so a test that blocks (waiting on a subprocess) does not stall
it. ``drop()`` resets every open connection, ``freeze()`` keeps them open but forwards nothing (a hung
network path: requests neither fail nor answer), ``refuse(True)`` closes new connections at once.
With ``connect=True`` it is an HTTP CONNECT proxy instead (each tunnel's target is in ``tunnels``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml


class TcpProxy:
    """Forwards ``listen_host``:port to ``target_host``:``target_port``; ``port`` is chosen when started."""

    def __init__(
        self, target_host: str, target_port: int, listen_host: str = "127.0.0.1", *, connect: bool = False
    ) -> None:
        self.target = (target_host, target_port)
        self.connect = connect
        self.tunnels: list[str] = []
        self.listen_host = listen_host
        self.port = 0
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._refusing = False

    def start(self) -> TcpProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, self.listen_host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.transport.abort()
            return
        self.accepted += 1
        target = self.target
        if self.connect:
            head = await reader.readuntil(b"\r\n\r\n")
            method, authority, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
                writer.transport.abort()
                return
            self.tunnels.append(authority)
            host, _, port = authority.rpartition(":")
            target = (host.strip("[]"), int(port))
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.transport.abort()
            return
        if self.connect:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    @property
    def open_connections(self) -> int:
        """Client connections forwarded now (each holds two streams: the client's and the upstream's)."""
        return len(self._writers) // 2

    def _call(self, fn: object) -> None:
        async def run() -> None:
            assert callable(fn)
            fn()

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def drop(self) -> None:
        """Reset every open connection (both sides see the TCP connection die)."""

        def abort() -> None:
            for writer in list(self._writers):
                writer.transport.abort()

        self._call(abort)

    def freeze(self) -> None:
        """Forward nothing more, in either direction, on any connection; nothing is closed."""
        self._call(self._flowing.clear)

    def thaw(self) -> None:
        self._call(self._flowing.set)

    def refuse(self, on: bool) -> None:
        """While on, new connections are closed as soon as they are accepted."""

        def setter() -> None:
            self._refusing = on

        self._call(setter)

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextlib.contextmanager
def proxied(
    target_host: str, target_port: int, listen_host: str = "127.0.0.1", *, connect: bool = False
) -> Iterator[TcpProxy]:
    """A started proxy, closed on exit."""
    proxy = TcpProxy(target_host, target_port, listen_host, connect=connect).start()
    try:
        yield proxy
    finally:
        proxy.close()


def kubeconfig_via(source: Path, target: Path, server: str | None = None, **cluster: Any) -> Path:
    """A copy of kubeconfig ``source`` whose cluster is reached at ``server`` (a proxy), with extra keys."""
    doc = yaml.safe_load(source.read_text())
    if server is not None:
        cluster["server"] = server
    doc["clusters"][0]["cluster"].update(cluster)
    target.write_text(yaml.safe_dump(doc))
    return target


def api_address(kubeconfig: Path) -> tuple[str, int]:
    """(host, port) of the kubeconfig's API server."""
    doc = yaml.safe_load(kubeconfig.read_text())
    url = urlsplit(doc["clusters"][0]["cluster"]["server"])
    return str(url.hostname), int(url.port or 443)
