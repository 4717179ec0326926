"""OnecloudClusters built from spec dicts, and their plans, the way the unit tests write them.

Specs are plain JSON dicts (the CR's keys); :func:`merge` and :func:`nested` compose them without touching
their inputs, :func:`cluster` validates one into the model, :func:`plan_for` plans it once per distinct
(spec, edition) and :func:`catalog_images` resolves every catalog container's image straight from images.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from cloudpods_operator import catalog, images, planner
from cloudpods_operator.model import OnecloudCluster

EDITION_ANNOTATION = "onecloud.yunion.io/edition"


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, nested dicts key by key; neither input is modified."""
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def nested(path: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``hostagent.SdnAgent`` + values -> {"hostagent": {"SdnAgent": values}}."""
    out: dict[str, Any] = dict(values)
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


def cluster(
    spec: Mapping[str, Any],
    edition: str | None = None,
    *,
    name: str = "default",
    namespace: str = "onecloud",
    uid: str | None = None,
    generation: int | None = None,
) -> OnecloudCluster:
    """The validated OnecloudCluster ``namespace/name`` with this spec (and edition annotation, if any)."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if edition is not None:
        meta["annotations"] = {EDITION_ANNOTATION: edition}
    if uid is not None:
        meta["uid"] = uid
    if generation is not None:
        meta["generation"] = generation
    return OnecloudCluster.model_validate({"metadata": meta, "spec": dict(spec)})


@cache
def _cached_plan(spec_json: str, edition: str | None) -> planner.Plan:
    return planner.plan(cluster(json.loads(spec_json), edition))


def plan_for(spec: Mapping[str, Any], edition: str | None = None) -> planner.Plan:
    """The plan of :func:`cluster` (spec, edition); plans are pure, so one per distinct pair serves all."""
    return _cached_plan(json.dumps(spec, sort_keys=True), edition)


def catalog_images(cl: OnecloudCluster) -> dict[tuple[str, str], str]:
    """(component, container) -> image for every catalog container, init containers and components that do
    not run included, straight from images.image_for."""
    spec, edition = cl.spec, images.edition_of(cl)
    return {
        (comp.name, c.name): str(images.image_for(spec, edition, comp, c.image))
        for comp in catalog.COMPONENTS
        for c in (*comp.containers, *comp.init_containers)
    }
