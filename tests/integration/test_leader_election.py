"""Two real operator processes and one coordination.k8s.io Lease: one acts, the other stands by.

Short timings (lease 6 s, renew deadline 4 s, retry 1 s) keep the test quick. The Lease is followed with a
watch (every resourceVersion is delivered, so a release to "" that lasts a few milliseconds is still seen),
and hand-over times are measured from the signal to the watch event naming the new holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.api_client import ApiClient

from .conftest import Kube
from .helpers import KEYSTONE_IMAGE, Kubectl, delete_namespace, eventually, example_yaml, new_namespace
from .operator_process import OperatorProcess
from .tcpproxy import api_address, kubeconfig_via, proxied

pytestmark = pytest.mark.integration

LEASE = "cloudpods-operator-it"
DURATION, RENEW_DEADLINE, RETRY = 6.0, 4.0, 1.0
JITTER = 1.2  # the elector waits retry * uniform(1.0, 1.2) between attempts


@dataclass
class LeaseLog:
    """(monotonic time, holderIdentity) for every change of the Lease, from a watch."""

    events: list[tuple[float, str]] = field(default_factory=list)

    def holder(self) -> str | None:
        return self.events[-1][1] if self.events else None

    def first(self, holder: str, after: float = 0.0) -> float | None:
        return next((t for t, h in self.events if h == holder and t >= after), None)

    def since(self, index: int) -> list[str]:
        """The holders of every change from the `index`-th on."""
        return [h for _, h in self.events[index:]]


async def _follow(api: ApiClient, namespace: str, log: LeaseLog) -> None:
    leases = k8s.CoordinationV1Api(api)
    version = "0"
    while True:
        resp: Any = await leases.list_namespaced_lease(
            namespace,
            watch=True,
            field_selector=f"metadata.name={LEASE}",
            resource_version=version,
            allow_watch_bookmarks=False,
            timeout_seconds=120,
            _preload_content=False,
        )
        try:
            while line := await resp.content.readline():
                event = json.loads(line)
                obj = event.get("object") or {}
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if event.get("type") in ("ADDED", "MODIFIED"):
                    log.events.append((time.monotonic(), (obj.get("spec") or {}).get("holderIdentity") or ""))
        finally:
            resp.release()


@contextlib.asynccontextmanager
async def following(api: ApiClient, namespace: str) -> AsyncIterator[LeaseLog]:
    log = LeaseLog()
    task = asyncio.create_task(_follow(api, namespace, log))
    try:
        yield log
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class Pair:
    """Two operator processes electing on one Lease, by identity (op-a, op-b)."""

    operators: dict[str, OperatorProcess]

    def leader(self, name: str) -> OperatorProcess:
        return self.operators[name]

    def other(self, name: str) -> tuple[str, OperatorProcess]:
        return next((n, p) for n, p in self.operators.items() if n != name)


def _operator(kube: Kube, identity: str, lease_ns: str, watched: str, tmp: Path) -> OperatorProcess:
    args = (
        "--leader-elect",
        "--lease-namespace",
        lease_ns,
        "--lease-name",
        LEASE,
        "--lease-duration",
        str(DURATION),
        "--renew-deadline",
        str(RENEW_DEADLINE),
        "--retry-period",
        str(RETRY),
        "--identity",
        identity,
    )
    return OperatorProcess(kube.kubeconfig, (watched,), args, log_path=tmp / f"{identity}.log")


@pytest.fixture
def pair(kube: Kube, kubectl: Kubectl, crd: None, namespace: str, tmp_path: Path) -> Iterator[Pair]:
    """op-a and op-b, both watching a namespace of their own, electing on a Lease in `namespace`."""
    watched = new_namespace(kubectl, "it-le")
    operators = {name: _operator(kube, name, namespace, watched, tmp_path) for name in ("op-a", "op-b")}
    try:
        for op in operators.values():
            op.start(wait_ready=False)
        for op in operators.values():
            op.wait_ready()
        yield Pair(operators)
    finally:
        for op in operators.values():
            op.kill()
        delete_namespace(kubectl, watched)


async def _elected(log: LeaseLog, pair: Pair) -> str:
    async def one_holder() -> str:
        holder = log.holder()
        assert holder in pair.operators, f"lease held by {holder!r}"
        return holder

    holder = await eventually(one_holder, timeout=30)
    elected = len(log.events)

    def renewed_twice() -> bool:
        # Every renewal (each retry period) changes the Lease, so the watch sees it: the holder stays put.
        holders = log.since(elected)
        assert set(holders) <= {holder}, f"the Lease moved from {holder}: {log.events[-4:]}"
        return len(holders) >= 2

    await eventually(renewed_twice, timeout=4 * RETRY * JITTER + DURATION, interval=0.05, retry_on=())
    return holder


def _gauge(op: OperatorProcess) -> float:
    """leader_election_master_status{name=LEASE} (the only Lease these processes use)."""
    return op.metric("leader_election_master_status")


async def test_only_the_leader_holds_the_lease_and_writes(
    pair: Pair, api: ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    async with following(api, namespace) as log:
        leader_name = await _elected(log, pair)
    leader = pair.leader(leader_name)
    _, follower = pair.other(leader_name)
    lease = await k8s.CoordinationV1Api(api).read_namespaced_lease(LEASE, namespace)
    assert lease.spec.holder_identity == leader_name
    assert lease.spec.lease_duration_seconds == int(DURATION)
    assert _gauge(leader) == 1
    assert _gauge(follower) == 0

    watched = leader.namespaces[0]
    kubectl("apply", "-f", "-", input=example_yaml(watched))

    async def reconciled() -> None:
        out = kubectl(
            "get", "oc", "default", "-n", watched, "-o", "jsonpath={.status.components.keystone.image}"
        )
        assert out.stdout == KEYSTONE_IMAGE

    await eventually(reconciled, timeout=120, interval=0.5)
    # Wait until the leader has made two more passes (a resync every 5 s in tests) and the follower has
    # tried the Lease again meanwhile: long enough for a follower that acted to have written.
    passes = leader.metric("controller_runtime_reconcile_total")
    tries = follower.metric("rest_client_requests_total", method="GET")

    def resynced_while_the_follower_tried() -> None:
        assert leader.metric("controller_runtime_reconcile_total") >= passes + 2
        assert follower.metric("rest_client_requests_total", method="GET") > tries

    await eventually(resynced_while_the_follower_tried, timeout=30, interval=0.2)
    assert leader.metric("controller_runtime_reconcile_total") >= 2
    assert leader.writes() > 0
    # Started together, both may find no Lease and POST one: the loser's create is refused (409), as
    # client-go's would be. Beyond that, a follower sends no write at all, not even to the Lease.
    assert follower.writes() == follower.writes(code="409") <= 1, "a follower writes nothing that lands"
    assert follower.metric("controller_runtime_reconcile_total") == 0
    assert follower.metric("rest_client_requests_total", method="GET") > 0, "it does try the Lease"


async def test_sigkill_of_the_leader_hands_over_within_the_lease_duration(
    pair: Pair, api: ApiClient, namespace: str
) -> None:
    async with following(api, namespace) as log:
        leader_name = await _elected(log, pair)
        follower_name, follower = pair.other(leader_name)
        leader = pair.leader(leader_name)
        assert leader.proc is not None
        killed = time.monotonic()
        leader.proc.send_signal(signal.SIGKILL)

        async def taken_over() -> float:
            at = log.first(follower_name, after=killed)
            assert at is not None, log.events[-3:]
            return at

        at = await eventually(taken_over, timeout=DURATION + 10, interval=0.05)
    hand_over = at - killed
    print(f"\nSIGKILL hand-over: {hand_over:.2f}s (lease {DURATION:.0f}s, retry {RETRY:.0f}s)")
    # It waits for the lease to expire (never steals it early) ...
    assert hand_over >= DURATION - 2 * RETRY * JITTER, hand_over
    # ... and takes it within the duration, plus at most one observation and one attempt late.
    assert hand_over <= DURATION + 2 * RETRY * JITTER + 1.0, hand_over
    assert not [h for t, h in log.events if t > killed and h not in ("", follower_name)]
    await eventually(lambda: _gauge(follower) == 1, timeout=5)
    lease = await k8s.CoordinationV1Api(api).read_namespaced_lease(LEASE, namespace)
    assert lease.spec.lease_transitions >= 1


async def test_sigterm_releases_the_lease_and_exits_zero(pair: Pair, api: ApiClient, namespace: str) -> None:
    async with following(api, namespace) as log:
        leader_name = await _elected(log, pair)
        follower_name, follower = pair.other(leader_name)
        leader = pair.leader(leader_name)
        assert leader.proc is not None
        sent = time.monotonic()
        leader.proc.send_signal(signal.SIGTERM)
        # Waited for in a thread: the loop stays free for the watch that timestamps the Lease's changes.
        code = await asyncio.to_thread(leader.proc.wait, 10)
        exited = time.monotonic() - sent
        assert code == 0, f"exit {code} after {exited:.1f}s"
        assert exited < 10

        async def taken_over() -> float:
            at = log.first(follower_name, after=sent)
            assert at is not None, log.events[-3:]
            return at

        at = await eventually(taken_over, timeout=DURATION + 10, interval=0.05)
    released = log.first("", after=sent)
    assert released is not None and released <= at, f"no release to '' seen: {log.events[-4:]}"
    hand_over = at - sent
    print(f"\nSIGTERM: exit 0 after {exited:.2f}s, Lease released after {released - sent:.2f}s,")
    print(f"  hand-over {hand_over:.2f}s (lease {DURATION:.0f}s)")
    assert hand_over < DURATION / 2, "a released Lease is taken at the follower's next attempt"
    assert '"released lease' in leader.logs()
    await eventually(lambda: _gauge(follower) == 1, timeout=5)


async def test_a_leader_whose_renewals_hang_stops_before_the_standby_takes_over(
    kube: Kube, kubectl: Kubectl, crd: None, api: ApiClient, namespace: str, tmp_path: Path
) -> None:
    """The leader reaches the API server through a proxy that then forwards nothing (requests hang, none
    fails): it must give up within the renew deadline, exit 1, and so never act beside the new leader."""
    watched = new_namespace(kubectl, "it-le")
    with proxied(*api_address(kube.kubeconfig)) as proxy:
        via_proxy = kubeconfig_via(kube.kubeconfig, tmp_path / "kc", f"https://127.0.0.1:{proxy.port}")
        leader = _operator(kube, "op-a", namespace, watched, tmp_path)
        leader.kubeconfig = via_proxy
        standby = _operator(kube, "op-b", namespace, watched, tmp_path)
        try:
            async with following(api, namespace) as log:
                leader.start()
                await eventually(lambda: log.holder() == "op-a", timeout=30, interval=0.05)
                standby.start()
                assert leader.proc is not None
                frozen = time.monotonic()
                proxy.freeze()
                code = await asyncio.to_thread(leader.proc.wait, 60)
                stopped = time.monotonic()

                async def taken_over() -> float:
                    at = log.first("op-b", after=frozen)
                    assert at is not None, log.events[-3:]
                    return at

                at = await eventually(taken_over, timeout=DURATION + 10, interval=0.05)
            print(
                f"\nhung renewals: leader exited after {stopped - frozen:.2f}s, hand-over {at - frozen:.2f}s"
            )
            assert code == 1, leader.logs()[-2000:]
            assert stopped - frozen <= RENEW_DEADLINE + 1.0, "each renewal is bounded by the renew deadline"
            assert stopped < at, "the deposed leader stopped before the standby took the Lease"
            assert '"lost lease' in leader.logs()
        finally:
            leader.kill()
            standby.kill()
            delete_namespace(kubectl, watched)
