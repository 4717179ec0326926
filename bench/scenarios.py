"""The scenarios. Each returns its figures as a JSON-ready dict; times are seconds of time.monotonic()."""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench import clusters, noise
from bench.kubeapi import JSON, WORKLOAD_KINDS, Api, ensure_namespace, wait_namespace_gone
from bench.noise import Noise, RepeatLoad
from bench.operator import Operator, Writes, parse_prometheus, proc_rss_mb, total, writes_of
from bench.report import median, stats
from bench.tracker import (
    ClusterView,
    Key,
    Tracker,
    Workloads,
    cluster_view,
    generation_at,
    images_are,
    ready_at,
    rolled_with,
    template_images,
)
from cloudpods_operator import credentials, kinds

log = logging.getLogger("bench")
T = TypeVar("T")
CR = clusters.CR_NAME
APISERVER_WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
MANAGED_RESOURCES = frozenset(
    {"deployments", "daemonsets", "statefulsets", "services", "configmaps", "ingresses", "onecloudclusters"}
)
OBJECT_KINDS = kinds.OWNED_KINDS


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Bench:
    api: Api
    kubeconfig: Path
    work: Path
    quick: bool
    repeat: int
    fleet_sizes: list[int]
    fleet_product: str
    prefix: str = "bench"
    concurrencies: tuple[int, ...] = (1, 4, 8, 16, 32)
    namespaces: set[str] = field(default_factory=set)
    operator: Operator | None = None
    best_concurrency: int = 16
    floor_objects: int = 0
    floor_runs: list[float] = field(default_factory=list)
    floor_single: list[float] = field(default_factory=list)
    bump_objects: int = 0
    bump_repeat: int = 3
    """Runs of version_bump and staged_bump (``--bump-repeat``)."""
    settings: dict[str, dict[str, object]] = field(default_factory=dict)
    operator_args: tuple[str, ...] = ()
    noise: Noise = field(default_factory=Noise)
    floor_copies: FloorCopies | None = None

    def ns(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        self.namespaces.add(full)
        return full

    async def start_operator(self, resync: float, label: str) -> Operator:
        op = self.new_operator(resync)
        self.settings[label] = op.settings
        await op.start()
        self.operator = op
        return op

    def new_operator(self, resync: float) -> Operator:
        return Operator(self.kubeconfig, self.work / "logs", resync=resync, extra_args=self.operator_args)

    async def stop_operator(self) -> None:
        if self.operator is not None:
            await self.operator.stop()
            self.operator = None


async def gather_limited(items: Iterable[T], fn: Callable[[T], Awaitable[Any]], limit: int = 16) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(item: T) -> Any:
        async with sem:
            return await fn(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


@dataclass(frozen=True)
class Sent:
    """A plain client's applies, timed from its first request: to the last answer, and until the
    benchmark's own watch saw every body's images, the event an operator bump is timed to."""

    answered: float
    seen: float


async def apply_all(
    api: Api, bodies: Sequence[JSON], concurrency: int, wl: Workloads | None = None, within: float = 600
) -> Sent:
    """The floor's client: server-side apply every body with ``concurrency`` requests in flight on warm
    connections. With ``wl``, also wait until its watch shows every workload body's images, so that the
    floor ends at the same event as the operator's bump it is compared with."""
    client = api.clone(limit=concurrency)
    goal = None
    if wl is not None:
        goal = wl.goal(
            {
                (body["kind"], body["metadata"]["namespace"], body["metadata"]["name"]): images_are(
                    template_images(body)
                )
                for body in bodies
                if body["kind"] in WORKLOAD_KINDS
            }
        )
        if not goal.missing:  # the watch shows these images already: nothing to see, the answers time it
            goal.close()
            goal = None
    try:
        await asyncio.gather(*(client.raw("GET", "/version") for _ in range(concurrency)))
        pending = iter(bodies)

        async def worker() -> None:
            for body in pending:
                await client.apply(body)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(bodies))))))
        answered = time.monotonic() - started
        # The last image may be seen before the last answer is read: the floor ends then, as a bump does.
        seen = answered if goal is None else await goal.wait(within, "the floor's images seen") - started
        return Sent(answered, seen)
    finally:
        if goal is not None:
            goal.close()
        await client.close()


async def apply_cr(api: Api, doc: JSON) -> JSON:
    return await api.apply(doc, field_manager="bench")


async def patch_spec(api: Api, namespace: str, spec: JSON) -> int:
    """Merge-patch a cluster's spec; its new generation."""
    doc = await api.merge_patch("OnecloudCluster", namespace, CR, {"spec": spec})
    return int(doc["metadata"]["generation"])


