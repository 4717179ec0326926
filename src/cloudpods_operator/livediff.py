"""``cloudpods-operator diff``: what the operator would change on the live cluster, changing nothing.

The plan is made as the operator makes it, from the live state: the cluster's owned objects, Nodes and
credentials Secret are listed once into a :class:`cache.Cache`, so rollouts, node labels and real
passwords (config Secrets' digests) are the operator's own. Each planned object is then sent as a
server-side apply with ``dryRun=All`` under the operator's field manager: defaults, admission and field
ownership are the API server's, and nothing is stored. The answer is compared with the live object,
``metadata.managedFields`` and the fields the server writes on every change left out, Secret values
masked as ``kubectl diff`` masks them. Objects the operator would delete are listed as pruned.

Gates that wait for MySQL or keystone are taken as open (no provisioning runs here): the diff shows the
cluster as it will be once they are.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import anyio
import yaml

from cloudpods_operator import credentials, diff, errors, kinds, planner
from cloudpods_operator.cache import Cache
from cloudpods_operator.kinds import JSON
from cloudpods_operator.kube.client import APPLY_CONTENT_TYPE, Kube
from cloudpods_operator.model import OnecloudCluster
from cloudpods_operator.render import MANAGED_BY

Action = Literal["created", "changed", "unchanged", "pruned"]
SERVER_WRITTEN = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
"""Metadata the API server sets on every write: a dry run moves them, so they say nothing about the spec."""
MASK = "***"


@dataclass(frozen=True)
class ObjectDiff:
    """One object of the plan (or one the operator would delete) and what applying it would do."""

    kind: str
    namespace: str
    name: str
    action: Action
    text: str = ""
    """A unified diff for ``changed``, the object for ``created``."""
    rolls: bool = False
    """A workload whose pod template would change: its pods would be replaced."""


@dataclass(frozen=True)
class Report:
    """Every object's verdict, in the plan's order, then the pruned ones."""

    objects: tuple[ObjectDiff, ...]

    @property
    def changed(self) -> bool:
        """Anything other than ``unchanged``: ``diff`` exits 1, as ``kubectl diff`` does."""
        return any(o.action != "unchanged" for o in self.objects)

    @property
    def rolling(self) -> list[str]:
        """``Kind/name`` of every workload whose pods would be replaced."""
        return [f"{o.kind}/{o.name}" for o in self.objects if o.rolls]


def comparable(obj: JSON) -> JSON:
    """``obj`` without status, its type (a list's items carry none) and the metadata the server rewrites."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SERVER_WRITTEN}
    body = {k: v for k, v in obj.items() if k not in ("status", "kind", "apiVersion")}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != diff.HASH_ANNOTATION}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return {**body, "metadata": meta}


def masked(kind: str, before: JSON | None, after: JSON) -> tuple[JSON | None, JSON]:
    """Secret values masked as ``kubectl diff`` does: ``***`` if equal, else ``*** (before)``/``(after)``."""
    if kind != "Secret":
        return before, after
    old = dict((before or {}).get("data") or {})
    new = dict(after.get("data") or {})
    for key in set(old) | set(new):
        same = old.get(key) == new.get(key)
        if key in old:
            old[key] = MASK if same else f"{MASK} (before)"
        if key in new:
            new[key] = MASK if same else f"{MASK} (after)"
    return ({**before, "data": old} if before is not None else None), {**after, "data": new}


def verdict(kind: str, live: JSON | None, dry_run: JSON) -> ObjectDiff:
    """Compare the live object with the dry run's answer (pure; the tests' table drives it)."""
    meta = dry_run["metadata"]
    namespace, name = meta.get("namespace", ""), meta["name"]
    before, after = masked(kind, comparable(live) if live is not None else None, comparable(dry_run))
    after_text = yaml.safe_dump(after, sort_keys=True)
    if before is None:
        return ObjectDiff(kind, namespace, name, "created", after_text)
    before_text = yaml.safe_dump(before, sort_keys=True)
    if before_text == after_text:
        return ObjectDiff(kind, namespace, name, "unchanged")
    label = f"{kind}/{namespace}/{name}"
    lines = difflib.unified_diff(
        before_text.splitlines(keepends=True),
        after_text.splitlines(keepends=True),
        fromfile=f"live/{label}",
        tofile=f"planned/{label}",
    )
    template = (live or {}).get("spec", {}).get("template"), dry_run.get("spec", {}).get("template")
    rolls = kind in kinds.WORKLOAD_KINDS and template[0] != template[1]
    return ObjectDiff(kind, namespace, name, "changed", "".join(lines), rolls)


