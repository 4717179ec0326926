"""Plan + observed workloads -> the OnecloudCluster's status: conditions and one entry per component.

Pure. Conditions follow the API conventions: Ready (the summary), Progressing, Degraded, each
with a reason and a message, and a lastTransitionTime that moves only when the status does.
The keystone image the printer column shows is read from here, never from the user's spec.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from cloudpods_operator import planner
from cloudpods_operator.model import OnecloudCluster
from cloudpods_operator.observed import TROUBLE_CAUSES, Observed, PodTrouble


@dataclass(frozen=True)
class Check:
    """One condition's verdict; ``message`` says what a user should look at."""

    status: str
    reason: str
    message: str


def component_status(comp: planner.ComponentPlan, observed: Observed) -> dict[str, Any]:
    """The ``status.components`` entry of one planned component, from its first workload as observed.

    ``Normal`` only once that workload is rolled out with exactly the planned images, in pod order.
    """
    name = comp.workloads[0]
    state = observed.workloads.get(name)
    expected = tuple(str(ref) for ref in ordered_images(comp))
    if comp.state is planner.State.WAITING:
        phase, message = "Waiting", comp.reason
    elif state is None:
        phase, message = "Pending", "workload not created yet"
    elif state.rolled_out and state.images == expected:
        phase, message = "Normal", None
    else:
        phase, message = "Upgrade", f"{state.updated}/{state.desired} updated, {state.available} available"
    entry: dict[str, Any] = {
        "kind": comp.component.kind.value,
        "name": name,
        "image": str(comp.image),
        "phase": phase,
        "desired": state.desired if state else 0,
        "updated": state.updated if state else 0,
        "ready": state.ready if state else 0,
        "available": state.available if state else 0,
    }
    trouble = trouble_summary(observed.troubles.get(comp.name, ()))
    if trouble and phase != "Normal":
        message = trouble
    if message:
        entry["message"] = message
    return entry


def trouble_summary(troubles: tuple[PodTrouble, ...]) -> str:
    """``ImagePullBackOff: 2 pods, image …/region:v9.9.9`` for each distinct (reason, image)."""
    counts: dict[tuple[str, str], int] = {}
    for t in troubles:
        counts[(t.reason, t.image)] = counts.get((t.reason, t.image), 0) + 1
    parts = []
    for (reason, image), n in sorted(counts.items()):
        pods = f"{n} pod" + ("s" if n > 1 else "")
        parts.append(f"{reason}: {pods}, image {image}" if image else f"{reason}: {pods}")
    return "; ".join(parts)


def troubles_check(
    plan: planner.Plan, observed: Observed, components: dict[str, dict[str, Any]]
) -> tuple[str, str] | None:
    """The Degraded (reason, message) of pods that cannot run in components not Normal: the cause of the
    first in plan order names the reason (``ImagePullFailed``, ``CrashLoop``, ...)."""
    named = []
    for comp in plan.components:
        troubles = observed.troubles.get(comp.name, ())
        entry = components.get(comp.name)
        if not troubles or entry is None or entry["phase"] == "Normal":
            continue
        named.append((TROUBLE_CAUSES[troubles[0].reason], f"{comp.name}: {trouble_summary(troubles)}"))
    if not named:
        return None
    return named[0][0], "; ".join(m for _, m in named)


def ordered_images(comp: planner.ComponentPlan) -> list[Any]:
    """Init containers first, as the pod template lists them (and WorkloadState.images)."""
    inits = {c.name for c in comp.component.init_containers}
    return [ref for n, ref in comp.containers if n in inits] + [
        ref for n, ref in comp.containers if n not in inits
    ]


DATABASE_NOT_MANAGED = "NotManaged"
DATABASE_READY = "Ready"
DATABASE_UNAVAILABLE = "Unavailable"
KEYSTONE_NOT_MANAGED = "NotManaged"


def checks(
    components: dict[str, dict[str, Any]],
    failures: list[str],
    database_error: str | None = None,
    keystone: tuple[str, str] | None = None,
    troubles: tuple[str, str] | None = None,
) -> dict[str, Check]:
    """Ready, Progressing and Degraded from the component entries, this pass's apply failures, the
    database's trouble (which Degraded names first) and keystone's (reason, message)."""
    not_ready = sorted(n for n, c in components.items() if c["phase"] != "Normal")
    waiting = sorted(n for n, c in components.items() if c["phase"] == "Waiting")
    rolling = sorted(n for n, c in components.items() if c["phase"] in ("Upgrade", "Pending"))
    if database_error:
        degraded = Check("True", "DatabaseUnavailable", database_error[:1024])
    elif keystone is not None:
        degraded = Check("True", keystone[0], keystone[1][:1024])
    elif troubles is not None:
        degraded = Check("True", troubles[0], troubles[1][:1024])
    elif failures:
        degraded = Check("True", "ApplyFailed", "; ".join(failures)[:1024])
    else:
        degraded = Check("False", "AsExpected", "")
    if troubles is not None and degraded.reason == troubles[0]:
        ready = Check("False", degraded.reason, degraded.message)
    elif not_ready:
        ready = Check(
            "False", "ComponentsNotReady", f"{len(not_ready)} not ready: {', '.join(not_ready)}"[:1024]
        )
    elif failures or database_error or keystone is not None:
        ready = Check("False", degraded.reason, degraded.message)
    else:
        ready = Check("True", "AllComponentsReady", f"{len(components)} components ready")
    if troubles is not None:
        held = [
            n
            for n, c in components.items()
            if c["phase"] == "Waiting" and "staged upgrade" in c.get("message", "")
        ]
        note = f"; held: {', '.join(sorted(held))}" if held else ""
        progressing = Check("False", "RolloutHalted", f"{troubles[1]}{note}"[:1024])
    elif rolling or waiting:
        parts = [f"rolling out: {', '.join(rolling)}"] if rolling else []
        parts += [f"waiting: {', '.join(waiting)}"] if waiting else []
        progressing = Check("True", "RollingOut", "; ".join(parts)[:1024])
    else:
        progressing = Check("False", "Complete", "")
    return {"Ready": ready, "Progressing": progressing, "Degraded": degraded}