async def apiserver_writes(api: Api) -> dict[str, float]:
    """The API server's own count of writes to the operator's kinds (apiserver_request_total), by
    resource[/subresource]."""
    out: dict[str, float] = {}
    for name, labels, value in parse_prometheus(await api.text("/metrics")):
        if name != "apiserver_request_total" or labels.get("verb") not in APISERVER_WRITE_VERBS:
            continue
        if labels.get("resource") not in MANAGED_RESOURCES:
            continue
        key = labels["resource"] + (f"/{labels['subresource']}" if labels.get("subresource") else "")
        out[key] = out.get(key, 0.0) + value
    return out


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, int]:
    return {k: round(v - before.get(k, 0.0)) for k, v in after.items() if round(v - before.get(k, 0.0))}


async def versions_in(api: Api, namespace: str) -> dict[str, str]:
    """kind/name -> resourceVersion of every object of the operator's kinds in a namespace."""
    out: dict[str, str] = {}
    for kind in OBJECT_KINDS:
        for obj in await api.list(kind, namespace):
            out[f"{kind}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    return out


async def settle(wl: Workloads, expected: dict[Key, tuple[str, ...]], within: float, what: str) -> float:
    """Wait until every workload carries its images and is rolled out; the seconds it took."""
    started = time.monotonic()
    await wl.goal({k: rolled_with(v) for k, v in expected.items()}).wait(within, what)
    return time.monotonic() - started


# ---- 1. floor ---------------------------------------------------------------------------------------


@dataclass
class FloorCopies:
    """The example cluster's workloads in a namespace the operator does not see, kept alive through the
    single-cluster scenarios so that every operator bump is preceded by a floor for the same bodies."""

    ns: str
    doc: JSON
    owner: JSON
    labels: frozenset[str]
    wl: Workloads
    current: dict[Key, JSON]

    def bodies(self, **spec: Any) -> dict[Key, JSON]:
        return clusters.floor_bodies(clusters.with_spec(self.doc, **spec), self.owner, self.labels)

    async def send(self, b: Bench, keys: Iterable[Key], version: str, part: str) -> tuple[Sent, RepeatLoad]:
        """Gate, then the plain client's apply of the floor bodies at ``version`` for exactly the workloads
        ``keys`` names (kind and name; the operator's namespace is ignored) at the best concurrency, then
        the rollout settled. The applies' timing, and the repeat's noise."""
        new = self.bodies(version=version)
        chosen = []
        for kind, _, name in sorted(keys):
            key = (kind, self.ns, name)
            if key not in new:
                raise AssertionError(f"the floor has no copy of {kind}/{name}")
            chosen.append(new[key])
            self.current[key] = new[key]
        measured = await b.noise.measure(part)
        sent = await apply_all(b.api, chosen, b.best_concurrency, self.wl)
        await settle(self.wl, _images(self.current), 600, "floor rollout")
        return sent, measured.done()

    async def stop(self) -> None:
        await self.wl.stop()


async def floor(b: Bench) -> dict[str, Any]:
    """The API server's own speed at a bump's writes, from a plain client, at the best concurrency."""
    api = b.api
    ns = b.ns("floor")
    await ensure_namespace(api, ns)
    owner = await api.create(
        "ConfigMap",
        ns,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "default-floor", "namespace": ns}},
    )
    if "uid" not in owner.get("metadata", {}):  # it was there already
        owner = await api.get("ConfigMap", ns, "default-floor")
    doc = clusters.example(ns)
    counter = iter(range(10_000))
    labels = clusters.node_labels(await api.list("Node"))
    await gather_limited(clusters.floor_support(doc, owner), api.apply)
    wl = await Workloads.watch(api, namespace=ns)
    copies = FloorCopies(ns, doc, owner, labels, wl, {})
    loads: list[RepeatLoad] = []
    try:
        current = copies.bodies(version=f"bench-f{next(counter)}")
        create = (await apply_all(api, list(current.values()), 16)).answered
        first_settle = await settle(wl, _images(current), 600, "floor workloads rolled out")
        say(f"floor: {len(current)} workloads created in {create:.2f}s, rolled out in {first_settle:.1f}s")
        by_c: dict[int, list[float]] = {}
        answered: dict[int, list[float]] = {}
        settles: list[float] = []
        objects = 0
        for c in b.concurrencies:
            for _ in range(b.repeat):
                new = copies.bodies(version=f"bench-f{next(counter)}")
                changed = [body for key, body in new.items() if body != current.get(key)]
                objects = len(changed)
                measured = await b.noise.measure(f"c={c}")
                sent = await apply_all(api, changed, c, wl)
                by_c.setdefault(c, []).append(sent.seen)
                answered.setdefault(c, []).append(sent.answered)
                current = new
                settles.append(await settle(wl, _images(current), 600, "floor rollout"))
                loads.append(measured.done())
            say(f"floor: c={c:<2} {objects} changed bodies in {median(by_c[c]):.3f}s (median)")
        best = min(by_c, key=lambda c: median(by_c[c]))
        # one changed workload (what a single override changes), sent alone
        single: list[float] = []
        region = next(k for k in current if k[2].endswith("-region"))
        for n in range(b.repeat):
            body = copies.bodies(regionServer={"tag": f"bench-s{n}"})[region]
            measured = await b.noise.measure("single")
            single.append((await apply_all(api, [body], 1, wl)).seen)
            current[region] = body
            await settle(wl, _images(current), 300, "floor single rollout")
            loads.append(measured.done())
    except BaseException:
        await wl.stop()
        raise
    copies.current = current
    b.floor_copies = copies
    b.best_concurrency = best
    b.floor_objects = objects
    b.floor_runs = by_c[best]
    b.floor_single = single
    return {
        "what": "server-side apply (force, field manager cloudpods-operator) of the example cluster's "
        "changed workload bodies to existing objects, from a plain aiohttp+orjson client on warm "
        "connections; seconds from the first request until the benchmark's watch saw every new image "
        "(answered_seconds: until the last answer)",
        "objects": objects,
        "workloads": len(current),
        "best_concurrency": best,
        "seconds": stats(by_c[best]),
        "answered_seconds": stats(answered[best]),
        "applies_per_s": round(objects / median(by_c[best]), 1),
        "by_concurrency": {
            str(c): {"seconds": stats(v), "applies_per_s": round(objects / median(v), 1)}
            for c, v in by_c.items()
        },
        "single_object_seconds": stats(single, 4),
        "create_seconds": round(create, 3),
        "rollout_settle_seconds": stats(settles, 2),
        "writes": objects,
        "rss_mb": None,
        **noise_of(loads),
    }


