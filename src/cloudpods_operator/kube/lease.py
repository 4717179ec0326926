"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Expiry is judged on the local clock from when the record was last seen to change (never by
comparing our clock with the holder's ``renewTime``). Writes carry the resourceVersion read,
so two candidates racing for an expired Lease cannot both win. The holder renews every
``retry_period``; if it cannot renew within ``renew_deadline`` it gives up leadership; on
shutdown it releases the Lease so a successor need not wait out the duration.
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
        self.is_leader = False

    async def acquire(self) -> None:
        """Returns once this process holds the Lease."""
        while True:
            if await self._try_acquire_or_renew():
                break
            await anyio.sleep(self.retry * random.uniform(1.0, 1.2))
        self.is_leader = True
        log.info("acquired lease %s/%s as %s", self.namespace, self.name, self.identity)

    async def hold(self) -> None:
        """Renews until it cannot for ``renew_deadline``; then returns (leadership is lost)."""
        last_renew = self._clock()
        while True:
            await anyio.sleep(self.retry)
            try:
                ok = await self._try_acquire_or_renew()
            except errors.OperatorError as exc:
                log.warning("lease renewal failed: %s", exc)
                ok = False
            if ok:
                last_renew = self._clock()
            elif self._clock() - last_renew >= self.deadline:
                self.is_leader = False
                log.error("lost lease %s/%s", self.namespace, self.name)
                return

    async def release(self) -> None:
        """Give the Lease up at shutdown so a successor need not wait out its duration.

        Only when held, and only if the Lease still names us; best effort: errors are logged, not raised.
        """
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            lease = await self.kube.get(LEASE, self.namespace, self.name)
            spec = lease.get("spec", {})
            if spec.get("holderIdentity") != self.identity:
                return
            spec.update({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": _micro_now()})
            await self.kube.replace(LEASE, self.namespace, self.name, lease)
            log.info("released lease %s/%s", self.namespace, self.name)
        except errors.OperatorError as exc:
            log.warning("could not release lease: %s", exc)

    async def _try_acquire_or_renew(self) -> bool:
        now = _micro_now()
        try:
            lease = await self.kube.get(LEASE, self.namespace, self.name)
        except errors.NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(now, now, 0),
            }
            try:
                await self.kube.create(LEASE, self.namespace, body, field_manager="cloudpods-operator-lease")
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
            await self.kube.replace(LEASE, self.namespace, self.name, lease)
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