def spec_error_checks(reason: str, message: str) -> dict[str, Check]:
    """A spec that cannot be planned: say so, and claim nothing about the workloads we left alone."""
    return {
        "Ready": Check("False", reason, message),
        "Progressing": Check("False", reason, "nothing is applied until the spec is fixed"),
        "Degraded": Check("True", reason, message),
    }


def conditions(
    previous: list[dict[str, Any]], verdicts: dict[str, Check], generation: int, now: str
) -> list[Any]:
    """One condition per verdict; ``lastTransitionTime`` is kept from ``previous`` unless the status moved."""
    old = {c.get("type"): c for c in previous}
    out = []
    for kind, check in verdicts.items():
        before = old.get(kind, {})
        moved = before.get("status") != check.status
        out.append(
            {
                "type": kind,
                "status": check.status,
                "reason": check.reason,
                "message": check.message,
                "lastTransitionTime": now if moved else before.get("lastTransitionTime", now),
                "observedGeneration": generation,
            }
        )
    return out


def spec_checksum(cluster: OnecloudCluster) -> str:
    """The reference's ``specChecksum``: upgrade tooling waits for it to change after a full pass."""
    return hashlib.sha256(
        orjson.dumps(cluster.to_dict().get("spec", {}), option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def build(
    cluster: OnecloudCluster,
    plan: planner.Plan,
    observed: Observed,
    failures: list[str],
    previous: dict[str, Any],
    now: str,
    database: str = DATABASE_NOT_MANAGED,
    database_error: str | None = None,
    keystone: str = KEYSTONE_NOT_MANAGED,
    keystone_error: tuple[str, str] | None = None,
    checksum: str | None = None,
) -> dict[str, Any]:
    """The whole status after one pass; ``previous`` is the status the cluster holds now.

    It supplies the transition times, and its ``specChecksum`` stays until a pass applies everything
    with no component left waiting. ``database`` is the provisioning's state (``NotManaged``, ``Ready``,
    ``Unavailable``), ``database_error`` the server's message when it is unavailable; ``keystone`` the
    registration's state (``NotManaged``, ``Waiting``, ``Ready``, ``Unavailable``), ``keystone_error`` its
    (reason, message); ``checksum``, the cluster's :func:`spec_checksum` when the caller holds it already.
    """
    components = {
        c.name: component_status(c, observed)
        for c in plan.components
        if c.state is not planner.State.DISABLED
    }
    generation = cluster.metadata.generation or 0
    verdicts = checks(
        components, failures, database_error, keystone_error, troubles_check(plan, observed, components)
    )
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "version": cluster.spec.effective_version,
        "conditions": conditions(previous.get("conditions") or [], verdicts, generation, now),
        "components": components,
        "database": database,
        "keystoneRegistration": keystone,
    }
    all_applied = (
        not failures
        and not database_error
        and keystone_error is None
        and all(c["phase"] != "Waiting" for c in components.values())
    )
    if all_applied:
        status["specChecksum"] = checksum or spec_checksum(cluster)
    else:
        status["specChecksum"] = previous.get("specChecksum")
    if status["specChecksum"] is None:
        del status["specChecksum"]
    return status


STATUS_INTERVAL = 2.0
"""Seconds between two status writes that only report progress (component counters and phases, condition
messages); a change of a condition, the generation or a summary field is written at once."""


def summary(status: dict[str, Any]) -> dict[str, Any]:
    """What a status write never waits for: every field but ``components``, and each condition without its
    message and times (its type, status, reason and observed generation)."""
    conds = [
        {k: v for k, v in c.items() if k not in ("message", "lastTransitionTime")}
        for c in status.get("conditions") or []
    ]
    return {**{k: v for k, v in status.items() if k != "components"}, "conditions": conds}


def write_delay(previous: dict[str, Any], new: dict[str, Any], since_write: float | None) -> float | None:
    """When to write ``new`` over ``previous``: None, nothing to write; 0, now; else in that many seconds.

    A rollout moves a workload's counters many times a second; one write per step made 24-26 status writes
    per version bump of one cluster. Progress waits until ``STATUS_INTERVAL`` has passed since the last write
    (``since_write`` seconds ago, None: none by this process), and rides in the next write.
    """
    if without_times(new) == without_times(previous):
        return None
    if since_write is None or since_write >= STATUS_INTERVAL or summary(new) != summary(previous):
        return 0.0
    return STATUS_INTERVAL - since_write


def without_times(status: dict[str, Any]) -> dict[str, Any]:
    """For "did anything change": lastTransitionTime alone never justifies a write."""
    conds = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []
    ]
    return {**status, "conditions": conds}