def noise_of(loads: Iterable[RepeatLoad]) -> dict[str, Any]:
    """A scenario's noise fields for the JSON: ``loaded``, the summary and every repeat's record."""
    runs = [r.as_dict() for r in loads]
    summary = noise.summary(runs)
    return {"loaded": summary["loaded"], "noise": summary, "load": runs}


def _images(bodies: dict[Key, JSON]) -> dict[Key, tuple[str, ...]]:
    return {k: template_images(v) for k, v in bodies.items()}


# ---- the single cluster under the operator -----------------------------------------------------------


@dataclass
class Single:
    ns: str
    doc: JSON
    crs: Tracker
    wl: Workloads
    bring_up_seconds: float
    generation: int = 1

    async def stop(self) -> None:
        await self.crs.stop()
        await self.wl.stop()


async def bring_up_example(b: Bench) -> Single:
    api = b.api
    ns = b.ns("bump")
    await ensure_namespace(api, ns)
    crs = await Tracker(api, "OnecloudCluster", cluster_view, namespace=ns).start()
    wl = await Workloads.watch(api, namespace=ns, selector=clusters.MANAGED_SELECTOR)
    doc = clusters.example(ns)
    started = time.monotonic()
    applied = await apply_cr(api, doc)
    generation = int(applied["metadata"]["generation"])
    await crs.goal({("OnecloudCluster", ns, CR): ready_at(generation)}).wait(600, "example cluster Ready")
    took = time.monotonic() - started
    say(f"example FullStack cluster Ready in {took:.1f}s")
    return Single(ns, doc, crs, wl, took, generation)


@dataclass(frozen=True)
class Bumped:
    """One bump of the example cluster, in seconds from sending the spec patch: until the workloads carry
    the new images, until the benchmark's CR watch delivered the new generation (the earliest an operator
    can react: the API server's own write of the CR, with its schema and rules, comes before it), and until
    Ready=True again; and the operator's writes (counted 2 s after Ready, once the last status write
    landed)."""

    seen: float
    cr_event: float
    ready: float
    writes: Writes


async def _patch_and_time(
    b: Bench, one: Single, spec: JSON, expected: dict[Key, tuple[str, ...]], within: float
) -> Bumped:
    """Patch the spec (a new generation) and time it (:class:`Bumped`)."""
    assert b.operator is not None
    images = one.wl.goal({k: images_are(v) for k, v in expected.items()})
    written = one.crs.goal({("OnecloudCluster", one.ns, CR): generation_at(one.generation + 1)})
    before = await b.operator.writes()
    started = time.monotonic()
    one.generation = await patch_spec(b.api, one.ns, spec)
    ready = one.crs.goal({("OnecloudCluster", one.ns, CR): ready_at(one.generation)})
    seen = await images.wait(within, "new images on the workloads")
    cr_event = await written.wait(within, "the CR's new generation")
    back = await ready.wait(within, "Ready=True again")
    await asyncio.sleep(2)
    writes = await b.operator.writes() - before
    one.doc = clusters.with_spec(one.doc, **spec)
    return Bumped(seen - started, cr_event - started, back - started, writes)


