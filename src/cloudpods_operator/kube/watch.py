"""List-then-watch, the way client-go's Reflector does it, without kubernetes_asyncio's ``Watch``.

List (with the label selector), hand the full set to the cache, then watch from the list's
resourceVersion with bookmarks. A 410 Gone (as an HTTP status or an ERROR event) means the
resourceVersion is too old: list again. Any other failure, or silence longer than the
inactivity deadline, reconnects from the last resourceVersion seen (an event's or a bookmark's, also
when the connection broke mid-stream), with backoff, so a reset neither replays events nor re-lists.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import anyio

from cloudpods_operator import errors
from cloudpods_operator.kinds import JSON, Resource
from cloudpods_operator.kube.client import Kube

log = logging.getLogger(__name__)

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
"""The annotation of the bookmark that ends a streamed list's current objects."""
PAGE_SIZE = 250
"""Objects per list page: each page is slimmed by the sink before the next is asked for, so this bounds
the transient memory of a (re-)list; a smaller page costs more round trips for little."""
INACTIVITY_SECONDS = 330.0
"""Longer than the server-side ``timeoutSeconds`` (240-300 s): an idle watch can go that long without a
bookmark (measured: 90 s cut healthy idle watches), so only a dead connection outlives this."""


@dataclass(frozen=True)
class WatchSpec:
    """One list+watch: a kind, optionally one namespace and a label selector."""

    resource: Resource
    namespace: str | None = None
    label_selector: str | None = None


class Listing(Protocol):
    """One (re-)list of a kind as it arrives, page by page."""

    def add(self, items: list[JSON]) -> None:
        """One page: the sink keeps what it needs of each object, so the page itself can go at once (a
        fleet's full Deployments with their managedFields are ~50 KiB each parsed, 130 MiB for 2,600)."""

    async def done(self) -> None:
        """The list is complete: it replaces what the sink held of the kind (a failed list changes
        nothing)."""


class Sink(Protocol):
    """What a watch feeds (the cache): a full replacement after each list, then single events."""

    def listing(self, kind: str) -> Listing:
        """Every object of ``kind`` the watch selects, after a (re-)list; anything else is gone."""

    async def event(self, kind: str, event_type: str, obj: JSON) -> None:
        """One change: ``ADDED``, ``MODIFIED`` or ``DELETED`` (bookmarks are not passed on)."""


async def run_watch(
    kube: Kube,
    spec: WatchSpec,
    sink: Sink,
    *,
    on_synced: Callable[[], None],
    on_restart: Callable[[str], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    optional: bool = False,
) -> None:
    """Runs until cancelled; never raises for API or network trouble.

    An ``optional`` watch that is Forbidden (RBAC left it out) stops quietly instead of retrying.
    """
    backoff = 0.2
    position = _Position()
    restart = on_restart or (lambda reason: None)
    while True:
        try:
            if position.version is None and position.streamed_list:
                try:
                    await _watch_once(kube, spec, sink, position, on_synced=on_synced)
                    backoff = 0.2
                    continue
                except errors.ApiError as exc:
                    if exc.status not in (400, 422):  # 400/422: an API server without WatchList
                        raise
                    log.info("watch %s: no streamed list (%s); listing in pages", spec.resource.plural, exc)
                    position.streamed_list = False
            if position.version is None:
                position.version = await _list(kube, spec, sink)
                on_synced()
            await _watch_once(kube, spec, sink, position)
            backoff = 0.2
        except errors.Forbidden as exc:
            if optional:
                log.warning("watch %s forbidden, going on without it: %s", spec.resource.plural, exc)
                return
            restart("error")
            log.warning("watch %s forbidden (%s); retrying in %.1fs", spec.resource.plural, exc, backoff)
            await sleep(backoff)
            backoff = min(backoff * 2, 30.0)
        except errors.Gone:
            log.info("watch %s: resourceVersion expired, listing again", spec.resource.plural)
            restart("gone")
            position.version = None
        except (errors.OperatorError, ValueError) as exc:
            restart("error")
            log.warning("watch %s failed (%s); retrying in %.1fs", spec.resource.plural, exc, backoff)
            await sleep(backoff + random.uniform(0, backoff / 2))
            # A missing resource (the CRD not installed yet) is worth checking often: it appears at once.
            backoff = min(backoff * 2, 2.0 if isinstance(exc, errors.NotFound) else 30.0)


@dataclass
class _Position:
    """The last resourceVersion seen; updated per event, so it survives a connection that breaks."""

    version: str | None = None
    streamed_list: bool = True
    """Whether to (re-)list by a watch that sends the current objects first (``sendInitialEvents``, the
    API server's WatchList, as client-go's reflector does): served from the watch cache as one stream, so
    the server encodes while we decode, and no page is ever held. Off after a server refuses it."""


async def _list(kube: Kube, spec: WatchSpec, sink: Sink) -> str:
    query: dict[str, str] = {}
    if spec.label_selector:
        query["labelSelector"] = spec.label_selector
    listing = sink.listing(spec.resource.kind)
    while True:
        page = await kube.list(spec.resource, spec.namespace, limit=str(PAGE_SIZE), **query)
        listing.add(page.pop("items", None) or [])
        token = page.get("metadata", {}).get("continue")
        if not token:
            break
        query["continue"] = token
    await listing.done()
    return str(page.get("metadata", {}).get("resourceVersion", ""))


async def _watch_once(
    kube: Kube,
    spec: WatchSpec,
    sink: Sink,
    position: _Position,
    *,
    on_synced: Callable[[], None] | None = None,
) -> None:
    """One watch connection from ``position``; with ``on_synced``, a streamed list first: every current
    object as an ADDED event, then a bookmark marking their end, then changes as any watch. Until that
    bookmark nothing counts (an interrupted streamed list starts over), after it the stream goes on as a
    watch from the bookmark's resourceVersion."""
    query = {
        "watch": "true",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(random.randint(240, 300)),
    }
    listing = None
    if on_synced is not None:
        query.update(sendInitialEvents="true", resourceVersionMatch="NotOlderThan")
        listing = sink.listing(spec.resource.kind)
    else:
        query["resourceVersion"] = str(position.version)
    if spec.label_selector:
        query["labelSelector"] = spec.label_selector
    async for event in kube.stream(spec.resource, spec.namespace, query, inactivity=INACTIVITY_SECONDS):
        kind = event.get("type", "")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            raise errors.api_error(code or 500, str(obj.get("reason", "")), str(obj.get("message", "")))
        meta = obj.get("metadata", {})
        new_version = meta.get("resourceVersion")
        if listing is not None:
            if kind == "ADDED":
                listing.add([obj])
            elif kind == "BOOKMARK" and (meta.get("annotations") or {}).get(INITIAL_EVENTS_END) == "true":
                await listing.done()
                listing = None
                position.version = str(new_version)
                assert on_synced is not None
                on_synced()
            continue
        if kind != "BOOKMARK":
            await sink.event(spec.resource.kind, kind, obj)
        if new_version:
            position.version = str(new_version)
