"""Kubernetes Events (events.k8s.io/v1) on the OnecloudCluster, de-duplicated as client-go's recorder would.

A repeat of the same (reason, note) for the same cluster within ten minutes is dropped: a stuck
spec error must not write an Event on every retry. What is remembered for that is bounded (entries
older than the window go, and at most ``MAX_REMEMBERED`` stay), so notes that never repeat (they
carry generations, images, messages) do not grow the process forever. Notes never carry secret
values: they are built from object names, kinds, images and validation messages only.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from cloudpods_operator import errors, kinds
from cloudpods_operator.kube.client import Kube

log = logging.getLogger(__name__)
REPORTING_CONTROLLER = "onecloud.yunion.io/cloudpods-operator"
REPEAT_WINDOW = 600.0
FIELD_MANAGER = "cloudpods-operator"
MAX_REMEMBERED = 4096

Key = tuple[str, str, str, str]


class RepeatFilter:
    """Admits a key at most once per ``window`` seconds; remembers at most ``limit`` keys, oldest go first."""

    def __init__(self, window: float = REPEAT_WINDOW, limit: int = MAX_REMEMBERED) -> None:
        self.window, self.limit = window, limit
        self._seen: dict[Key, float] = {}  # in the order last admitted, so the oldest is first

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, key: Key, now: float) -> bool:
        """True (and remembered) unless ``key`` was admitted less than ``window`` seconds before ``now``."""
        at = self._seen.get(key)
        if at is not None and now - at < self.window:
            return False
        self._seen.pop(key, None)
        self._seen[key] = now
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if len(self._seen) <= self.limit and now - at < self.window:
                break
            del self._seen[oldest]
        return True


def now_rfc3339() -> str:
    """UTC now to the second, as ``metav1.Time`` fields such as ``lastTransitionTime`` are written."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Recorder:
    """Posts Events about OnecloudClusters for one operator ``instance``; Events are best effort."""

    def __init__(self, kube: Kube, instance: str) -> None:
        self._kube = kube
        self._instance = instance[:128]
        self._repeats = RepeatFilter()

    async def emit(self, cluster: dict[str, Any], type_: str, reason: str, action: str, note: str) -> None:
        """Post one Event regarding ``cluster`` (the raw object); never raises, a failed post is logged.

        The same ``reason`` and ``note`` on the same cluster within ``REPEAT_WINDOW`` seconds (ten
        minutes) is dropped; fields are cut to the API's limits.
        """
        meta = cluster.get("metadata", {})
        namespace, name = meta.get("namespace", "default"), meta.get("name", "")
        if not self._repeats.admit((namespace, name, reason, note), time.monotonic()):
            return
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
            "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "reportingController": REPORTING_CONTROLLER,
            "reportingInstance": self._instance,
            "action": action[:128],
            "reason": reason[:128],
            "type": type_,
            "note": note[:1024],
            "regarding": {
                "apiVersion": kinds.GROUP_VERSION,
                "kind": kinds.CLUSTER_KIND,
                "name": name,
                "namespace": namespace,
                "uid": meta.get("uid", ""),
            },
        }
        try:
            await self._kube.request(
                "POST",
                kinds.RESOURCES["Event"].path(namespace),
                query={"fieldManager": FIELD_MANAGER},
                body=body,
            )
        except errors.OperatorError as exc:
            log.warning("could not record event %s on %s/%s: %s", reason, namespace, name, exc)