async def version_bump(b: Bench, one: Single) -> dict[str, Any]:
    """A version bump under ``AllAtOnce``, each repeat after a floor for the same workloads."""
    seconds, ready, writes, ratios, floors, answered = [], [], [], [], [], []
    cr_events: list[float] = []
    after_cr: list[float] = []
    loads: list[RepeatLoad] = []
    objects = 0
    copies = _copies(b)
    for n in range(b.bump_repeat):
        spec = {"version": f"bench-v{n}"}
        changed = clusters.changed_images(one.doc, clusters.with_spec(one.doc, **spec))
        objects = len(changed)
        sent, floor_load = await copies.send(b, changed, f"bench-u{n}", f"floor #{n}")
        took_floor = sent.seen
        measured = await b.noise.measure(f"operator #{n}")
        bumped = await _patch_and_time(b, one, spec, changed, 300)
        took, back, w = bumped.seen, bumped.ready, bumped.writes
        loads += [floor_load, measured.done()]
        floors.append(took_floor)
        answered.append(sent.answered)
        seconds.append(took)
        ready.append(back)
        writes.append(w)
        ratios.append(took / took_floor)
        cr_events.append(bumped.cr_event)
        after_cr.append((took - bumped.cr_event) / took_floor)
        say(
            f"version_bump #{n}: {objects} workloads in {took:.3f}s (x{ratios[-1]:.2f} its floor "
            f"{took_floor:.3f}s), Ready in {back:.1f}s, {w.status:.0f} status writes"
        )
    b.bump_objects = objects
    return {
        "what": "patch spec.version of the Ready example FullStack cluster (AllAtOnce); seconds until every "
        "changed workload's pod template carries the new image, seen by the benchmark's own watch; each "
        "repeat is preceded by the floor: the plain client's apply of the same workloads' floor bodies, "
        "timed from its first request until the same watch saw every new image",
        "objects": objects,
        "seconds": stats(seconds),
        "floor_seconds": stats(floors),
        "floor_answered_seconds": stats(answered),
        "floor_concurrency": b.best_concurrency,
        "ratio_to_floor": stats(ratios, 2),
        **_reported_figures(cr_events, after_cr, floors),
        "ready_seconds": stats(ready, 2),
        "writes": stats([w.total for w in writes], 0),
        "status_writes": stats([w.status for w in writes], 0),
        "writes_detail": [w.as_dict() for w in writes],
        "bring_up_seconds": round(one.bring_up_seconds, 1),
        "rss_mb": round(b.operator.rss_mb(), 1) if b.operator else None,
        **noise_of(loads),
    }


def _reported_figures(cr_events: list[float], after_cr: list[float], floors: list[float]) -> dict[str, Any]:
    """Reported beside the target, not judged: when the CR's new generation was delivered, and the ratio to
    the floor of the time from then on (the floor has no CR write to wait for); and each repeat's floor
    over the previous repeat's, the same client sending the same bodies: how far apart two adjacent
    measurements of one thing fall here, the resolution of a ratio between adjacent repeats."""
    return {
        "cr_event_seconds": stats(cr_events),
        "ratio_to_floor_after_cr_event": stats(after_cr, 2),
        "floor_to_previous_floor": stats([b / a for a, b in itertools.pairwise(floors)], 2),
    }


def _copies(b: Bench) -> FloorCopies:
    if b.floor_copies is None:
        raise RuntimeError("the floor's copies are gone: the floor scenario must run first")
    return b.floor_copies


async def staged_bump(b: Bench, one: Single) -> dict[str, Any]:
    """A version bump under ``upgradeStrategy: Staged``: the Deployment wave, then the DaemonSets; each
    repeat after a floor for the wave's workloads."""
    control, start_hosts, ready, ratios, floors, answered = [], [], [], [], [], []
    cr_events: list[float] = []
    after_cr: list[float] = []
    loads: list[RepeatLoad] = []
    objects = hosts_objects = 0
    copies = _copies(b)
    for n in range(b.bump_repeat):
        spec = {"version": f"bench-s{n}", "upgradeStrategy": "Staged"}
        changed = clusters.changed_images(one.doc, clusters.with_spec(one.doc, **spec))
        wave = {k: v for k, v in changed.items() if k[0] != "DaemonSet"}
        hosts = {k: v for k, v in changed.items() if k[0] == "DaemonSet"}
        objects, hosts_objects = len(wave), len(hosts)
        sent, floor_load = await copies.send(b, wave, f"bench-t{n}", f"floor #{n}")
        took_floor = sent.seen
        answered.append(sent.answered)
        measured = await b.noise.measure(f"operator #{n}")
        wave_goal = one.wl.goal({k: images_are(v) for k, v in wave.items()})
        first = sorted(hosts)[0]
        host_goal = one.wl.goal({first: images_are(hosts[first])})
        written = one.crs.goal({("OnecloudCluster", one.ns, CR): generation_at(one.generation + 1)})
        started = time.monotonic()
        one.generation = await patch_spec(b.api, one.ns, spec)
        back_goal = one.crs.goal({("OnecloudCluster", one.ns, CR): ready_at(one.generation)})
        control.append(await wave_goal.wait(300, "the Deployment wave's new images") - started)
        cr_events.append(await written.wait(300, "the CR's new generation") - started)
        start_hosts.append(await host_goal.wait(300, "a DaemonSet's new images") - started)
        ready.append(await back_goal.wait(300, "Ready=True again") - started)
        loads += [floor_load, measured.done()]
        one.doc = clusters.with_spec(one.doc, **spec)
        floors.append(took_floor)
        ratios.append(control[-1] / took_floor)
        after_cr.append((control[-1] - cr_events[-1]) / took_floor)
        say(
            f"staged_bump #{n}: {objects} Deployments in {control[-1]:.3f}s (x{ratios[-1]:.2f} its floor "
            f"{took_floor:.3f}s), DaemonSets from {start_hosts[-1]:.1f}s, Ready in {ready[-1]:.1f}s"
        )
    one.generation = await patch_spec(b.api, one.ns, {"upgradeStrategy": "AllAtOnce"})
    one.doc = clusters.with_spec(one.doc, upgradeStrategy="AllAtOnce")
    return {
        "what": "patch spec.version with upgradeStrategy Staged on the Ready example cluster: seconds until "
        "every changed Deployment (and etcd) carries the new image, until the first DaemonSet does "
        "(they wait for the Deployments' new pods), and until Ready; each repeat is preceded by the floor "
        "for the same Deployments and StatefulSets, timed until the same watch saw their new images",
        "objects": objects,
        "daemonsets": hosts_objects,
        "seconds": stats(control),
        "floor_seconds": stats(floors),
        "floor_answered_seconds": stats(answered),
        "floor_concurrency": b.best_concurrency,
        "daemonsets_start_seconds": stats(start_hosts, 2),
        "ready_seconds": stats(ready, 2),
        "ratio_to_floor": stats(ratios, 2),
        **_reported_figures(cr_events, after_cr, floors),
        **noise_of(loads),
    }


