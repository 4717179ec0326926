"""The Reconciler in-process against the real API server, as controller-runtime's envtest tests a controller.

No operator process and no watches: the test lists what the watches would deliver into the cache,
calls ``reconcile`` directly and checks both its Outcome and what the API server then holds
(objects, Secrets, status, Events), and how the worker settles each outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
import yaml

from cloudpods_operator import (
    certificates,
    credentials,
    errors,
    kinds,
    observed,
    planner,
    provisioning,
    registration,
)
from cloudpods_operator.cache import Cache
from cloudpods_operator.kinds import JSON
from cloudpods_operator.kube.client import Kube
from cloudpods_operator.kube.events import Recorder
from cloudpods_operator.metrics import Metrics
from cloudpods_operator.model import OnecloudCluster
from cloudpods_operator.observed import ClusterKey
from cloudpods_operator.outcome import Outcome
from cloudpods_operator.reconciler import STATUS_YIELD, Reconciler, Result, settle
from cloudpods_operator.render import CONFIG_HASH_ANNOTATION, MANAGED_BY
from cloudpods_operator.workqueue import WorkQueue

from . import conftest
from .cloud import EXAMPLE
from .helpers import eventually

pytestmark = pytest.mark.integration
FIELD_MANAGER = "cloudpods-operator"


@dataclass
class Harness:
    """One in-process reconciler over one namespace, its cache filled by listing (what watches do first)."""

    kube: Kube
    namespace: str
    queue: WorkQueue[ClusterKey]
    cache: Cache
    reconciler: Reconciler

    async def sync(self) -> None:
        """List every watched kind of the namespace into the cache, as the watches' first list does."""
        selector = f"app.kubernetes.io/managed-by={MANAGED_BY}"
        await self._list(kinds.CLUSTER_KIND, None)
        for kind in kinds.OWNED_KINDS:
            await self._list(kind, selector)
        await self._list("Pod", selector)  # the manager's Pod watch: why pods cannot run

    async def _list(self, kind: str, selector: str | None) -> None:
        query = {"labelSelector": selector} if selector else {}
        page = await self.kube.list(kinds.RESOURCES[kind], self.namespace, **query)
        await self.cache.replace(kind, page.get("items", []))

    async def apply_cluster(self, **annotations: str) -> JSON:
        doc: JSON = yaml.safe_load(EXAMPLE.read_text())
        doc["metadata"]["namespace"] = self.namespace
        if annotations:
            doc["metadata"]["annotations"] = annotations
        return await self.kube.apply(doc, field_manager="test")

    @property
    def key(self) -> ClusterKey:
        return (self.namespace, "default")

    async def reconcile(self) -> Outcome:
        await self.sync()
        outcome = await self.reconciler.reconcile(self.key)
        assert outcome is not None
        return outcome

    async def get(self, kind: str, name: str) -> JSON:
        return await self.kube.get(kinds.RESOURCES[kind], self.namespace, name)

    async def names(self, kind: str) -> set[str]:
        page = await self.kube.list(kinds.RESOURCES[kind], self.namespace)
        return {o["metadata"]["name"] for o in page.get("items", [])}

    async def sync_nodes(self) -> None:
        """The Node watch's part (the operator process has it): baremetal-agent runs 0 without such a node
        (else its pod is Unschedulable)."""
        nodes = await self.kube.list(kinds.RESOURCES["Node"], None)
        await self.cache.replace("Node", nodes.get("items", []))

    async def patch_spec(self, spec: JSON) -> JSON:
        """Merge-patch the example cluster's spec, as ``kubectl edit oc`` would; the cluster it returns."""
        return await self.kube.merge_patch(
            kinds.RESOURCES[kinds.CLUSTER_KIND],
            self.namespace,
            "default",
            {"spec": spec},
            field_manager="test",
        )

    async def workload_versions(self) -> dict[str, tuple[str, int]]:
        """Each workload's UID and generation: what a write of ours would move (its controller moves the
        resourceVersion with every status update, so that one proves nothing)."""
        out = {}
        for kind in sorted(kinds.WORKLOAD_KINDS):
            page = await self.kube.list(kinds.RESOURCES[kind], self.namespace)
            for item in page.get("items", []):
                meta = item["metadata"]
                out[f"{kind}/{meta['name']}"] = (meta["uid"], int(meta["generation"]))
        return out

    async def config_hashes(self) -> dict[str, str | None]:
        """Every workload of the namespace and its pod template's config hash (None: it has no config)."""
        out = {}
        for kind in sorted(kinds.WORKLOAD_KINDS):
            page = await self.kube.list(kinds.RESOURCES[kind], self.namespace)
            for item in page.get("items", []):
                annotations = item["spec"]["template"].get("metadata", {}).get("annotations") or {}
                out[f"{kind}/{item['metadata']['name']}"] = annotations.get(CONFIG_HASH_ANNOTATION)
        return out

    async def events(self) -> list[JSON]:
        page = await self.kube.list(kinds.RESOURCES["Event"], self.namespace)
        items: list[JSON] = page.get("items", [])
        return items