async def _live_objects(kube: Kube, namespace: str) -> dict[str, list[JSON]]:
    """Every owned object in ``namespace`` by kind (the operator's watches' view), and the Nodes."""
    selector = f"app.kubernetes.io/managed-by={MANAGED_BY}"
    found: dict[str, list[JSON]] = {}

    async def one(kind: str, ns: str | None, query: dict[str, str]) -> None:
        items: list[JSON] = []
        while True:
            page = await kube.list(kinds.RESOURCES[kind], ns, limit="500", **query)
            items.extend(page.get("items", []))
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            query = {**query, "continue": token}
        found[kind] = items

    async with anyio.create_task_group() as group:
        for kind in kinds.OWNED_KINDS:
            group.start_soon(one, kind, namespace, {"labelSelector": selector})
        if "Node" in kinds.RESOURCES:
            group.start_soon(one, "Node", None, {})
    return found


async def _dry_run(kube: Kube, body: JSON, field_manager: str) -> JSON:
    meta = body["metadata"]
    path = kinds.RESOURCES[body["kind"]].path(meta.get("namespace"), meta["name"])
    query = {"fieldManager": field_manager, "force": "true", "dryRun": "All"}
    return await kube.request("PATCH", path, query=query, body=body, content_type=APPLY_CONTENT_TYPE)


async def compute(kube: Kube, cluster: OnecloudCluster, *, field_manager: str, limit: int = 16) -> Report:
    """The diff of ``cluster``'s plan against the live API server; writes nothing (every write is a dry run).

    API trouble raises :class:`errors.OperatorError`; a spec the planner refuses raises
    :class:`errors.SpecError` (or pydantic's error, from the caller's parse).
    """
    namespace = cluster.metadata.namespace or "default"
    key = (namespace, cluster.metadata.name)
    uid = await _cluster_uid(kube, key)
    if uid and not cluster.metadata.uid:  # a file has none: the live CR's makes the same ownerReferences
        cluster = cluster.model_copy(update={"metadata": cluster.metadata.model_copy(update={"uid": uid})})
    live = await _live_objects(kube, namespace)
    cache = Cache(lambda _key: None)
    for kind, items in live.items():
        await cache.replace(kind, items)
    held = cache.credentials.get(key)
    secrets = held if held is not None and all(k in held for k in credentials.password_keys()) else None
    # The edit's whole effect: under Staged the operator holds DaemonSets until the Deployments rolled out,
    # and applies them in a later pass; the diff shows them already (the pruned and gated sets are the same).
    spec = cluster.spec.model_copy(update={"upgrade_strategy": "AllAtOnce"})
    plan = planner.plan(cluster.model_copy(update={"spec": spec}), cache.observed(key), secrets)
    by_key = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in _all(live)}
    limiter = anyio.CapacityLimiter(limit)
    results: dict[int, ObjectDiff] = {}

    async def one(index: int, obj: planner.DesiredObject) -> None:
        current = by_key.get(obj.key)
        if obj.create_only and current is not None:
            results[index] = ObjectDiff(obj.key[0], obj.key[1], obj.key[2], "unchanged")
            return
        async with limiter:
            answer = await _dry_run(kube, diff.stamped(obj.body), field_manager)
        results[index] = verdict(obj.key[0], current, answer)

    async with anyio.create_task_group() as group:
        for index, obj in enumerate(plan.objects):
            group.start_soon(one, index, obj)
    pruned = (
        [
            ObjectDiff(kind, ns, name, "pruned")
            for kind, ns, name in diff.prunable(plan, cache.owned_by(key), uid)
        ]
        if uid
        else []
    )
    return Report(tuple(results[i] for i in sorted(results)) + tuple(pruned))


def _all(live: dict[str, list[JSON]]) -> Iterable[JSON]:
    for kind, items in live.items():
        for item in items:
            yield {**item, "kind": kind}


async def _cluster_uid(kube: Kube, key: tuple[str, str]) -> str:
    """The live OnecloudCluster's uid ("" when it does not exist yet: then nothing is ours to prune)."""
    try:
        live = await kube.get(kinds.RESOURCES[kinds.CLUSTER_KIND], key[0], key[1])
    except errors.NotFound:
        return ""
    return str((live.get("metadata") or {}).get("uid") or "")


def render(report: Report) -> str:
    """``kubectl diff``-like text: each change as a unified diff, created objects in full, then a summary."""
    out: list[str] = []
    for obj in report.objects:
        label = f"{obj.kind}/{obj.name}"
        if obj.action == "changed":
            out.append(obj.text if obj.text.endswith("\n") else obj.text + "\n")
        elif obj.action == "created":
            out.append(f"+++ created {label}\n" + "".join(f"+{line}\n" for line in obj.text.splitlines()))
        elif obj.action == "pruned":
            out.append(f"--- pruned {label} (its component is no longer planned)\n")
    counts = {
        a: sum(1 for o in report.objects if o.action == a)
        for a in ("created", "changed", "unchanged", "pruned")
    }
    out.append(", ".join(f"{n} {a}" for a, n in counts.items()) + "\n")
    rolling = report.rolling
    out.append(f"would roll: {', '.join(rolling)}\n" if rolling else "would roll: nothing\n")
    return "".join(out)
