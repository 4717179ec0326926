"""A test's view of one OnecloudCluster under a real operator process, read back with the real kubectl."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from cloudpods_operator import kinds, planner
from cloudpods_operator.model import OnecloudCluster

from .helpers import EXAMPLE as EXAMPLE  # re-exported: tests take the example's path from here too
from .helpers import Kubectl, wait_for
from .operator_process import OperatorProcess

WORKLOAD_PLURALS = tuple(sorted(kinds.RESOURCES[kind].plural for kind in kinds.WORKLOAD_KINDS))
"""deployments, daemonsets, statefulsets: what kubectl lists for the workload kinds."""


@dataclass
class Cloud:
    """One OnecloudCluster (the example's, by default) in `namespace`, watched by `operator`: written and
    read back with the real kubectl, as a user would."""

    namespace: str
    operator: OperatorProcess
    kubectl: Kubectl
    name: str = "default"

    # ---- writing ---------------------------------------------------------------------------

    def manifest(self, **spec: Any) -> dict[str, Any]:
        doc: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
        doc["metadata"]["namespace"] = self.namespace
        doc["spec"].update(spec)
        return doc

    def apply(self, doc: dict[str, Any] | None = None) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc or self.manifest()))

    def patch(self, patch: dict[str, Any]) -> None:
        self.kubectl(
            "patch", "oc", "-n", self.namespace, self.name, "--type", "merge", "-p", json.dumps(patch)
        )

    # ---- reading ---------------------------------------------------------------------------

    def get(self, kind: str, name: str | None = None) -> Any:
        args = ["get", kind, "-n", self.namespace, "-o", "json"]
        if name:
            args.insert(2, name)
        return json.loads(self.kubectl(*args).stdout)

    def cr(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.get("onecloudclusters.onecloud.yunion.io", self.name)
        return doc

    def condition(self, kind: str) -> dict[str, Any]:
        for cond in self.cr().get("status", {}).get("conditions") or []:
            if cond["type"] == kind:
                return dict(cond)
        return {}

    def wait_ready(self, timeout: float = 240.0) -> dict[str, Any]:
        def ready() -> bool:
            cr = self.cr()
            cond = {c["type"]: c for c in cr.get("status", {}).get("conditions") or []}.get("Ready", {})
            return bool(
                cond.get("status") == "True"
                and cond.get("observedGeneration") == cr["metadata"]["generation"]
            )

        wait_for(ready, timeout, what=f"{self.namespace}/{self.name} Ready=True")
        return self.cr()

    def workloads(self) -> dict[str, dict[str, Any]]:
        """name -> live workload object, for Deployments, DaemonSets and StatefulSets."""
        out: dict[str, dict[str, Any]] = {}
        for kind in WORKLOAD_PLURALS:
            for item in self.get(kind)["items"]:
                out[item["metadata"]["name"]] = item
        return out

    def images(self) -> dict[str, list[str]]:
        """name -> every image of the pod template, init containers first."""
        out = {}
        for name, obj in self.workloads().items():
            pod = obj["spec"]["template"]["spec"]
            out[name] = [c["image"] for c in (*pod.get("initContainers", []), *pod["containers"])]
        return out

    def plan(self) -> planner.Plan:
        """What the planner wants for the live spec (the unit tests hold the planner to the reference)."""
        cr = self.cr()
        return planner.plan(OnecloudCluster.model_validate({k: v for k, v in cr.items() if k != "status"}))

    def planned_workloads(self) -> set[str]:
        return {o.name for o in self.plan().objects if o.kind in kinds.WORKLOAD_KINDS}