def new_reconciler(
    client: Kube,
    cache: Cache,
    provisioner: provisioning.Provisioner | None = None,
    registrar: registration.Registrar | None = None,
) -> Reconciler:
    """A reconciler as the manager builds one (a fresh one is what an operator restart sees)."""
    return Reconciler(
        client,
        cache,
        Recorder(client, "envtest"),
        Metrics(),
        field_manager=FIELD_MANAGER,
        apply_limiter=anyio.CapacityLimiter(16),
        provisioner=provisioner,
        registrar=registrar,
    )


@contextlib.asynccontextmanager
async def open_harness(
    kubeconfig: object,
    namespace: str,
    provision: Callable[[Kube], provisioning.Provisioner] | None = None,
    register: Callable[[Kube], registration.Registrar] | None = None,
) -> AsyncIterator[Harness]:
    """A harness over ``namespace``; afterwards its provisioner and registrar are closed and its NodePorts
    freed."""
    client = await Kube.connect(str(kubeconfig))
    queue: WorkQueue[ClusterKey] = WorkQueue()
    cache = Cache(queue.add)
    reconciler = new_reconciler(client, cache, provision and provision(client), register and register(client))
    harness = Harness(client, namespace, queue, cache, reconciler)
    try:
        yield harness
    finally:
        if harness.reconciler.provisioner is not None:  # a test may have replaced the reconciler
            await harness.reconciler.provisioner.close()
        if harness.reconciler.registrar is not None:
            await harness.reconciler.registrar.close()
        try:
            await _free_node_ports(kubeconfig, namespace)
        finally:
            await client.close()


@pytest.fixture
async def harness(kube: conftest.Kube, crd: None, namespace: str) -> AsyncIterator[Harness]:
    async with open_harness(kube.kubeconfig, namespace) as opened:
        yield opened


async def _free_node_ports(kubeconfig: object, namespace: str) -> None:
    """NodePorts and host ports are cluster-wide: the next test needs them, so the Services and the
    DaemonSets' host-network pods go before the namespace does (else the next test's pods are
    Unschedulable, which its status rightly reports): the workloads go, and their pods with them."""
    client = await Kube.connect(str(kubeconfig))
    services, pods = kinds.RESOURCES["Service"], kinds.RESOURCES["Pod"]
    workloads = [kinds.RESOURCES[k] for k in sorted(kinds.WORKLOAD_KINDS)]
    try:
        for resource in (services, *workloads):
            for item in (await client.list(resource, namespace)).get("items", []):
                await client.delete(resource, namespace, item["metadata"]["name"])

        async def gone() -> None:
            assert (await client.list(services, namespace)).get("items") == []
            left = (await client.list(pods, namespace)).get("items", [])
            assert not [p for p in left if p["spec"].get("hostNetwork")], "host-network pods still there"

        await eventually(gone, timeout=60)
    finally:
        await client.close()


def _planned(doc: JSON) -> planner.Plan:
    """The plan of a first pass: nothing runs yet, so whatever waits for keystone is held back."""
    return planner.plan(OnecloudCluster.model_validate(doc), observed.Observed())


def conditions(doc: JSON) -> dict[str, dict[str, Any]]:
    """A cluster's conditions by type."""
    return {c["type"]: c for c in doc.get("status", {}).get("conditions", [])}


