"""reconcile(key): the one place where the pure core meets the API server.

parse -> ensure Secrets -> plan -> diff against the cache -> apply the changes in parallel ->
prune -> status (written only when it changed) -> Events. A spec that cannot be planned
touches no workload: it becomes a Degraded condition and a warning Event, and waits for the
user's next edit. API trouble raises, and the worker retries with backoff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
from pydantic import ValidationError

from cloudpods_operator import diff, errors, planner, secrets, status
from cloudpods_operator.cache import Cache, ClusterKey
from cloudpods_operator.events import Recorder, now_rfc3339
from cloudpods_operator.kube import RESOURCES, Kube
from cloudpods_operator.metrics import Metrics
from cloudpods_operator.model import OnecloudCluster, describe_validation_error

log = logging.getLogger(__name__)
WORKLOAD_RANK = 1
_LIST_LIMIT = 8


def _rank(kind: str) -> int:
    """Config and Services before workloads (pods start with their ConfigMap in place), Ingress last."""
    return {"Deployment": 1, "DaemonSet": 1, "StatefulSet": 1, "Ingress": 2}.get(kind, 0)


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_LIST_LIMIT])
    return shown + (f" and {len(items) - _LIST_LIMIT} more" if len(items) > _LIST_LIMIT else "")


@dataclass
class Outcome:
    """What one pass did, for logs, metrics, Events and tests."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skipped: int = 0
    status_written: bool = False


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        cache: Cache,
        recorder: Recorder,
        metrics: Metrics,
        *,
        field_manager: str,
        apply_limiter: anyio.CapacityLimiter,
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.recorder = recorder
        self.metrics = metrics
        self.field_manager = field_manager
        self.limiter = apply_limiter

    async def reconcile(self, key: ClusterKey) -> Outcome | None:
        raw = self.cache.clusters.get(key)
        if raw is None:
            return None
        logger = logging.LoggerAdapter(log, {"cluster": f"{key[0]}/{key[1]}"})
        try:
            cluster = OnecloudCluster.model_validate({k: v for k, v in raw.items() if k != "status"})
        except ValidationError as exc:
            await self._spec_error(raw, "InvalidSpec", describe_validation_error(exc), logger)
            return None
        try:
            plan = planner.plan(cluster, self.cache.observed(key))
        except errors.SpecError as exc:
            await self._spec_error(raw, "InvalidSpec", str(exc), logger)
            return None
        await self._ensure_secrets(cluster)
        outcome = Outcome()
        await self._apply(plan, outcome, logger)
        await self._prune(plan, key, cluster.metadata.uid or "", outcome, logger)
        await self._report(raw, cluster, plan, key, outcome)
        return outcome

    # ---- steps -------------------------------------------------------------------------------

    async def _ensure_secrets(self, cluster: OnecloudCluster) -> None:
        namespace = cluster.metadata.namespace or "default"
        missing = {
            n
            for n in secrets.secret_names(cluster.metadata.name)
            if self.cache.get("Secret", namespace, n) is None
        }
        if not missing:
            return
        for body in await anyio.to_thread.run_sync(secrets.generate, cluster, missing):
            try:
                created = await self.kube.create(
                    RESOURCES["Secret"], namespace, body, field_manager=self.field_manager
                )
                await self.cache.remember(created)
            except errors.Conflict:
                continue

    async def _apply(self, plan: planner.Plan, outcome: Outcome, logger: logging.LoggerAdapter[Any]) -> None:
        desired = plan.objects
        live = {o.key: c for o in desired if (c := self.cache.get(*o.key)) is not None}
        todo = diff.changes(desired, live)
        outcome.skipped = len(desired) - len(todo)
        sent = {id(c.desired) for c in todo}
        for obj in desired:
            if id(obj) not in sent:
                self.metrics.skipped.labels(obj.kind).inc()
        for rank in sorted({_rank(c.desired.kind) for c in todo}):
            async with anyio.create_task_group() as tg:
                for change in (c for c in todo if _rank(c.desired.kind) == rank):
                    tg.start_soon(self._apply_one, change, outcome, logger)

    async def _apply_one(
        self, change: diff.Change, outcome: Outcome, logger: logging.LoggerAdapter[Any]
    ) -> None:
        obj = change.desired
        label = f"{obj.kind}/{obj.name}"
        try:
            async with self.limiter:
                applied = await self.kube.apply(change.body, field_manager=self.field_manager)
        except (errors.ApiError, errors.TransientError) as exc:
            outcome.failures.append(f"{label}: {exc}")
            logger.warning("apply %s failed: %s", label, exc)
            return
        await self.cache.remember(applied)
        self.metrics.applies.labels(obj.kind, change.action).inc()
        if change.live is None:
            outcome.created.append(label)
        elif change.drifted:
            outcome.drifted.append(label)
        else:
            outcome.updated.append(label)
        logger.info("%s %s", "created" if change.live is None else "updated", label)

    async def _prune(
        self,
        plan: planner.Plan,
        key: ClusterKey,
        uid: str,
        outcome: Outcome,
        logger: logging.LoggerAdapter[Any],
    ) -> None:
        owned = self.cache.owned_by(key)
        doomed = set(diff.prunable(plan, owned, uid))
        for (kind, namespace, name), cached in owned:
            if (kind, namespace, name) not in doomed:
                continue
            try:
                await self.kube.delete(RESOURCES[kind], namespace, name, uid=cached.uid)
            except (errors.ApiError, errors.TransientError) as exc:
                outcome.failures.append(f"delete {kind}/{name}: {exc}")
                continue
            self.metrics.deletes.labels(kind).inc()
            outcome.deleted.append(f"{kind}/{name}")
            logger.info("deleted %s/%s (component %s no longer planned)", kind, name, cached.component)

    async def _report(
        self,
        raw: dict[str, Any],
        cluster: OnecloudCluster,
        plan: planner.Plan,
        key: ClusterKey,
        outcome: Outcome,
    ) -> None:
        observed = self.cache.observed(key)
        previous = raw.get("status") or {}
        new = status.build(cluster, plan, observed, outcome.failures, previous, now_rfc3339())
        for name, comp in new["components"].items():
            self.metrics.component_ready.labels(f"{key[0]}/{key[1]}", name).set(
                1 if comp["phase"] == "Normal" else 0
            )
        if status.without_times(new) != status.without_times(previous):
            await self._write_status(raw, new)
            outcome.status_written = True
        await self._events(raw, outcome)

    async def _write_status(self, raw: dict[str, Any], new: dict[str, Any]) -> None:
        meta = raw["metadata"]
        body = {
            "apiVersion": raw.get("apiVersion", "onecloud.yunion.io/v1alpha1"),
            "kind": "OnecloudCluster",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "status": new,
        }
        try:
            updated = await self.kube.apply(body, field_manager=self.field_manager, subresource="status")
        except errors.NotFound:
            return
        await self.cache.remember(updated)

    async def _events(self, raw: dict[str, Any], outcome: Outcome) -> None:
        emit = self.recorder.emit
        if outcome.created:
            await emit(
                raw,
                "Normal",
                "Created",
                "Apply",
                f"created {len(outcome.created)}: {_names(outcome.created)}",
            )
        if outcome.updated:
            await emit(
                raw,
                "Normal",
                "Updated",
                "Apply",
                f"updated {len(outcome.updated)}: {_names(outcome.updated)}",
            )
        if outcome.drifted:
            note = f"restored {_names(outcome.drifted)}: edited outside the operator, put back to the plan"
            await emit(raw, "Normal", "DriftCorrected", "Apply", note)
        if outcome.deleted:
            await emit(
                raw,
                "Normal",
                "Deleted",
                "Prune",
                f"deleted {len(outcome.deleted)}: {_names(outcome.deleted)}",
            )
        if outcome.failures:
            await emit(raw, "Warning", "ApplyFailed", "Apply", "; ".join(outcome.failures))

    async def _spec_error(
        self, raw: dict[str, Any], reason: str, message: str, logger: logging.LoggerAdapter[Any]
    ) -> None:
        logger.warning("spec cannot be planned, nothing applied: %s", message)
        previous = raw.get("status") or {}
        generation = int(raw.get("metadata", {}).get("generation") or 0)
        verdicts = status.spec_error_checks(reason, message)
        new = {
            **previous,
            "observedGeneration": generation,
            "conditions": status.conditions(
                previous.get("conditions") or [], verdicts, generation, now_rfc3339()
            ),
        }
        if status.without_times(new) != status.without_times(previous):
            await self._write_status(raw, new)
        await self.recorder.emit(raw, "Warning", reason, "Plan", message)
