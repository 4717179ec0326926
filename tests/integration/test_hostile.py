"""The hostile-input sweep, stage 2: what the API server says about the files ``plan`` judged.

Every file of :mod:`hostile_corpus` goes through ``plan`` once a session (the ``hostile_sweep`` fixture of
tests/conftest.py; stage 1, tests/unit/test_hostile.py, checks its contract); here, on the local control
plane:

- **dry-run**: every object ``plan`` emits for a file it accepts is server-side applied with
  ``dryRun=All`` and the operator's field manager: zero refused. Bodies are deduplicated by hash (most
  files change one field, so few objects differ from the baseline's);
- **CRD**: the file's OnecloudCluster itself is created with ``dryRun=All`` and, as ``kubectl apply`` does,
  ``fieldValidation=Strict`` (unknown fields refused, not pruned); ``plan`` and the CRD must
  agree (both accept or both refuse), except for the planner-only checks of ``PLANNER_ONLY``;
- **valid set**: accepted by plan, by the CRD and by the dry-run alike.

On failure each test prints a table: file, stage (plan/CRD/dry-run), first line of the error.
"""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hostile_corpus import Case, PlanResult, Sweep, first_line
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.api_client import ApiClient

from cloudpods_operator import errors, kinds
from cloudpods_operator.kube.client import APPLY_CONTENT_TYPE, Kube

from . import conftest

pytestmark = pytest.mark.integration

FIELD_MANAGER = "cloudpods-operator"
CONCURRENCY = 8

PLANNER_ONLY: dict[str, str] = {
    # What only the planner can see: the CRD accepts these, plan refuses them (Degraded=InvalidSpec on a
    # cluster). Keep this short: every entry is a place where `kubectl apply` and `plan` disagree.
    "semantic/two-components-one-port": "one nodePort for two components: a rule across the whole spec",
    "semantic/ovnnorth-on-a-taken-port": "ovnNorth's nodePort taken by another component's default",
    "semantic/etcd-client-on-region-port": "etcd's clientNodePort taken by region's default",
    "semantic/edition-bogus": "an annotation: a CRD schema cannot validate metadata",
}


@dataclass
class Verdicts:
    """Stage 1's results, and the API server's answers by case (CRD) and by body hash (dry-run)."""

    cases: list[Case]
    planned: dict[str, PlanResult]
    crd: dict[str, str | None] = field(default_factory=dict)
    """case -> None (created) or the first line of the refusal; absent: no single cluster document."""
    dry_run: dict[str, str | None] = field(default_factory=dict)
    """body hash -> None (applied) or the first line of the refusal."""

    def refused_objects(self, name: str) -> list[str]:
        result = self.planned[name]
        objects = result.objects or []
        out = [f"bodies: {result.bodies_error}"] if result.bodies_error else []
        out += [
            f"{kind}/{obj}: {digest}" for kind, obj, digest in objects if digest.startswith("unserializable:")
        ]
        out += [f"{kind}/{obj}: {self.dry_run[d]}" for kind, obj, d in objects if self.dry_run.get(d)]
        return out


def table(rows: list[tuple[str, str, str]]) -> str:
    width = max((len(r[0]) for r in rows), default=4)
    return "\n".join(f"{name:<{width}}  {stage:<8}  {error[:200]}" for name, stage, error in rows)


def _refusal(exc: BaseException) -> str:
    if isinstance(exc, errors.ApiError):
        return first_line(f"{exc.status} {exc.reason}: {exc.message}", 240)
    if isinstance(exc, k8s.ApiException):
        body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body)
        return first_line(f"{exc.status} {exc.reason}: {_status_message(body)}", 240)
    return first_line(f"{type(exc).__name__}: {exc}", 240)


def _status_message(body: str) -> str:
    """A Status's message, else the body as it is."""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        return body
    return str(message) if message else body


