"""Taking over what the Go operator left, and retiring what the config Secrets replaced.

The reconciler's I/O around :mod:`takeover` (pure): before and after applying an object someone else
wrote, its fields become ours; a workload whose immutable selector differs is replaced; once a
component runs from its config Secret, the ConfigMap it replaces is deleted (a Warning names edited
options), then the Go operator's plaintext cluster config; the bare Pods a workload replaces (the Go
operator's etcd members) go before it is created. Each one-off look-up happens once per process.
"""

from __future__ import annotations

import logging
from typing import Any

from cloudpods_operator import (
    catalog,
    clusterconfig,
    diff,
    errors,
    images,
    kinds,
    planner,
    render,
    serviceconfig,
    takeover,
)
from cloudpods_operator.cache import Cache
from cloudpods_operator.kinds import JSON
from cloudpods_operator.kube.client import Kube
from cloudpods_operator.kube.events import Recorder
from cloudpods_operator.observed import ClusterKey, ObjectKey
from cloudpods_operator.outcome import Outcome

log = logging.getLogger(__name__)


class Adoption:
    """What one operator process took over and retired, and how (one field manager, the managers it
    adopts fields from)."""

    def __init__(
        self,
        kube: Kube,
        cache: Cache,
        recorder: Recorder,
        *,
        field_manager: str,
        adopt_managers: tuple[str, ...] = takeover.GO_FIELD_MANAGERS,
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.recorder = recorder
        self.field_manager = field_manager
        self.adopt_managers = adopt_managers
        self._go_config_retired: set[ClusterKey] = set()
        self._pods_retired: set[tuple[ClusterKey, str]] = set()
        self._adopted: set[ObjectKey] = set()

    async def go_cluster_config(self, namespace: str, name: str) -> dict[str, str] | None:
        """The passwords of the Go operator's ``<cluster>-cluster-config``, when this cluster was its."""
        try:
            config = await self.kube.get(
                kinds.RESOURCES["ConfigMap"], namespace, clusterconfig.configmap_name(name)
            )
        except errors.NotFound:
            return None
        text = (config.get("data") or {}).get(clusterconfig.DATA_KEY)
        if not text:
            return None
        adopted = clusterconfig.parse(text)
        log.info("%s/%s: adopting the passwords of the Go operator's cluster config", namespace, name)
        return adopted.credentials

    async def retire(
        self,
        plan: planner.Plan,
        key: ClusterKey,
        secrets: dict[str, str],
        outcome: Outcome,
        logger: logging.LoggerAdapter[Any],
    ) -> None:
        """Delete what the config Secrets replaced, once nothing needs it: a component's old config
        ConfigMap (the Go operator's or an earlier version's) when its workloads run our template, and the
        Go operator's plaintext cluster config once the credentials hold its passwords."""
        observed = self.cache.observed(key)
        sent = {name.split("/", 1)[1] for name in (*outcome.created, *outcome.updated, *outcome.drifted)}
        ctx = render.Context(plan.cluster, images.edition_of(plan.cluster))
        for comp in plan.components:
            if comp.state is planner.State.WAITING or comp.component.config is None:
                continue
            for workload in comp.workloads:
                old = self.cache.get("ConfigMap", key[0], workload)
                state = observed.workloads.get(workload)
                if old is None or workload in sent:
                    continue
                # Enabled: once its pods run from the Secret; disabled: nothing runs, nothing mounts it.
                running = state is not None and state.rolled_out
                if comp.state is planner.State.ENABLED and not running:
                    continue
                if comp.state is planner.State.DISABLED and state is not None:
                    continue
                await self._delete_config_map(key, workload, outcome, logger)
                edited = self._edited_options(ctx, comp.component, old.body(), secrets)
                if edited:
                    note = (
                        f"{workload}: options not carried over (they differ from ours): {', '.join(edited)}"
                    )
                    await self.recorder.emit(
                        self.cache.clusters[key], "Warning", "ConfigEditsDropped", "Retire", note
                    )
        await self.adopt_retained(plan, key, logger)
        adopted = clusterconfig.CLUSTER_CONFIG_KEY in secrets and key not in self._go_config_retired
        if adopted and self._configs_all_moved(plan, key):  # the plaintext cluster config goes last
            await self._retire_go_cluster_config(key, outcome, logger)

    def _configs_all_moved(self, plan: planner.Plan, key: ClusterKey) -> bool:
        """No component waits (so every config Secret is applied) and no old config ConfigMap is left."""
        if any(c.state is planner.State.WAITING for c in plan.components):
            return False
        workloads = {w for c in plan.components for w in c.workloads}
        return not any(k[0] == "ConfigMap" and k[2] in workloads for k, _ in self.cache.owned_by(key))

    async def _retire_go_cluster_config(
        self, key: ClusterKey, outcome: Outcome, logger: logging.LoggerAdapter[Any]
    ) -> None:
        """Once per process and adopted cluster: one GET, and the delete if it is still there."""
        name = clusterconfig.configmap_name(key[1])
        try:
            await self.kube.get(kinds.RESOURCES["ConfigMap"], key[0], name)
        except errors.NotFound:
            self._go_config_retired.add(key)
            return
        await self._delete_config_map(key, name, outcome, logger)
        self._go_config_retired.add(key)

    async def adopt_retained(
        self, plan: planner.Plan, key: ClusterKey, logger: logging.LoggerAdapter[Any]
    ) -> None:
        """Objects kept but not applied (the Service of a component disabled in the product): their Go
        operator's fields become ours too, once per process."""
        wanted = {o.key for o in plan.objects}
        for okey, cached in self.cache.owned_by(key):
            if okey in wanted or okey in self._adopted or okey[0] not in kinds.PRUNABLE_KINDS:
                continue
            self._adopted.add(okey)
            if diff.applied_by_us(cached):
                continue
            try:
                await self.adopt_fields(
                    await self.kube.get(kinds.RESOURCES[okey[0]], okey[1], okey[2]), logger
                )
            except errors.NotFound:
                continue

    @staticmethod
    def _edited_options(
        ctx: render.Context, comp: catalog.Component, old: JSON, secrets: dict[str, str]
    ) -> list[str]:
        if comp.config is None or comp.config.template is not None:
            return []
        ours = serviceconfig.options(ctx, comp, secrets)
        return takeover.differing_options((old.get("data") or {}).get("config", ""), ours)

    async def retire_pods(
        self,
        key: ClusterKey,
        plan: planner.Plan,
        selector: str,
        outcome: Outcome,
        logger: logging.LoggerAdapter[Any],
    ) -> None:
        """The Go operator's bare Pods a workload replaced, once per process: only those the cluster owns."""
        if (key, selector) in self._pods_retired:
            return
        pods = kinds.RESOURCES["Pod"]
        listed = await self.kube.list(pods, key[0], labelSelector=selector)
        uid = plan.cluster.metadata.uid
        for pod in listed.get("items", []):
            refs = pod.get("metadata", {}).get("ownerReferences") or []
            if not any(r.get("uid") == uid and r.get("controller") for r in refs):
                continue
            name = pod["metadata"]["name"]
            await self.kube.delete(pods, key[0], name, uid=pod["metadata"]["uid"])
            outcome.deleted.append(f"Pod/{name}")
            logger.info("deleted Pod/%s: replaced by the operator's workload (%s)", name, selector)
        self._pods_retired.add((key, selector))

    async def _delete_config_map(
        self, key: ClusterKey, name: str, outcome: Outcome, logger: logging.LoggerAdapter[Any]
    ) -> None:
        try:
            await self.kube.delete(kinds.RESOURCES["ConfigMap"], key[0], name)
        except (errors.ApiError, errors.TransientError) as exc:
            outcome.failures.append(f"delete ConfigMap/{name}: {exc}")
            return
        outcome.deleted.append(f"ConfigMap/{name}")
        logger.info("deleted ConfigMap/%s: its config now lives in a Secret", name)

    async def take_over(self, change: diff.Change, logger: logging.LoggerAdapter[Any]) -> None:
        """First apply of an object someone else wrote (the Go operator): own its fields first, so the
        apply removes what we no longer set; a workload whose immutable selector differs is replaced."""
        obj = change.desired
        resource = kinds.RESOURCES[obj.kind]
        live = await self.kube.get(resource, obj.namespace, obj.name)
        if obj.kind in kinds.WORKLOAD_KINDS and takeover.selector_changed(live, change.body):
            logger.warning("%s/%s has another selector (immutable): replacing it", obj.kind, obj.name)
            await self.kube.delete(resource, obj.namespace, obj.name, uid=live["metadata"]["uid"])
            return
        await self.adopt_fields(live, logger)

    async def adopt_fields(self, live: JSON, logger: logging.LoggerAdapter[Any]) -> bool:
        """Move the Go operator's Update-owned fields of ``live`` to our manager; True if it did."""
        meta = live.get("metadata", {})
        moved = takeover.upgraded_managed_fields(
            meta.get("managedFields") or [],
            manager=self.field_manager,
            adopt=self.adopt_managers,
            api_version=str(live.get("apiVersion", "")),
        )
        if moved is None:
            return False
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
            {"op": "replace", "path": "/metadata/managedFields", "value": moved},
        ]
        resource = kinds.RESOURCES[str(live.get("kind"))]
        await self.kube.json_patch(
            resource, meta.get("namespace"), meta["name"], ops, field_manager=self.field_manager
        )
        logger.info(
            "took over the fields of %s/%s from %s",
            live.get("kind"),
            meta["name"],
            ", ".join(self.adopt_managers),
        )
        return True