async def single_override(b: Bench, one: Single) -> dict[str, Any]:
    seconds, total, applies, status, changed_counts, ratios = [], [], [], [], [], []
    changed_objects: list[list[str]] = []
    loads: list[RepeatLoad] = []
    for n in range(b.repeat):
        spec = {"regionServer": {"tag": f"bench-r{n}"}}
        expected = clusters.changed_images(one.doc, clusters.with_spec(one.doc, **spec))
        before = await versions_in(b.api, one.ns)
        measured = await b.noise.measure(f"operator #{n}")
        bumped = await _patch_and_time(b, one, spec, expected, 120)
        took, w = bumped.seen, bumped.writes
        loads.append(measured.done())
        after = await versions_in(b.api, one.ns)
        moved = sorted(k for k in after if before.get(k) != after[k])
        seconds.append(took)
        total.append(w.total)
        applies.append(w.applies)
        status.append(w.status)
        changed_counts.append(len(moved))
        changed_objects.append(moved)
        floor = median(b.floor_single) if b.floor_single else 0.0
        ratios.append(took / floor if floor else 0.0)
        say(f"single_override #{n}: {took:.3f}s, writes {w.as_dict()}, changed {moved}")
    return {
        "what": "patch spec.regionServer.tag; seconds until default-region carries it; the operator's writes "
        "(rest_client_requests_total deltas; status = PATCHes that were not object applies) and the objects "
        "whose resourceVersion moved (the OnecloudCluster excluded)",
        "objects": 1,
        "seconds": stats(seconds),
        "floor_seconds": round(median(b.floor_single), 4) if b.floor_single else None,
        "ratio_to_floor": stats(ratios, 2),
        "writes": stats(total, 0),
        "workload_writes": stats(applies, 0),
        "status_writes": stats(status, 0),
        "objects_changed": stats(changed_counts, 0),
        "changed_objects": changed_objects,
        "rss_mb": round(b.operator.rss_mb(), 1) if b.operator else None,
        **noise_of(loads),
    }


async def at_rest(b: Bench, resync: float) -> dict[str, Any]:
    assert b.operator is not None
    window = resync * 3 + 1
    await asyncio.sleep(2)
    op_writes, api_writes, passes = [], [], []
    by_resource: list[dict[str, int]] = []
    loads: list[RepeatLoad] = []
    for n in range(1 if b.quick else b.repeat):
        measured = await b.noise.measure(f"window #{n}")
        w0, r0, a0 = await b.operator.writes(), await b.operator.reconciles(), await apiserver_writes(b.api)
        await asyncio.sleep(window)
        w1, r1, a1 = await b.operator.writes(), await b.operator.reconciles(), await apiserver_writes(b.api)
        loads.append(measured.done())
        d = delta(a1, a0)
        op_writes.append((w1 - w0).total)
        api_writes.append(sum(d.values()))
        by_resource.append(d)
        passes.append(r1 - r0)
        say(
            f"at_rest #{n}: {window:.0f}s, {passes[-1]:.0f} reconciles, operator writes {op_writes[-1]:.0f}, "
            f"apiserver writes {d or 0}"
        )
    return {
        "what": f"nothing changes for {window:.0f}s (>= 3 resync periods of {resync:g}s): write requests "
        "counted by the operator and by the API server (apiserver_request_total, verbs "
        "POST/PUT/PATCH/APPLY/DELETE, resources " + ",".join(sorted(MANAGED_RESOURCES)) + ")",
        "window_seconds": window,
        "seconds": window,
        "writes": stats(op_writes, 0),
        "apiserver_writes": stats(api_writes, 0),
        "apiserver_writes_by_resource": by_resource,
        "reconciles": stats(passes, 0),
        "rss_mb": round(b.operator.rss_mb(), 1),
        **noise_of(loads),
    }


