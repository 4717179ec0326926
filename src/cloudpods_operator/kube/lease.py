"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Expiry is judged on the local clock from when the record was last seen to change (never by
comparing our clock with the holder's ``renewTime``). Writes carry the resourceVersion read,
so two candidates racing for an expired Lease cannot both win. The holder renews every
``retry_period``; if it cannot renew within ``renew_deadline`` of the start of its last successful
renewal it gives up leadership, and every attempt is cut off at that deadline (a hung request must
not keep a deposed leader acting after a standby took over); on shutdown it releases the Lease so
a successor need not wait out the duration.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio

from cloudpods_operator import errors, kinds
from cloudpods_operator.kube.client import Kube

log = logging.getLogger(__name__)
LEASE = kinds.RESOURCES["Lease"]
FIELD_MANAGER = "cloudpods-operator-lease"


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One candidate for one Lease: ``acquire``, then ``hold`` until leadership is lost, then ``release``.

    Needs ``lease_duration > renew_deadline > retry_period`` (ValueError otherwise). ``is_leader`` is
    true between a successful ``acquire`` and the loss or release of the Lease.
    """

    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not lease_duration > renew_deadline > retry_period:
            raise ValueError("need lease_duration > renew_deadline > retry_period")
        self.kube = kube
        self.namespace, self.name, self.identity = namespace, name, identity
        self.duration, self.deadline, self.retry = lease_duration, renew_deadline, retry_period
        self._clock = clock
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self.is_leader = False

    async def acquire(self) -> None:
        """Returns once this process holds the Lease."""
        while True:
            started = self._clock()
            if await self._try_acquire_or_renew(self.duration):
                self._renewed_at = started
                break
            await anyio.sleep(self.retry * random.uniform(1.0, 1.2))
        self.is_leader = True
        log.info("acquired lease %s/%s as %s", self.namespace, self.name, self.identity)

    async def hold(self) -> None:
        """Renews until it cannot for ``renew_deadline``; then returns (leadership is lost).

        The deadline runs from the start of the last successful renewal (what the standby saw change
        no earlier), and each attempt is cancelled when it passes, however the request hangs.
        """
        while True:
            await anyio.sleep(self.retry)
            started = self._clock()
            remaining = self.deadline - (started - self._renewed_at)
            ok = False
            with anyio.move_on_after(max(remaining, 0.0)):
                try:
                    ok = await self._try_acquire_or_renew(max(remaining, 0.1))
                except errors.OperatorError as exc:
                    log.warning("lease renewal failed: %s", exc)
            if ok:
                self._renewed_at = started
            elif self._clock() - self._renewed_at >= self.deadline:
                self.is_leader = False
                log.error(
                    "lost lease %s/%s: not renewed within %.0fs", self.namespace, self.name, self.deadline
                )
                return

    async def release(self) -> None:
        """Give the Lease up at shutdown so a successor need not wait out its duration.

        Only when held, and only if the Lease still names us; best effort: errors are logged, not raised.
        """
        if not self.is_leader:
            return
        self.is_leader = False
        for attempt in range(3):  # a renewal still in flight moves the resourceVersion: read it again
            try:
                lease = await self.kube.get(LEASE, self.namespace, self.name)
                spec = lease.get("spec", {})
                if spec.get("holderIdentity") != self.identity:
                    return
                spec.update({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": _micro_now()})
                await self.kube.replace(
                    LEASE, self.namespace, self.name, lease, field_manager=FIELD_MANAGER, request_timeout=2.0
                )
                log.info("released lease %s/%s", self.namespace, self.name)
                return
            except errors.Conflict as exc:
                if attempt == 2:
                    log.warning("could not release lease: %s", exc)
            except errors.OperatorError as exc:
                log.warning("could not release lease: %s", exc)
                return

    async def _try_acquire_or_renew(self, request_timeout: float) -> bool:
        """One attempt; each request is given at most ``request_timeout`` seconds."""
        now = _micro_now()
        try:
            lease = await self.kube.request(
                "GET", LEASE.path(self.namespace, self.name), request_timeout=request_timeout
            )
        except errors.NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(now, now, 0),
            }
            try:
                await self.kube.request(
                    "POST",
                    LEASE.path(self.namespace),
                    query={"fieldManager": FIELD_MANAGER},
                    body=body,
                    request_timeout=request_timeout,
                )
            except errors.Conflict:
                return False
            return True
        spec = lease.get("spec", {})
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseDurationSeconds"))
        if record != self._observed:
            self._observed, self._observed_at = record, self._clock()
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        if holder and holder != self.identity and self._observed_at + duration > self._clock():
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        acquired = spec.get("acquireTime") if holder == self.identity else now
        lease["spec"] = self._spec(
            acquired or now, now, transitions if holder == self.identity else transitions + 1
        )
        try:
            await self.kube.replace(
                LEASE,
                self.namespace,
                self.name,
                lease,
                field_manager=FIELD_MANAGER,
                request_timeout=request_timeout,
            )
        except errors.Conflict:
            return False
        return True

    def _spec(self, acquired: str, renewed: str, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.duration),
            "acquireTime": acquired,
            "renewTime": renewed,
            "leaseTransitions": transitions,
        }