@pytest.fixture(scope="module")
async def verdicts(
    kube: conftest.Kube, crd: None, api: ApiClient, hostile_sweep: Sweep
) -> AsyncIterator[Verdicts]:
    core = k8s.CoreV1Api(api)
    namespace = hostile_sweep.namespace  # the bodies were planned there
    await core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    client = await Kube.connect(str(kube.kubeconfig), limit=CONCURRENCY)
    custom = k8s.CustomObjectsApi(api)
    gate = asyncio.Semaphore(CONCURRENCY)
    try:
        cases, planned, bodies = hostile_sweep.cases, hostile_sweep.planned, hostile_sweep.bodies
        started = time.monotonic()
        found = Verdicts(cases, planned)

        async def dry_run(digest: str, body: dict[str, Any]) -> None:
            resource = kinds.RESOURCES[body["kind"]]
            meta = body["metadata"]
            path = resource.path(meta.get("namespace"), meta["name"])
            query = {"fieldManager": FIELD_MANAGER, "force": "true", "dryRun": "All"}
            async with gate:
                try:
                    await client.request(
                        "PATCH", path, query=query, body=body, content_type=APPLY_CONTENT_TYPE
                    )
                    found.dry_run[digest] = None
                except (errors.OperatorError, KeyError) as exc:
                    found.dry_run[digest] = _refusal(exc)

        async def create_cr(name: str, doc: dict[str, Any]) -> None:
            if isinstance(doc.get("metadata"), dict):  # a copy: the session's sweep stays as planned
                doc = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
            async with gate:
                try:
                    await custom.create_namespaced_custom_object(
                        kinds.GROUP,
                        kinds.VERSION,
                        namespace,
                        kinds.RESOURCES[kinds.CLUSTER_KIND].plural,
                        doc,
                        dry_run="All",
                        field_manager=FIELD_MANAGER,
                        field_validation="Strict",  # what kubectl apply asks for by default
                    )
                    found.crd[name] = None
                except k8s.ApiException as exc:
                    found.crd[name] = _refusal(exc)

        with warnings.catch_warnings():
            # aiohttp's hint for bodies over 1 MiB (the 1 MB strings of the huge/ files): not a refusal
            warnings.filterwarnings("ignore", "Sending a large body", ResourceWarning)
            async with asyncio.TaskGroup() as tg:
                for digest, body in bodies.items():
                    tg.create_task(dry_run(digest, body))
                for case in cases:
                    doc = planned[case.name].doc
                    if doc is not None:
                        tg.create_task(create_cr(case.name, doc))
        print(
            f"\nhostile sweep: {len(cases)} files, plan {hostile_sweep.seconds:.1f}s (once a session); "
            f"{len(bodies)} distinct bodies dry-run and {len(found.crd)} CRs created (dry-run) in "
            f"{time.monotonic() - started:.1f}s"
        )
        yield found
    finally:
        await client.close()
        await core.delete_namespace(namespace)


def test_no_planned_object_is_refused(verdicts: Verdicts) -> None:
    rows = [
        (c.name, "dry-run", refused[0] + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""))
        for c in verdicts.cases
        if verdicts.planned[c.name].accepted and (refused := verdicts.refused_objects(c.name))
    ]
    accepted = sum(verdicts.planned[c.name].accepted for c in verdicts.cases)
    assert not rows, f"the API server refused objects of {len(rows)} of {accepted} accepted files:\n" + table(
        rows
    )


def test_plan_and_the_crd_agree(verdicts: Verdicts) -> None:
    rows = []
    for case in verdicts.cases:
        if case.name not in verdicts.crd:
            continue
        plan_ok, crd_refusal = verdicts.planned[case.name].accepted, verdicts.crd[case.name]
        if plan_ok and crd_refusal is not None:
            rows.append((case.name, "CRD", f"plan accepts, the CRD refuses: {crd_refusal}"))
        elif not plan_ok and crd_refusal is None and case.name not in PLANNER_ONLY:
            plan_error = verdicts.planned[case.name].problem or first_line(verdicts.planned[case.name].err)
            rows.append((case.name, "plan", f"the CRD accepts, plan refuses: {plan_error}"))
    stale = [name for name in PLANNER_ONLY if verdicts.crd.get(name, "") is not None]
    assert not stale, f"allow-listed as planner-only, but the CRD refuses them now: {stale}"
    assert not rows, f"{len(rows)} files where kubectl apply and plan disagree:\n" + table(rows)


def test_the_valid_set_passes_every_stage(verdicts: Verdicts) -> None:
    rows = []
    for case in (c for c in verdicts.cases if c.valid):
        result = verdicts.planned[case.name]
        if not result.accepted:
            rows.append((case.name, "plan", result.problem or first_line(result.err)))
        if verdicts.crd.get(case.name):
            rows.append((case.name, "CRD", str(verdicts.crd[case.name])))
        rows += [(case.name, "dry-run", refused) for refused in verdicts.refused_objects(case.name)]
    assert not rows, "valid files refused:\n" + table(rows)


def test_the_sweep_reaches_the_api_server(verdicts: Verdicts) -> None:
    """Not vacuous: the files plan accepts (the valid set and the hostile ones it rightly lets through) and
    every CR were actually sent; with the model as strict as the CRD, most hostile files stop at plan."""
    lost = [(name, "bodies", str(r.bodies_error)) for name, r in verdicts.planned.items() if r.bodies_error]
    assert not lost, f"the sweep lost what {len(lost)} files send to the API server:\n" + table(lost)
    accepted = sum(r.accepted for r in verdicts.planned.values())
    assert accepted >= sum(c.valid for c in verdicts.cases) >= 30
    assert len(verdicts.dry_run) >= 100
    assert len(verdicts.crd) >= 500