# ---- fleet --------------------------------------------------------------------------------------------


@dataclass
class Fleet:
    crs: Tracker
    wl: Workloads
    docs: dict[str, JSON] = field(default_factory=dict)
    generations: dict[str, int] = field(default_factory=dict)

    async def stop(self) -> None:
        await self.crs.stop()
        await self.wl.stop()

    def ready_goal(self, namespaces: Iterable[str]) -> Any:
        return self.crs.goal(
            {("OnecloudCluster", ns, CR): ready_at(self.generations[ns]) for ns in namespaces}
        )


async def _wait_reconciled(
    op: Operator, clusters_: Sequence[str], within: float
) -> tuple[float, float, float]:
    """Poll the operator's /metrics until every cluster has had a successful reconcile: (monotonic time of
    the scrape that first saw them all, the polling interval used, the Unix time the last of them ended by
    the operator's own gauge). Scrapes are spaced 5x their own duration (>= 0.2 s).

    The gauge holds each cluster's *last* success, so a cluster reconciled again before the scrape moves
    the figure later, never earlier: the third value is at most the scrape's time, without its up to one
    polling interval of lag."""
    deadline = time.monotonic() + within
    interval = 0.2
    want = {f"{ns}/{CR}" for ns in clusters_}
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        done = await op.last_successes()
        took = time.monotonic() - t0
        interval = max(interval, 5 * took)
        if want <= done.keys():
            return t0, interval, max(done[c] for c in want)
        await asyncio.sleep(interval)
    raise TimeoutError(f"not every cluster reconciled after {within:.0f}s")


async def fleet(b: Bench, resync: float) -> tuple[dict[str, Any], Fleet]:
    api = b.api
    op = await b.start_operator(resync, "fleet")
    crs = await Tracker(api, "OnecloudCluster", cluster_view).start()
    wl = await Workloads.watch(api, selector=clusters.MANAGED_SELECTOR)
    fl = Fleet(crs, wl)
    sizes: dict[str, Any] = {}
    loads: list[RepeatLoad] = []
    for size in sorted(b.fleet_sizes):
        new = [f"{b.prefix}-fleet-{i}" for i in range(len(fl.docs), size)]
        for i, ns in enumerate(new, start=len(fl.docs)):
            b.namespaces.add(ns)
            fl.docs[ns] = clusters.fleet_member(ns, i, b.fleet_product)
        started = time.monotonic()
        await gather_limited(new, lambda ns: ensure_namespace(api, ns))

        async def create(ns: str) -> None:
            fl.generations[ns] = int((await apply_cr(api, fl.docs[ns]))["metadata"]["generation"])

        await gather_limited(new, create)
        await fl.ready_goal(fl.docs).wait(180 + 6 * size, f"{size} clusters Ready")
        bring_up = time.monotonic() - started
        say(f"fleet {size}: {len(new)} new {b.fleet_product} clusters Ready in {bring_up:.1f}s")
        await asyncio.sleep(3)
        window = 10.0 if b.quick else (60.0 if size == max(b.fleet_sizes) else 30.0)
        assert b.operator is not None
        op = b.operator
        measured = await b.noise.measure(f"{size}: at rest")
        s0 = await op.samples()
        w0, c0 = writes_of(s0), op.cpu_seconds()
        await asyncio.sleep(window)
        c1, s1 = op.cpu_seconds(), await op.samples()
        loads.append(measured.done())
        w1 = writes_of(s1)
        relists = total(s1, "cloudpods_operator_watch_restarts_total") - total(
            s0, "cloudpods_operator_watch_restarts_total"
        )
        rss, hwm = op.rss_mb(), _hwm(op.pid)
        cpu = (c1 - c0) / window * 60
        say(
            f"fleet {size}: RSS {rss:.0f} MB (peak {hwm:.0f}), {cpu:.2f} CPU s/min, "
            f"writes {(w1 - w0).total:.0f}"
        )
        cold, scraped, cold_writes, ready_s, cold_rss, cold_peak, res = [], [], [], [], [], [], 0.0
        for n in range(b.repeat):
            await b.stop_operator()
            fresh = b.new_operator(resync)
            measured = await b.noise.measure(f"{size}: cold start #{n}")
            fresh_started, spawned = time.monotonic(), time.time()
            await fresh.start()
            b.operator = fresh
            ready_s.append(time.monotonic() - fresh_started)
            seen, res, last = await _wait_reconciled(fresh, list(fl.docs), 600)
            cold.append(last - spawned)
            scraped.append(seen - fresh_started)
            loads.append(measured.done())
            await asyncio.sleep(2)
            cold_writes.append((await fresh.writes()).total)
            cold_rss.append(fresh.rss_mb())
            cold_peak.append(_hwm(fresh.pid))
            not_ready = [
                k
                for k, v in crs.views.items()
                if k[1] in fl.docs and not (isinstance(v, ClusterView) and v.ready)
            ]
            if not_ready:
                raise AssertionError(f"cold start left clusters not Ready: {not_ready[:5]}")
            say(
                f"fleet {size}: cold start reconciled all in {cold[-1]:.2f}s "
                f"with {cold_writes[-1]:.0f} writes"
            )
        sizes[str(size)] = {
            "clusters": size,
            "workloads": len(wl.views(fl.docs)),
            "bring_up_seconds": round(bring_up, 1),
            "rss_mb": round(rss, 1),
            "rss_peak_mb": round(hwm, 1),
            "cpu_seconds_per_minute": round(cpu, 3),
            "window_seconds": window,
            "window_writes": round((w1 - w0).total),
            "window_watch_restarts": round(relists),
            "cold_start_seconds": stats(cold, 2),
            "cold_start_scraped_seconds": stats(scraped, 2),
            "cold_start_readyz_seconds": stats(ready_s, 2),
            "cold_start_poll_interval_seconds": round(res, 2),
            "cold_start_writes": stats(cold_writes, 0),
            "cold_start_rss_mb": stats(cold_rss, 1),
            "cold_start_peak_mb": stats(cold_peak, 1),
        }
    biggest = str(max(b.fleet_sizes))
    return (
        {
            "what": "N clusters at rest in their own namespaces under one operator (all namespaces "
            "watched): its RSS (VmRSS) and CPU (utime+stime over the window, per minute), then cold "
            "starts (the operator restarted with everything in place) until every cluster had a successful "
            "reconcile: from spawning the process to the latest value of the operator's last-success gauge "
            "over the clusters (cold_start_scraped_seconds: to the first /metrics scrape that saw them all)",
            "product": b.fleet_product,
            "sizes": sizes,
            "seconds": sizes[biggest]["cold_start_seconds"],
            "writes": sizes[biggest]["cold_start_writes"],
            "rss_mb": sizes[biggest]["rss_mb"],
            **noise_of(loads),
        },
        fl,
    )


