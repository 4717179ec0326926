"""The benchmark's own watches: what the API server holds, seen independently of the operator.

A Tracker lists and watches one resource (a namespace, or every namespace), keeps a small projection of
each object, and settles Goals incrementally: a Goal is a predicate per object key, and it is met (with the
monotonic time of the event that completed it) once every key's projection passes. Each event costs O(1),
so a goal over thousands of workloads does not steal the CPU the operator is being measured on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.kubeapi import JSON, RESOURCES, Api, ApiError

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # kind, namespace, name
Projection = Callable[[JSON], Any]
Check = Callable[[Any], bool]


def template_images(obj: JSON) -> tuple[str, ...]:
    """Every image of a workload's pod template, init containers first (as the planner lists them)."""
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    return tuple(c.get("image", "") for c in (*pod.get("initContainers", []), *pod.get("containers", [])))


@dataclass(frozen=True)
class WorkloadView:
    images: tuple[str, ...]
    rolled_out: bool
    resource_version: str


def workload_view(obj: JSON) -> WorkloadView:
    from cloudpods_operator.observed import workload_state  # the operator's own definition of "rolled out"

    state = workload_state(obj)
    return WorkloadView(
        template_images(obj),
        bool(state and state.rolled_out),
        str(obj.get("metadata", {}).get("resourceVersion", "")),
    )


@dataclass(frozen=True)
class ClusterView:
    generation: int
    ready: bool
    ready_generation: int
    resource_version: str


def cluster_view(obj: JSON) -> ClusterView:
    meta, status = obj.get("metadata", {}), obj.get("status") or {}
    ready = {c.get("type"): c for c in status.get("conditions") or []}.get("Ready", {})
    return ClusterView(
        int(meta.get("generation") or 0),
        ready.get("status") == "True",
        int(ready.get("observedGeneration") or 0),
        str(meta.get("resourceVersion", "")),
    )


def ready_at(generation: int) -> Check:
    def check(view: Any) -> bool:
        return isinstance(view, ClusterView) and view.ready and view.ready_generation >= generation

    return check


def generation_at(generation: int) -> Check:
    """The CR's write of ``generation`` delivered: what the operator's watch can first react to."""

    def check(view: Any) -> bool:
        return isinstance(view, ClusterView) and view.generation >= generation

    return check


def images_are(expected: tuple[str, ...]) -> Check:
    def check(view: Any) -> bool:
        return isinstance(view, WorkloadView) and view.images == expected

    return check


def rolled_with(expected: tuple[str, ...]) -> Check:
    def check(view: Any) -> bool:
        return isinstance(view, WorkloadView) and view.images == expected and view.rolled_out

    return check


@dataclass
class Goal:
    checks: dict[Key, Check]
    met: set[Key] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    done_at: float | None = None

    def update(self, key: Key, view: Any) -> None:
        check = self.checks.get(key)
        if check is None:
            return
        if view is not None and check(view):
            self.met.add(key)
        else:
            self.met.discard(key)
        if len(self.met) == len(self.checks) and not self.done.is_set():
            self.done_at = time.monotonic()
            self.done.set()

    @property
    def missing(self) -> list[Key]:
        return sorted(set(self.checks) - self.met)

    async def wait(self, within: float, what: str) -> float:
        """The monotonic time it was met; TimeoutError naming a few keys that were not."""
        try:
            await asyncio.wait_for(self.done.wait(), within)
        except TimeoutError:
            raise TimeoutError(
                f"{what}: {len(self.missing)} of {len(self.checks)} not there after {within:.0f}s, "
                f"e.g. {self.missing[:5]}"
            ) from None
        assert self.done_at is not None
        return self.done_at