async def test_first_pass_creates_the_plan_secrets_status_and_an_event(harness: Harness) -> None:
    cr = await harness.apply_cluster()
    outcome = await harness.reconcile()
    expected = {f"{o.kind}/{o.name}" for o in _planned(cr).objects}
    assert set(outcome.created) == expected
    assert (outcome.updated, outcome.drifted, outcome.failures, outcome.spec_error) == ([], [], [], None)
    assert outcome.status_written and settle(harness.queue, ("x", "y"), outcome) is Result.SUCCESS

    secrets = {credentials.secret_name("default"), *certificates.secret_names("default")}
    assert secrets <= await harness.names("Secret")
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    assert live["status"]["observedGeneration"] == live["metadata"]["generation"]
    assert set(conditions(live)) == {"Ready", "Progressing", "Degraded"}
    created = [e for e in await harness.events() if e["reason"] == "Created"]
    assert len(created) == 1 and created[0]["regarding"]["uid"] == cr["metadata"]["uid"]

    async def quiet_pass() -> Outcome:
        """Keystone's availability (KWOK makes it Ready) releases the rest: passes until one sends nothing
        and nothing waits any more."""
        done = await harness.reconcile()
        assert (done.created, done.updated, done.drifted, done.failures) == ([], [], [], [])
        now = planner.plan(OnecloudCluster.model_validate(cr), harness.cache.observed(harness.key))
        assert [c.name for c in now.components if c.state is planner.State.WAITING] == []
        assert done.skipped == len(now.objects) > len(expected)
        return done

    await eventually(quiet_pass, timeout=60)
    await quiet_pass()
    uids = {s: (await harness.get("Secret", s))["metadata"]["uid"] for s in secrets}
    await harness.reconcile()
    assert {s: (await harness.get("Secret", s))["metadata"]["uid"] for s in secrets} == uids