def _hwm(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return proc_rss_mb(pid)


async def _operator_bodies(b: Bench, fl: Fleet, version: str, nodes: list[JSON]) -> list[JSON]:
    async def one(ns: str) -> list[JSON]:
        cr = await b.api.get("OnecloudCluster", ns, CR)
        live = []
        for kind in WORKLOAD_KINDS:
            for obj in await b.api.list(kind, ns, clusters.MANAGED_SELECTOR):
                obj["kind"] = kind
                live.append(obj)
        name = credentials.secret_name(CR)
        secret = await b.api.call("GET", f"/api/v1/namespaces/{ns}/secrets/{name}")
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        return clusters.operator_bodies(clusters.with_spec(cr, version=version), live, nodes, data)

    per = await gather_limited(list(fl.docs), one, 8)
    return [body for bodies in per for body in bodies]


async def fleet_bump(
    b: Bench, fl: Fleet, resync: float, repeat: int, last_ready: bool, staged: bool = False
) -> dict[str, Any]:
    """Each run: the floor (the operator's own bodies from the plain client, operator stopped), then the
    operator's bump of every cluster at once. ``staged``: the bump patches ``upgradeStrategy: Staged``
    with the version, and both sides are timed over the Deployment wave (Deployments, StatefulSets)."""
    api = b.api
    namespaces = list(fl.docs)
    seconds, ready, floors, ratios, writes, floor_applies_after, rollouts = [], [], [], [], [], [], []
    floors_answered: list[float] = []
    loads: list[RepeatLoad] = []
    objects = 0
    peak = 0.0
    tag = "s" if staged else ""
    label = "fleet_bump_staged" if staged else "fleet_bump"
    for n in range(repeat):
        if b.operator is not None:  # the floor reads the live workloads: the last rollout must be over
            await fl.ready_goal(namespaces).wait(1800, "fleet Ready before the floor")
        # the floor: the operator's own bodies for the next version, from the plain client, operator stopped
        await b.stop_operator()
        version = f"bench-ff{tag}{n}"
        nodes = await api.list("Node", None)
        bodies = await _operator_bodies(b, fl, version, nodes)
        timed = [body for body in bodies if not staged or body["kind"] != "DaemonSet"]
        rest = [body for body in bodies if staged and body["kind"] == "DaemonSet"]
        measured = await b.noise.measure(f"floor #{n}")
        sent = await apply_all(api, timed, b.best_concurrency, fl.wl, within=1800)
        loads.append(measured.done())
        await apply_all(api, rest, b.best_concurrency)
        took_floor = sent.seen
        floors.append(took_floor)
        floors_answered.append(sent.answered)
        say(f"{label} #{n}: floor {len(timed)} applies in {took_floor:.2f}s")

        await _patch_all(b, fl, {"version": version})
        expected = {k: v for ns in namespaces for k, v in clusters.expected_images(fl.docs[ns]).items()}
        settled = await settle(fl.wl, expected, 1800, "fleet rolled out at the floor's version")
        rollouts.append(settled)
        op = await b.start_operator(resync, "fleet")
        await fl.ready_goal(namespaces).wait(900, "fleet Ready after the floor")
        await asyncio.sleep(2)
        floor_applies_after.append((await op.writes()).applies)
        say(
            f"{label} #{n}: rolled out in {settled:.1f}s; operator restarted, "
            f"{floor_applies_after[-1]:.0f} object applies (0: the floor sent exactly the operator's bodies)"
        )
        # the bump
        spec: JSON = {"version": f"bench-fb{tag}{n}"}
        if staged:
            spec["upgradeStrategy"] = "Staged"
        changed = {
            k: v
            for ns in namespaces
            for k, v in clusters.changed_images(fl.docs[ns], clusters.with_spec(fl.docs[ns], **spec)).items()
            if not staged or k[0] != "DaemonSet"
        }
        objects = len(changed)
        if objects != len(timed):
            log.warning("fleet_bump: the bump changes %d workloads, the floor sent %d", objects, len(timed))
        measured = await b.noise.measure(f"operator #{n}")
        goal = fl.wl.goal({k: images_are(v) for k, v in changed.items()})
        before = await op.writes()
        started = time.monotonic()
        await _patch_all(b, fl, spec)
        seen = await goal.wait(1800, "fleet carries the new images")
        loads.append(measured.done())
        seconds.append(seen - started)
        ratios.append(seconds[-1] / took_floor)
        writes.append((await op.writes() - before).total)
        peak = max(peak, _hwm(op.pid))
        say(f"{label} #{n}: {objects} workloads in {seconds[-1]:.2f}s (x{ratios[-1]:.2f} floor)")
        if n < repeat - 1 or last_ready:  # the next run starts from rest; the last need not wait
            back = await fl.ready_goal(namespaces).wait(1800, "fleet Ready again")
            ready.append(back - started)
            peak = max(peak, _hwm(op.pid))
            say(f"{label} #{n}: Ready again after {ready[-1]:.1f}s")
    assert b.operator is not None
    return {
        "what": "patch spec.version"
        + (" with upgradeStrategy Staged" if staged else " (AllAtOnce)")
        + " of every fleet cluster at once; seconds until every changed "
        + ("Deployment and StatefulSet" if staged else "workload")
        + " carries the new image (the benchmark's own watch); the floor is the same number of the "
        "operator's own bodies sent by the plain client with the operator stopped, timed until the same "
        "watch saw their images",
        "clusters": len(namespaces),
        "product": b.fleet_product,
        "upgrade_strategy": "Staged" if staged else "AllAtOnce",
        "objects": objects,
        "seconds": stats(seconds, 2),
        "floor_seconds": stats(floors, 2),
        "floor_answered_seconds": stats(floors_answered, 2),
        "floor_concurrency": b.best_concurrency,
        "floor_applies_per_s": round(objects / median(floors), 1) if floors else None,
        "ratio_to_floor": stats(ratios, 2),
        "ready_seconds": stats(ready, 1) if ready else None,
        "ready_note": None
        if ready
        else "not waited for (--fleet-ready): the fleet-wide rollout takes minutes",
        "floor_rollout_seconds": stats(rollouts, 1),
        "writes": stats(writes, 0),
        "writes_note": "operator write requests from the patch until every image was seen",
        "operator_applies_after_floor": floor_applies_after,
        "rss_mb": round(b.operator.rss_mb(), 1),
        "rss_peak_mb": round(peak, 1),
        "rss_peak_note": "VmHWM of the operator started after the floor (a cold start with the fleet in "
        "place) through its bump",
        **noise_of(loads),
    }


async def _patch_all(b: Bench, fl: Fleet, spec: JSON) -> None:
    async def to(ns: str) -> None:
        fl.generations[ns] = await patch_spec(b.api, ns, spec)
        fl.docs[ns] = clusters.with_spec(fl.docs[ns], **spec)

    await gather_limited(list(fl.docs), to)


async def delete_namespaces(api: Api, names: Iterable[str], wait: bool = True) -> None:
    """Delete namespaces (and wait until they are gone). The local control plane runs no PVC-protection
    controller, so the PVCs' kubernetes.io/pvc-protection finalizer is lifted here, as that controller would
    once no pod uses them; otherwise the namespaces stay Terminating for ever."""
    names = sorted(names)
    await gather_limited(names, lambda ns: api.delete("Namespace", None, ns))

    async def release(ns: str) -> None:
        for pvc in await api.list("PersistentVolumeClaim", ns):
            if pvc["metadata"].get("finalizers"):
                patch = {"metadata": {"finalizers": None}}
                await api.merge_patch("PersistentVolumeClaim", ns, pvc["metadata"]["name"], patch)

    await gather_limited(names, release)
    if wait:
        await gather_limited(names, lambda ns: wait_namespace_gone(api, ns, 600))