class Tracker:
    """List-then-watch of one kind; ``namespace=None`` watches every namespace."""

    def __init__(
        self,
        api: Api,
        kind: str,
        project: Projection,
        *,
        namespace: str | None = None,
        selector: str | None = None,
    ) -> None:
        self.api = api
        self.kind = kind
        self.project = project
        self.namespace = namespace
        self.selector = selector
        self.views: dict[Key, Any] = {}
        self.events = 0
        self._goals: list[Goal] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _key(self, obj: JSON) -> Key:
        meta = obj.get("metadata", {})
        return (self.kind, str(meta.get("namespace", "")), str(meta["name"]))

    def _set(self, key: Key, view: Any) -> None:
        if view is None:
            self.views.pop(key, None)
        else:
            self.views[key] = view
        for goal in self._goals:
            goal.update(key, view)

    async def start(self) -> Tracker:
        self._task = asyncio.create_task(self._run(), name=f"tracker-{self.kind}")
        await asyncio.wait_for(self._synced.wait(), 120)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def goal(self, checks: Mapping[Key, Check]) -> Goal:
        """A goal checked against what is known now and then on every event."""
        goal = Goal(dict(checks))
        self._goals.append(goal)
        for key in goal.checks:
            goal.update(key, self.views.get(key))
        if not goal.checks and not goal.done.is_set():
            goal.done_at = time.monotonic()
            goal.done.set()
        return goal

    def drop(self, goal: Goal) -> None:
        with contextlib.suppress(ValueError):
            self._goals.remove(goal)

    def keys(self, namespaces: Iterable[str] | None = None) -> list[Key]:
        wanted = set(namespaces) if namespaces is not None else None
        return [k for k in self.views if wanted is None or k[1] in wanted]

    async def _list(self) -> str:
        resource = RESOURCES[self.kind]
        query = {"labelSelector": self.selector} if self.selector else {}
        doc = await self.api.call("GET", resource.path(self.namespace), query=query)
        seen = set()
        for obj in doc.get("items", []):
            key = self._key(obj)
            seen.add(key)
            self._set(key, self.project(obj))
        for key in [k for k in self.views if k not in seen]:
            self._set(key, None)
        return str(doc["metadata"]["resourceVersion"])

    async def _run(self) -> None:
        resource = RESOURCES[self.kind]
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._list()
                    self._synced.set()
                query = {"watch": "true", "allowWatchBookmarks": "true", "resourceVersion": version}
                query["timeoutSeconds"] = "300"
                if self.selector:
                    query["labelSelector"] = self.selector
                async for event in self.api.watch(resource.path(self.namespace), query, read_timeout=None):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            version = None
                            break
                        raise ApiError(int(obj.get("code") or 500), "WATCH", self.kind, str(obj))
                    version = str(obj.get("metadata", {}).get("resourceVersion") or version)
                    if kind == "BOOKMARK":
                        continue
                    self.events += 1
                    self._set(self._key(obj), None if kind == "DELETED" else self.project(obj))
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.status == 410:
                    version = None
                    continue
                log.warning("tracker %s: %s; watching again", self.kind, exc)
                await asyncio.sleep(0.5)
            except Exception as exc:
                log.warning("tracker %s: %s: %s; watching again", self.kind, type(exc).__name__, exc)
                await asyncio.sleep(0.5)


async def workload_trackers(
    api: Api, *, namespace: str | None = None, selector: str | None = None
) -> dict[str, Tracker]:
    """One Tracker per workload kind."""
    trackers = {
        kind: Tracker(api, kind, workload_view, namespace=namespace, selector=selector)
        for kind in ("Deployment", "DaemonSet", "StatefulSet")
    }
    await asyncio.gather(*(t.start() for t in trackers.values()))
    return trackers


class Workloads:
    """Deployments, DaemonSets and StatefulSets together, with goals spanning the three kinds."""

    def __init__(self, trackers: Mapping[str, Tracker]) -> None:
        self.trackers = dict(trackers)

    @classmethod
    async def watch(cls, api: Api, *, namespace: str | None = None, selector: str | None = None) -> Workloads:
        return cls(await workload_trackers(api, namespace=namespace, selector=selector))

    def view(self, key: Key) -> WorkloadView | None:
        tracker = self.trackers.get(key[0])
        return tracker.views.get(key) if tracker else None

    def views(self, namespaces: Iterable[str] | None = None) -> dict[Key, WorkloadView]:
        wanted = set(namespaces) if namespaces is not None else None
        return {
            k: v
            for t in self.trackers.values()
            for k, v in t.views.items()
            if wanted is None or k[1] in wanted
        }

    def goal(self, checks: Mapping[Key, Check]) -> MultiGoal:
        parts = [
            t.goal({k: c for k, c in checks.items() if k[0] == kind}) for kind, t in self.trackers.items()
        ]
        return MultiGoal(parts, self)

    @property
    def events(self) -> int:
        return sum(t.events for t in self.trackers.values())

    async def stop(self) -> None:
        await asyncio.gather(*(t.stop() for t in self.trackers.values()))


@dataclass
class MultiGoal:
    parts: list[Goal]
    owner: Workloads

    @property
    def total(self) -> int:
        return sum(len(p.checks) for p in self.parts)

    @property
    def missing(self) -> list[Key]:
        return sorted(k for p in self.parts for k in p.missing)

    async def wait(self, within: float, what: str) -> float:
        """The monotonic time the last part was met."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        times = []
        try:
            for part in self.parts:
                times.append(await part.wait(max(0.01, deadline - loop.time()), what))
        except TimeoutError:
            missing = self.missing
            raise TimeoutError(
                f"{what}: {len(missing)} of {self.total} not there after {within:.0f}s, e.g. {missing[:5]}"
            ) from None
        finally:
            self.close()
        return max(times) if times else time.monotonic()

    def close(self) -> None:
        for tracker, part in zip(self.owner.trackers.values(), self.parts, strict=True):
            tracker.drop(part)