async def test_a_spec_that_cannot_be_planned_is_an_outcome_and_touches_nothing(harness: Harness) -> None:
    await harness.apply_cluster(**{"onecloud.yunion.io/edition": "platinum"})
    outcome = await harness.reconcile()
    assert outcome.spec_error is not None and "platinum" in outcome.spec_error
    assert (outcome.created, outcome.updated, outcome.failures) == ([], [], [])
    assert settle(harness.queue, ("x", "y"), outcome) is Result.SPEC_ERROR

    assert await harness.names("Deployment") == set() and await harness.names("Secret") == set()
    degraded = conditions(await harness.get(kinds.CLUSTER_KIND, "default"))["Degraded"]
    assert (degraded["status"], degraded["reason"]) == ("True", "InvalidSpec")
    warnings = [e for e in await harness.events() if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["InvalidSpec"] and "platinum" in warnings[0]["note"]

    second = await harness.reconcile()
    assert not second.status_written  # nothing changed: no status write, and the Event is not repeated
    assert len([e for e in await harness.events() if e["type"] == "Warning"]) == 1


async def test_a_due_status_write_waits_for_other_clusters_applies_to_drain(harness: Harness) -> None:
    """A fleet-wide bump queues ~25 s of applies, and a status write costs the API server ~5 of them: a
    cluster's due status write waits until no apply is queued (the worker asks release_yielded after every
    pass), at most STATUS_YIELD, when the pass scheduled for then writes regardless."""
    await harness.apply_cluster()
    assert (await harness.reconcile()).status_written
    other = object()  # another cluster's apply, in flight on the shared limiter
    await harness.reconciler.limiter.acquire_on_behalf_of(other)
    try:
        await harness.patch_spec({"version": "v3.11.99"})
        bumped = await harness.reconcile()
        assert bumped.updated and not bumped.status_written
        assert bumped.status_due is not None and STATUS_YIELD / 2 < bumped.status_due <= STATUS_YIELD
        assert harness.reconciler.release_yielded() == set()  # still queued
        again = await harness.reconcile()  # a pass meanwhile (a rollout's event) yields too
        assert not again.status_written
    finally:
        harness.reconciler.limiter.release_on_behalf_of(other)
    assert harness.reconciler.release_yielded() == {harness.key}
    assert harness.reconciler.release_yielded() == set()
    written = await harness.reconcile()
    assert written.status_written
    live = await harness.get(kinds.CLUSTER_KIND, "default")
    assert live["status"]["observedGeneration"] == live["metadata"]["generation"]


def _foreign(desired: planner.DesiredObject, namespace: str, **spec: Any) -> JSON:
    """An object under our name made by someone else (as a tool left it), from our own body."""
    body = {k: v for k, v in desired.body.items() if k != "status"}
    meta = {"name": desired.name, "namespace": namespace, "labels": desired.body["metadata"]["labels"]}
    return {**body, "metadata": meta, "spec": {**desired.body["spec"], **spec}}


async def test_an_apply_the_server_refuses_is_a_failure_retried_with_backoff(harness: Harness) -> None:
    """A StatefulSet whose immutable serviceName differs: 422 for it alone, the rest of the plan applied,
    Degraded=ApplyFailed and a Warning Event naming it."""
    cr = await harness.apply_cluster()
    etcd = next(o for o in _planned(cr).objects if o.kind == "StatefulSet")
    await harness.kube.apply(_foreign(etcd, harness.namespace, serviceName="other"), field_manager="someone")
    outcome = await harness.reconcile()
    assert [f.split(":")[0] for f in outcome.failures] == [f"StatefulSet/{etcd.name}"]
    assert "Forbidden" in outcome.failures[0]
    assert len(outcome.created) == len(_planned(cr).objects) - 1

    queue: WorkQueue[ClusterKey] = WorkQueue()
    assert settle(queue, ("x", "y"), outcome) is Result.ERROR and queue.retries(("x", "y")) == 1
    degraded = conditions(await harness.get(kinds.CLUSTER_KIND, "default"))["Degraded"]
    assert (degraded["status"], degraded["reason"]) == ("True", "ApplyFailed")
    assert etcd.name in degraded["message"]
    failed = [e for e in await harness.events() if e["reason"] == "ApplyFailed"]
    assert len(failed) == 1 and etcd.name in failed[0]["note"]


async def test_a_workload_with_another_selector_is_replaced(harness: Harness) -> None:
    """A selector is immutable: a workload left with another one is deleted and made again (as the Go
    operator does), not left failing; a foreign manager's fields are ours after the first apply."""
    cr = await harness.apply_cluster()
    web = next(o for o in _planned(cr).objects if o.kind == "Deployment" and o.component == "web")
    other = {"matchLabels": {"app": "someone-else"}}
    template = {"metadata": {"labels": {"app": "someone-else"}}, "spec": web.body["spec"]["template"]["spec"]}
    before = await harness.kube.create(
        kinds.RESOURCES["Deployment"],
        harness.namespace,
        _foreign(web, harness.namespace, selector=other, template=template),
        field_manager="onecloud-controller-manager",
    )
    outcome = await harness.reconcile()
    assert outcome.failures == []
    after = await harness.get("Deployment", web.name)
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert after["spec"]["selector"] == web.body["spec"]["selector"]
    managers = {e["manager"] for e in after["metadata"]["managedFields"]}
    assert "onecloud-controller-manager" not in managers


async def test_api_errors_raise_for_the_worker(harness: Harness) -> None:
    """Trouble with the API server itself is raised, typed, never swallowed into an Outcome."""
    await harness.apply_cluster()
    await harness.sync()
    await harness.kube.close()
    harness.kube.host = "https://127.0.0.1:9"  # nothing listens on the discard port
    with pytest.raises(errors.TransientError):
        await harness.reconciler.reconcile((harness.namespace, "default"))


async def test_the_recorder_deduplicates_within_its_window(harness: Harness) -> None:
    cr = await harness.apply_cluster()
    recorder = Recorder(harness.kube, "envtest")
    for _ in range(3):
        await recorder.emit(cr, "Warning", "Tested", "Test", "the same note")
    await recorder.emit(cr, "Warning", "Tested", "Test", "another note")
    notes = sorted(e["note"] for e in await harness.events() if e["reason"] == "Tested")
    assert notes == ["another note", "the same note"]


async def test_the_go_operators_fields_become_ours_before_the_first_apply(harness: Harness) -> None:
    """Written with Update by the Go operator's manager: after our first pass it owns nothing, the UID
    is kept, and a field we do not set (its last-applied annotation) is gone."""
    cr = await harness.apply_cluster()
    web = next(o for o in _planned(cr).objects if o.kind == "Deployment" and o.component == "web")
    foreign = _foreign(web, harness.namespace)
    foreign["metadata"]["annotations"] = {"onecloud.yunion.io/last-applied-configuration": "{}"}
    before = await harness.kube.create(
        kinds.RESOURCES["Deployment"], harness.namespace, foreign, field_manager="onecloud-controller-manager"
    )
    outcome = await harness.reconcile()
    assert outcome.failures == [] and f"Deployment/{web.name}" in outcome.updated
    after = await harness.get("Deployment", web.name)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert {e["manager"] for e in after["metadata"]["managedFields"]} <= {
        FIELD_MANAGER,
        "kube-controller-manager",
    }
    assert "onecloud.yunion.io/last-applied-configuration" not in after["metadata"].get("annotations", {})
