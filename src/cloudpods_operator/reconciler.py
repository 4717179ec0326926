"""reconcile(key): the one place where the pure core meets the API server.

parse -> plan -> ensure Secrets -> ensure the MySQL databases (:mod:`provisioning`, with
``spec.mysql.host``) -> diff against the cache -> apply the changes in parallel, wave
by wave (:func:`kinds.rank`) -> prune -> status (written only when it changed) -> Events. A spec
that cannot be planned touches no workload: it becomes a Degraded condition and a warning Event,
and waits for the user's next edit. Every pass returns an :class:`Outcome`; the worker
(:mod:`manager`) alone turns it, or the error raised, into a queue action (:func:`settle`).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import anyio
import orjson
import yaml
from pydantic import ValidationError

from cloudpods_operator import (
    adoption,
    catalog,
    certificates,
    credentials,
    diff,
    errors,
    kinds,
    planner,
    provisioning,
    registration,
    render,
    status,
    takeover,
)
from cloudpods_operator.cache import Cache
from cloudpods_operator.kinds import JSON
from cloudpods_operator.kube.client import Kube
from cloudpods_operator.kube.events import Recorder, now_rfc3339
from cloudpods_operator.metrics import Metrics
from cloudpods_operator.model import OnecloudCluster, describe_validation_error
from cloudpods_operator.observed import TROUBLE_CAUSES, ClusterKey, ObjectKey, Observed
from cloudpods_operator.outcome import Outcome
from cloudpods_operator.workqueue import WorkQueue

log = logging.getLogger(__name__)
_LIST_LIMIT = 8
BOOTSTRAP_ROTATION = "BootstrapPasswordRotation"
STATUS_YIELD = 30.0
"""Seconds a due status write at most waits for other clusters' queued applies (a fleet-wide bump of 100
clusters queues ~25 s of them). A status write costs the API server ~5 object applies (the CR's schema and
rules: 100 status applies took 3.7-4.2 s, 2,600 Deployment applies 19 s), and 119 of them landed inside
the fleet bump while the bound was 10 s."""
POD_CAUSES = frozenset(TROUBLE_CAUSES.values())


def _condition(status_body: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in status_body.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_LIST_LIMIT])
    return shown + (f" and {len(items) - _LIST_LIMIT} more" if len(items) > _LIST_LIMIT else "")


class Result(StrEnum):
    """The worker's verdict on one pass (``manager.RESULT_LABELS`` maps it to the metric's result)."""

    SUCCESS = "success"
    ERROR = "error"
    SPEC_ERROR = "spec_error"
    REQUEUE_AFTER = "requeue_after"


def settle(queue: WorkQueue[ClusterKey], key: ClusterKey, outcome: Outcome | BaseException | None) -> Result:
    """Turn a pass's outcome (or the error it raised) into the queue's next step for that key.

    A spec error waits for the user's next edit (the watch brings it), applied-nothing-wrong
    forgets the key's failures; API trouble backs off, a 429 honours Retry-After.
    """
    if isinstance(outcome, Outcome) and outcome.status_due is not None:
        queue.add_after(key, outcome.status_due)
    match outcome:
        case None | Outcome(spec_error=None, failures=[], database_error=None, keystone_error=None):
            queue.forget(key)
            return Result.SUCCESS
        case Outcome(spec_error=str()):
            queue.forget(key)
            return Result.SPEC_ERROR
        case errors.TooManyRequests(retry_after=delay):
            queue.add_after(key, delay or 1.0)
            return Result.REQUEUE_AFTER
        case _:
            queue.add_rate_limited(key)
            return Result.ERROR


@dataclasses.dataclass
class _Memo:
    """One cluster's last plan and what it was planned from; a pass with the same inputs reuses it."""

    source: bytes
    """The CR as planned: everything but its status and resourceVersion, as orjson bytes."""
    cluster: OnecloudCluster
    view: Observed | None = None
    secrets: dict[str, str] | None = None
    plan: planner.Plan | None = None
    diff: diff.Memo = dataclasses.field(default_factory=diff.Memo)
    checksum: str | None = None
    """The CR's ``status.spec_checksum`` (1.6 ms to compute: every pass of a rollout wrote it)."""

    def rest(self) -> None:
        """Between passes: the plan's bodies held as bytes, the diff's stamped copies dropped."""
        if self.plan is not None:
            self.plan = self.plan.compact()
        self.diff.rest()


