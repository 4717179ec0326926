"""Plan vs cache: which desired objects must be applied, which live ones pruned.

An object is sent only when it must be: it is missing, or the hash of our intent differs from
the one stamped on it by the last apply (we changed our mind, including removing a field), or
a field we own no longer holds our value (someone edited it: drift). Fields added by the API
server or owned by other managers never count, so a steady state sends nothing at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

import orjson

from cloudpods_operator import kinds, planner
from cloudpods_operator.observed import INTENT_ANNOTATION, Cached, ObjectKey, secret_digest

HASH_ANNOTATION = INTENT_ANNOTATION
_LIST_KEYS = ("name", "mountPath", "containerPort", "uid")


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """What is compared and hashed: a Secret's values only as digests, as the cache keeps them."""
    if body.get("kind") != "Secret" or "data" not in body:
        return body
    return {**body, "data": secret_digest(body["data"])}


def stamped(body: dict[str, Any]) -> dict[str, Any]:
    """The body with the hash of itself in an annotation (the hash never covers the annotation, nor a
    Secret's values: only their digests)."""
    digest = hashlib.blake2b(
        orjson.dumps(comparable(body), option=orjson.OPT_SORT_KEYS), digest_size=12
    ).hexdigest()
    meta = dict(body["metadata"])
    meta["annotations"] = {**meta.get("annotations", {}), HASH_ANNOTATION: digest}
    return {**body, "metadata": meta}


def applied_by_us(cached: Cached) -> bool:
    """Whether our apply ever wrote this object (it carries our intent hash)."""
    return _live_intent(cached) is not None


@dataclass(frozen=True)
class Change:
    """One object to send: the stamped body, what the cache holds of it, and whether it drifted."""

    desired: planner.DesiredObject
    body: dict[str, Any]
    live: Cached | None
    drifted: bool

    @property
    def action(self) -> str:
        """``create`` or ``update``: the apply metric's label."""
        return "create" if self.live is None else "update"


@dataclass
class Memo:
    """What earlier diffs learnt, so that a pass compares nothing it compared before.

    ``clean``: for this plan, the live slim body last found to hold each object (a pass woken by a
    workload's rollout progress, its status moved and not its spec, reads no body at all). ``held``: the
    same as (intent hash, slim body), valid for any plan: a new plan (a version bump changes 32 of 106
    bodies) compares only the objects whose intent or live body moved (:meth:`successor`). ``bodies``: this
    plan's stamped bodies, made when first needed and dropped between passes (:meth:`rest`)."""

    bodies: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    clean: dict[ObjectKey, bytes] = field(default_factory=dict)
    held: dict[ObjectKey, tuple[str, bytes]] = field(default_factory=dict)

    def hold(self, key: ObjectKey, intent: str, raw: bytes) -> None:
        """The live slim body ``raw`` holds the body with hash ``intent``, which this plan wants."""
        self.clean[key] = raw
        self.held[key] = (intent, raw)

    def successor(self) -> Memo:
        """The memo a new plan starts from: what held, nothing of this plan's."""
        return Memo(held=self.held)

    def rest(self) -> None:
        """Drop the stamped bodies (the plan's bodies as dicts again) once the pass is over."""
        self.bodies.clear()


def intent_of(body: dict[str, Any]) -> str:
    """The hash :func:`stamped` put on ``body``."""
    return str(body["metadata"]["annotations"][HASH_ANNOTATION])


def _live_intent(current: Cached) -> str | None:
    if current.intent is not None:
        return current.intent
    annotations = current.body()["metadata"].get("annotations") or {}
    found = annotations.get(HASH_ANNOTATION)
    return None if found is None else str(found)


def changes(
    desired: Iterable[planner.DesiredObject], live: dict[ObjectKey, Cached], memo: Memo | None = None
) -> list[Change]:
    """The desired objects that are missing, changed in intent, or drifted from it (create-only skipped)."""
    memo = memo if memo is not None else Memo()
    out = []
    for obj in desired:
        current = live.get(obj.key)
        if current is not None and (obj.create_only or memo.clean.get(obj.key) == current.raw):
            continue  # what was found to hold this plan, unchanged since: not even its body is read
        body = memo.bodies.get(obj.key)
        if body is None:
            body = memo.bodies[obj.key] = stamped(obj.body)
        if current is None:
            out.append(Change(obj, body, None, False))
            continue
        intent = intent_of(body)
        if _live_intent(current) != intent:
            out.append(Change(obj, body, current, drifted=False))  # we changed our mind: no compare needed
        elif memo.held.get(obj.key) == (intent, current.raw) or covers(current.body(), comparable(body)):
            memo.hold(obj.key, intent, current.raw)
        else:
            out.append(Change(obj, body, current, drifted=True))
    return out


def prunable(
    plan: planner.Plan, owned: Iterable[tuple[ObjectKey, Cached]], owner_uid: str
) -> list[ObjectKey]:
    """Live objects this cluster controls that the plan no longer wants (ConfigMaps and PVCs are kept)."""
    wanted = {o.key for o in plan.objects}
    out = []
    for key, cached in owned:
        kind = key[0]
        if key in wanted or kind not in kinds.PRUNABLE_KINDS or cached.owner_uid != owner_uid:
            continue
        if plan.retained(cached.component, kind):
            continue
        out.append(key)
    return out


_SCALARS = frozenset({str, int, bool, float, type(None)})


def covers(live: Any, desired: Any) -> bool:
    """Every value of ``desired`` holds in ``live``; what the server or others added is ignored.

    Equal scalars are settled in the loop, without a call each: a cold start compares 8,900 objects.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        if live == desired:  # in C, and a size mismatch fails at once: nothing added, no walk
            return True
        for key, value in desired.items():
            if key not in live:
                return False
            there = live[key]
            if type(value) in _SCALARS and value == there:
                continue
            if not covers(there, value):
                return False
        return True
    if isinstance(desired, list):
        return isinstance(live, list) and _covers_list(live, desired)
    if desired == live:
        return True
    return isinstance(desired, str | int) and isinstance(live, str | int) and _same_quantity(desired, live)


def _covers_list(live: list[Any], desired: list[Any]) -> bool:
    if live == desired:  # in C: most lists come back as sent (args, env, mounts), no walk needed
        return True
    key = _merge_key(desired)
    if key is None:
        return len(live) == len(desired) and all(covers(a, b) for a, b in zip(live, desired, strict=True))
    by_key = {item.get(key): item for item in live if isinstance(item, dict)}
    return all(item[key] in by_key and covers(by_key[item[key]], item) for item in desired)


def _merge_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in _LIST_KEYS:
        if all(key in i for i in items):
            return key
    return None


_SUFFIXES = {
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}


def _quantity(value: str | int) -> Decimal | None:
    text = str(value)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            try:
                return Decimal(text[: -len(suffix)]) * _SUFFIXES[suffix]
            except InvalidOperation:
                return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _same_quantity(a: str | int, b: str | int) -> bool:
    """The API server canonicalises quantities ("0.5" -> "500m") and rounds them up to the milli
    ("2.666667" -> "2667m", as the Go operator's computed limits are stored): compare their values so."""
    qa, qb = _quantity(a), _quantity(b)
    if qa is None or qb is None:
        return False
    milli = Decimal("0.001")
    return qa.quantize(milli, rounding=ROUND_CEILING) == qb.quantize(milli, rounding=ROUND_CEILING)