def _source(raw: dict[str, Any]) -> bytes:
    meta = {
        k: v for k, v in (raw.get("metadata") or {}).items() if k not in ("resourceVersion", "managedFields")
    }
    return orjson.dumps({**{k: v for k, v in raw.items() if k != "status"}, "metadata": meta})


class Reconciler:
    """Reconciles one OnecloudCluster at a time from what the cache holds (the worker never runs two
    passes of one key at once); writes go through one field manager and a shared apply limiter."""

    def __init__(
        self,
        kube: Kube,
        cache: Cache,
        recorder: Recorder,
        metrics: Metrics,
        *,
        field_manager: str,
        apply_limiter: anyio.CapacityLimiter,
        adopt_managers: tuple[str, ...] = takeover.GO_FIELD_MANAGERS,
        provisioner: provisioning.Provisioner | None = None,
        registrar: registration.Registrar | None = None,
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.recorder = recorder
        self.metrics = metrics
        self.field_manager = field_manager
        self.limiter = apply_limiter
        self.provisioner = provisioner
        """None: no MySQL provisioning at all (every cluster as if it set no ``spec.mysql.host``)."""
        self.registrar = registrar
        """None: no keystone registration (``--keystone-url none``): status says ``keystone: NotManaged``."""
        self.adoption = adoption.Adoption(
            kube, cache, recorder, field_manager=field_manager, adopt_managers=adopt_managers
        )
        self.clock = time.monotonic
        self._memos: dict[ClusterKey, _Memo] = {}
        self._held: dict[ClusterKey, dict[ObjectKey, tuple[str, bytes]]] = {}
        """Per cluster, each object's (intent hash, live slim body) last found to hold: kept at rest too (a
        version bump from rest compares only what it changes), ~20 kB a cluster (:class:`diff.Memo`)."""
        self._status_written: dict[ClusterKey, float] = {}
        """When this process last wrote each cluster's status (the clock's time)."""
        self._status_due: dict[ClusterKey, float] = {}
        """When a deferred status write's pass is scheduled, per cluster."""
        self.status_allowed: Callable[[], bool] = lambda: True
        """False while the Pods are not listed yet: the status would not know which cannot run."""
        self._withheld: set[ClusterKey] = set()
        self._status_yield: dict[ClusterKey, float] = {}
        """Since when each cluster's due status write has been yielding to other clusters' applies."""
        self._yielding: set[ClusterKey] = set()
        """The clusters whose due status write waits for the apply queue to drain (release_yielded)."""

    async def reconcile(self, key: ClusterKey) -> Outcome | None:
        """One pass over one cluster; None when the cluster is gone. API trouble raises."""
        raw = self.cache.clusters.get(key)
        if raw is None:
            for held in (self._memos, self._held, self._status_written, self._status_due, self._status_yield):
                held.pop(key, None)
            self._yielding.discard(key)
            if self.provisioner is not None:
                await self.provisioner.forget(key)
            if self.registrar is not None:
                await self.registrar.forget(key)
            return None
        logger = logging.LoggerAdapter(log, {"cluster": f"{key[0]}/{key[1]}"})
        secrets = self._complete_credentials(key)
        try:
            cluster = self._cluster(key, raw)
            plan = self._plan(key, cluster, secrets)  # secrets None: placeholders
        except ValidationError as exc:
            return await self._spec_error(raw, "InvalidSpec", describe_validation_error(exc), logger)
        except errors.SpecError as exc:
            return await self._spec_error(raw, "InvalidSpec", str(exc), logger)
        restored = None
        if secrets is None or any(
            n not in self._secret_names(key) for n in certificates.secret_names(key[1])
        ):
            restored = await self._ensure_secrets(cluster)  # a spec error above touched nothing
            secrets = self._complete_credentials(key)
            if secrets is None:
                raise errors.TransientError("the credentials Secret was not stored; retrying")
            plan = self._plan(key, cluster, secrets)
        outcome = Outcome()
        if restored:
            outcome.keystone_error, outcome.keystone_reason = restored, BOOTSTRAP_ROTATION
            await self.recorder.emit(raw, "Warning", BOOTSTRAP_ROTATION, "Credentials", restored)
        gated = self._observed(key, cluster)
        report = await self._provision(key, plan, secrets, outcome, logger)
        registered = await self._register(raw, key, plan, secrets, outcome, logger)
        if report.ensured != gated.databases or registered.accounts != gated.accounts:
            plan = self._plan(key, cluster, secrets)  # a gate opened
        for comp in plan.components:
            replaced = comp.component.replaces_pods
            # Before the workload that replaces them: their anti-affinity would keep its pods off their nodes.
            # Once that workload is ours, an earlier pass retired them (a cold start lists no Pods for it).
            if replaced and comp.state is planner.State.ENABLED and not self._ours(key, comp):
                await self.adoption.retire_pods(key, plan, replaced.format(cluster=key[1]), outcome, logger)
        await self._apply(key, plan, outcome, logger)
        await self._prune(plan, key, cluster.metadata.uid or "", outcome, logger)
        if not outcome.failed:
            await self.adoption.retire(plan, key, secrets, outcome, logger)
        await self._report(raw, cluster, plan, key, outcome, report, registered)
        if (memo := self._memos.get(key)) is not None:
            memo.rest()
        if cluster.spec.keystone.bootstrap_password not in (None, secrets.get(credentials.SYSADMIN_KEY)):
            note = "spec.keystone.bootstrapPassword differs from the credentials Secret, which wins: ignored"
            await self.recorder.emit(raw, "Warning", "BootstrapPasswordIgnored", "Credentials", note)
        return outcome

    def _checksum(self, key: ClusterKey, cluster: OnecloudCluster) -> str:
        memo = self._memos.get(key)
        if memo is None or memo.cluster is not cluster:
            return status.spec_checksum(cluster)
        if memo.checksum is None:
            memo.checksum = status.spec_checksum(cluster)
        return memo.checksum

    def _applies_pending(self) -> bool:
        """Whether object applies (of other clusters: this pass's are done) hold or wait for the limiter."""
        stats = self.limiter.statistics()
        return stats.borrowed_tokens > 0 or stats.tasks_waiting > 0

    def release_yielded(self) -> set[ClusterKey]:
        """The clusters whose status writes yielded to queued applies, once none are queued: each needs a
        pass (the worker asks after every pass; the last pass that applied is the one that drained them)."""
        if not self._yielding or self._applies_pending():
            return set()
        keys, self._yielding = self._yielding, set()
        return keys

    def release_withheld(self) -> set[ClusterKey]:
        """The clusters whose status writes waited for the Pods' list (now done): each needs a pass."""
        keys, self._withheld = self._withheld, set()
        return keys

    # ---- steps -------------------------------------------------------------------------------

    def _cluster(self, key: ClusterKey, raw: dict[str, Any]) -> OnecloudCluster:
        """The CR parsed, or the last parse when only its status or resourceVersion moved since."""
        source = _source(raw)
        memo = self._memos.get(key)
        if memo is None or memo.source != source:
            cluster = OnecloudCluster.model_validate({k: v for k, v in raw.items() if k != "status"})
            memo = self._memos[key] = _Memo(
                source, cluster, diff=diff.Memo(held=self._held.setdefault(key, {}))
            )
        return memo.cluster

    def _plan(
        self, key: ClusterKey, cluster: OnecloudCluster, secrets: dict[str, str] | None
    ) -> planner.Plan:
        """The plan from the cache's gate view; the last one again when the view, or what the planner
        decides from it (:class:`planner.Decisions`), has not changed."""
        view = planner.gate_view(cluster, self._observed(key, cluster))
        memo = self._memos[key]
        if memo.plan is not None and memo.secrets == secrets and memo.cluster is cluster:
            if memo.view == view:
                return memo.plan
            if planner.decisions(cluster, view, secrets) == memo.plan.decisions:
                memo.view = view  # a rollout step that opens or closes no gate: the same plan
                return memo.plan
        memo.plan = planner.plan(cluster, view, secrets)
        memo.view, memo.secrets, memo.diff = view, secrets, memo.diff.successor()
        return memo.plan

    def _observed(self, key: ClusterKey, cluster: OnecloudCluster) -> Observed:
        """The cache's view, with the databases this process has ensured (the planner's database gate)."""
        seen = self.cache.observed(key)
        databases = self.provisioner.observed(key, cluster) if self.provisioner is not None else None
        accounts = self.registrar.observed(key) if self.registrar is not None else None
        if databases is None and accounts is None:
            return seen
        return dataclasses.replace(seen, databases=databases, accounts=accounts)

    async def _provision(
        self,
        key: ClusterKey,
        plan: planner.Plan,
        secrets: dict[str, str],
        outcome: Outcome,
        logger: logging.LoggerAdapter[Any],
    ) -> provisioning.Report:
        """The cluster's MySQL databases, users and grants (when it sets ``spec.mysql.host``)."""
        if self.provisioner is None:
            return provisioning.NOT_MANAGED
        report = await self.provisioner.ensure(key, plan, secrets)
        if report.error:
            outcome.database_error = report.error
            logger.warning("database provisioning failed (workloads left as they are): %s", report.error)
        return report

    async def _register(
        self,
        raw: dict[str, Any],
        key: ClusterKey,
        plan: planner.Plan,
        secrets: dict[str, str],
        outcome: Outcome,
        logger: logging.LoggerAdapter[Any],
    ) -> registration.Report:
        """The cluster's keystone accounts, services and endpoints, once keystone is available."""
        if self.registrar is None:
            return registration.NOT_MANAGED
        identity = plan.component(catalog.IDENTITY)
        seen = self.cache.observed(key).workloads.get(identity.workloads[0])
        available = identity.state is not planner.State.DISABLED and seen is not None and seen.available > 0
        report = await self.registrar.ensure(key, plan, secrets, available)
        if report.warning:
            await self.recorder.emit(
                raw, "Warning", "KeystoneCertificateUnverified", "Keystone", report.warning
            )
        if report.error:
            outcome.keystone_error, outcome.keystone_reason = report.error, report.reason
            logger.warning("keystone registration failed (workloads left as they are): %s", report.error)
        return report

    def _ours(self, key: ClusterKey, comp: planner.ComponentPlan) -> bool:
        """Whether every workload of the component exists and was applied by this operator."""
        held = [self.cache.get(comp.component.kind.value, key[0], name) for name in comp.workloads]
        return all(c is not None and diff.applied_by_us(c) for c in held)

    def _secret_names(self, key: ClusterKey) -> set[str]:
        return {k[2] for k, _ in self.cache.owned_by(key) if k[0] == "Secret"}

    def _complete_credentials(self, key: ClusterKey) -> dict[str, str] | None:
        """The cluster's credentials when the Secret holds every key the configs need, else None."""
        held = self.cache.credentials.get(key)
        if held is None or any(k not in held for k in credentials.password_keys()):
            return None
        return held

    async def _ensure_secrets(self, cluster: OnecloudCluster) -> str | None:
        """Create the cluster's Secrets that do not exist yet, and add the keys a credentials Secret lacks
        (a deleted key is regenerated, but for ``sysadmin-password``: keystone's bootstrap password
        cannot be rotated, its value is restored and the note returned); never change a value that
        exists."""
        namespace, name = cluster.metadata.namespace or "default", cluster.metadata.name
        bodies: list[JSON] = []
        restored = None
        held = self.cache.credentials.get((namespace, name))
        secret_name = credentials.secret_name(name)
        if held is None and self.cache.get("Secret", namespace, secret_name) is None:
            bodies.append(
                credentials.generate(cluster, await self.adoption.go_cluster_config(namespace, name))
            )
        elif held is not None:
            fresh = credentials.generate(cluster)["data"]
            added = {k: v for k, v in fresh.items() if k not in held}
            if credentials.SYSADMIN_KEY in added:
                value = await self._bootstrap_password(namespace, name)
                if value is not None:
                    added[credentials.SYSADMIN_KEY] = base64.b64encode(value.encode()).decode()
                    restored = (
                        f"{credentials.SYSADMIN_KEY} was deleted from {secret_name}: keystone's bootstrap "
                        "password cannot be rotated this way; its value is restored"
                    )
            if added:
                patched = await self.kube.merge_patch(
                    kinds.RESOURCES["Secret"],
                    namespace,
                    secret_name,
                    {"data": added},
                    field_manager=self.field_manager,
                )
                await self.cache.remember(patched)
        missing = {
            n for n in certificates.secret_names(name) if self.cache.get("Secret", namespace, n) is None
        }
        if missing:
            bodies += await anyio.to_thread.run_sync(certificates.generate, cluster, missing)
        for body in bodies:
            try:
                created = await self.kube.create(
                    kinds.RESOURCES["Secret"], namespace, body, field_manager=self.field_manager
                )
            except errors.Conflict:
                # It exists (the Go operator's certificates, or made by hand) and wins: label it ours so the
                # watch sees it and no pass tries again.
                created = await self.kube.merge_patch(
                    kinds.RESOURCES["Secret"],
                    namespace,
                    body["metadata"]["name"],
                    {"metadata": {"labels": body["metadata"]["labels"]}},
                    field_manager=self.field_manager,
                )
            await self.cache.remember(created)
        return restored

    async def _bootstrap_password(self, namespace: str, name: str) -> str | None:
        """The sysadmin password keystone has: the one that last logged in, else the keystone config's."""
        if self.registrar is not None and (known := self.registrar.sysadmin_password((namespace, name))):
            return known
        comp = catalog.BY_NAME[catalog.IDENTITY]
        config = comp.config
        workload = f"{name}-{comp.name}"
        try:
            secret = await self.kube.get(
                kinds.RESOURCES["Secret"], namespace, render.config_secret_name(workload)
            )
        except errors.NotFound:
            return None
        text = certificates.decoded(secret.get("data") or {}, config.file_name if config else "")
        try:
            loaded = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            return None
        value = loaded.get("bootstrap_admin_user_password") if isinstance(loaded, dict) else None
        return value if isinstance(value, str) and value else None

    async def _apply(
        self, key: ClusterKey, plan: planner.Plan, outcome: Outcome, logger: logging.LoggerAdapter[Any]
    ) -> None:
        desired = plan.objects
        live = {o.key: c for o in desired if (c := self.cache.get(*o.key)) is not None}
        memo = self._memos.get(key)
        known = memo.diff if memo is not None and memo.plan is plan else diff.Memo()
        todo = diff.changes(desired, live, known)
        outcome.skipped = len(desired) - len(todo)
        sent = {id(c.desired) for c in todo}
        skipped: dict[str, int] = {}
        for obj in desired:
            if id(obj) not in sent:
                skipped[obj.kind] = skipped.get(obj.kind, 0) + 1
        for kind, count in skipped.items():  # a labels() lookup costs ~15 us: once per kind, not per object
            self.metrics.skipped.labels(kind).inc(count)
        for rank in sorted({kinds.rank(c.desired.kind) for c in todo}):
            async with anyio.create_task_group() as tg:
                for change in (c for c in todo if kinds.rank(c.desired.kind) == rank):
                    tg.start_soon(self._apply_one, change, outcome, logger, known)

    async def _apply_one(
        self, change: diff.Change, outcome: Outcome, logger: logging.LoggerAdapter[Any], known: diff.Memo
    ) -> None:
        obj = change.desired
        label = f"{obj.kind}/{obj.name}"
        try:
            async with self.limiter:
                if change.live is not None and not diff.applied_by_us(change.live):
                    await self.adoption.take_over(change, logger)
                applied = await self.kube.apply(change.body, field_manager=self.field_manager)
                applied.setdefault("kind", obj.kind)
                if await self.adoption.adopt_fields(applied, logger):
                    # It existed unseen (no label of ours, as the Go operator's etcd Services): now that its
                    # fields are ours, the apply removes what we do not set.
                    applied = await self.kube.apply(change.body, field_manager=self.field_manager)
        except (errors.ApiError, errors.TransientError) as exc:
            outcome.failures.append(f"{label}: {exc}")
            logger.warning("apply %s failed: %s", label, exc)
            return
        await self.cache.remember(applied)
        stored = self.cache.get(*obj.key)
        if stored is not None and stored.resource_version == applied.get("metadata", {}).get(
            "resourceVersion"
        ):
            # The apply's answer holds our intent (our fields, forced): the next pass need not compare it.
            known.hold(obj.key, diff.intent_of(change.body), stored.raw)
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
                await self.kube.delete(kinds.RESOURCES[kind], namespace, name, uid=cached.uid)
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
        report: provisioning.Report,
        registered: registration.Report,
    ) -> None:
        observed = self.cache.observed(key)
        previous = raw.get("status") or {}
        trouble = (outcome.keystone_reason, outcome.keystone_error) if outcome.keystone_error else None
        new = status.build(
            cluster,
            plan,
            observed,
            outcome.failures,
            previous,
            now_rfc3339(),
            report.state,
            report.error,
            registered.state,
            trouble,
            self._checksum(key, cluster),
        )
        ready = {name: comp["phase"] == "Normal" for name, comp in new["components"].items()}
        self.metrics.components(f"{key[0]}/{key[1]}", ready)
        now = self.clock()
        last = self._status_written.get(key)
        delay = status.write_delay(previous, new, None if last is None else now - last)
        if delay is None:
            self._status_yield.pop(key, None)
            self._yielding.discard(key)
        elif delay == 0 and self._applies_pending():
            # Other clusters' applies are queued: they change the clusters, this only reports (and a CR
            # status write costs the API server ~5 object applies). It waits until they drain
            # (release_yielded), at most STATUS_YIELD: the pass scheduled then writes regardless.
            since = self._status_yield.setdefault(key, now)
            if now - since < STATUS_YIELD:
                delay = STATUS_YIELD - (now - since)
                self._yielding.add(key)
        if delay is not None and not self.status_allowed():
            self._withheld.add(key)  # written by the pass that follows the Pods' list
        elif delay == 0:
            await self._write_status(raw, new)
            outcome.status_written = True
            self._status_written[key] = self.clock()
            self._status_due.pop(key, None)
            self._status_yield.pop(key, None)
            self._yielding.discard(key)
        elif delay is not None and self._status_due.get(key, 0.0) <= now:
            outcome.status_due = delay  # one scheduled pass writes what moved meanwhile
            self._status_due[key] = now + delay
        moved = outcome.created or outcome.updated or outcome.drifted or outcome.deleted or outcome.failed
        if (
            all(ready.values())
            and not moved
            and (delay is None or (delay == 0 and key not in self._withheld))
        ):
            # At rest: the next pass is a resync or a rare event; 100 clusters' plans held ~40 MiB for it.
            self._memos.pop(key, None)
        await self._events(raw, outcome)
        degraded = _condition(new, "Degraded")
        cause = degraded.get("reason")
        if cause in POD_CAUSES and cause != _condition(previous, "Degraded").get("reason"):
            # One Warning per cause: when pods start failing so (not every pass, nor as more pods follow).
            await self.recorder.emit(raw, "Warning", degraded["reason"], "Rollout", degraded["message"])

    async def _write_status(self, raw: dict[str, Any], new: dict[str, Any]) -> None:
        meta = raw["metadata"]
        body = {
            "apiVersion": raw.get("apiVersion", kinds.GROUP_VERSION),
            "kind": kinds.CLUSTER_KIND,
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
        if outcome.database_error:
            await emit(raw, "Warning", "DatabaseUnavailable", "Database", outcome.database_error)
        if outcome.keystone_error:
            await emit(raw, "Warning", outcome.keystone_reason, "Keystone", outcome.keystone_error)

    async def _spec_error(
        self, raw: dict[str, Any], reason: str, message: str, logger: logging.LoggerAdapter[Any]
    ) -> Outcome:
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
        outcome = Outcome(spec_error=message)
        if status.without_times(new) != status.without_times(previous):
            await self._write_status(raw, new)
            outcome.status_written = True
        await self.recorder.emit(raw, "Warning", reason, "Plan", message)
        return outcome
