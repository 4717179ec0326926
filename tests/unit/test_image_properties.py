"""Properties of the image rule and the planner, over random valid specs (hypothesis).

- An override (repository / tag / imageName) on one component or sub-spec never changes the image of a
  container that reads another spec path (which path each container reads is reference_table.py's data).
- Planning is deterministic.
- Random valid specs never crash the planner, and every image string of every planned object parses back
  (images.ImageRef) and matches model.IMAGE_PATTERN.
"""

from __future__ import annotations

import re
from typing import Any

from clusters import catalog_images, cluster, merge, nested
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from reference_table import EDITIONS, IMAGES, PRODUCTS, Edition, expected_image

from cloudpods_operator import catalog, images, planner
from cloudpods_operator.kinds import WORKLOAD_KINDS
from cloudpods_operator.model import (
    IMAGE_NAME_PATTERN,
    IMAGE_PATTERN,
    REPOSITORY_PATTERN,
    TAG_PATTERN,
    OnecloudCluster,
)

# Each example plans (or resolves every image) many times: report the failing example as found, unshrunk,
# so a failure costs seconds rather than minutes; the assertion messages name the path and container.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)

# ---- strategies for the OCI grammar (built from parts, so they never rely on the regexes under test) ----

_LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
_ALNUM = _LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

alnum_run = st.text(alphabet=_LOWER, min_size=1, max_size=6)


@st.composite
def path_component(draw: st.DrawFn) -> str:
    """``[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*``"""
    parts = draw(st.lists(alnum_run, min_size=1, max_size=3))
    seps = draw(
        st.lists(
            st.sampled_from([".", "_", "__", "-", "--"]), min_size=len(parts) - 1, max_size=len(parts) - 1
        )
    )
    out = parts[0]
    for sep, part in zip(seps, parts[1:], strict=True):
        out += sep + part
    return out


@st.composite
def domain_component(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(_ALNUM))
    middle = draw(st.text(alphabet=_ALNUM + "-", max_size=8))
    last = draw(st.sampled_from(_ALNUM))
    return first if not middle and draw(st.booleans()) else first + middle + last


@st.composite
def repositories(draw: st.DrawFn) -> str:
    parts = draw(st.lists(domain_component(), min_size=1, max_size=3))
    port = draw(st.booleans())
    # docker's rule: a first component with neither a dot nor a port is a path component (lowercase)
    domain = ".".join(parts) if len(parts) > 1 or port else parts[0].lower()
    if port:
        domain += f":{draw(st.integers(1, 65535))}"
    path = draw(st.lists(path_component(), max_size=3))
    return "/".join([domain, *path])


image_names = st.lists(path_component(), min_size=1, max_size=2).map("/".join)
tags = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(_ALNUM + "_"),
    st.text(alphabet=_ALNUM + "_.-", max_size=30),
)
editions = st.sampled_from(EDITIONS)

# Every spec path a container reads (component specs and sub-specs), from the reference table.
SOURCE_PATHS = sorted({i.source for i in IMAGES.values()})


@st.composite
def overrides(draw: st.DrawFn, path: str) -> dict[str, Any]:
    """Non-empty repository / imageName / tag settings for one spec path (etcd: repository / version)."""
    fields = ("repository", "version") if path == "etcd" else ("repository", "tag", "imageName")
    chosen = draw(st.sets(st.sampled_from(fields), min_size=1))
    values: dict[str, str] = {}
    if "repository" in chosen:
        values["repository"] = draw(repositories())
    for field in {"tag", "version"} & chosen:
        values[field] = draw(tags)
    if "imageName" in chosen:
        values["imageName"] = draw(image_names)
    return values


@st.composite
def base_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["version"] = draw(tags)
    if draw(st.booleans()):
        spec["imageRepository"] = draw(repositories())
    if draw(st.booleans()):
        spec["productVersion"] = draw(st.sampled_from(PRODUCTS))
    if draw(st.booleans()):
        spec["useHyperImage"] = draw(st.booleans())
    return spec


DISABLE_KEYS = sorted(catalog.SPEC_KEYS)


@st.composite
def random_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec = draw(base_specs())
    for flag in ("disableLocalVpc", "enableCloudNet", "enableS3Gateway"):
        if draw(st.booleans()):
            spec[flag] = draw(st.booleans())
    if spec.get("productVersion") == "LightEdge" and spec.get("disableLocalVpc") is False:
        del spec["disableLocalVpc"]  # the CRD's CEL rule refuses that combination
    for key in draw(st.lists(st.sampled_from(DISABLE_KEYS), unique=True, max_size=8)):
        spec = merge(spec, {key: {"disable": draw(st.booleans())}})
    for path in draw(st.lists(st.sampled_from(SOURCE_PATHS), unique=True, max_size=4)):
        spec = merge(spec, nested(path, draw(overrides(path))))
    if draw(st.booleans()):
        spec = merge(spec, {"regionServer": {"replicas": draw(st.integers(0, 5))}})
    if draw(st.booleans()):
        spec = merge(spec, {"telegraf": {"enableRaidPlugin": draw(st.booleans())}})
    if draw(st.booleans()):
        spec["customZones"] = draw(
            st.lists(st.sampled_from(["zone1", "zone2", "z-3"]), unique=True, max_size=2)
        )
    return spec


# ---- the strategies themselves produce what the grammar allows -----------------------------------


@settings(max_examples=50, deadline=None)
@given(repositories(), image_names, tags)
def test_strategies_match_the_model_patterns(repository: str, name: str, tag: str) -> None:
    assert re.fullmatch(REPOSITORY_PATTERN, repository)
    assert re.fullmatch(IMAGE_NAME_PATTERN, name)
    assert re.fullmatch(TAG_PATTERN, tag)
    assert re.fullmatch(IMAGE_PATTERN, f"{repository}/{name}:{tag}")


# ---- isolation -------------------------------------------------------------------------------


@st.composite
def override_cases(draw: st.DrawFn) -> tuple[dict[str, Any], Edition, str, dict[str, Any]]:
    path = draw(st.sampled_from(SOURCE_PATHS))
    return draw(base_specs()), draw(editions), path, draw(overrides(path))


def _for_path(path: str, values: dict[str, Any], distinct: bool) -> dict[str, Any]:
    """The drawn override as spec keys for one path; ``distinct`` makes every path's values its own."""
    slug = path.replace(".", "-").lower()
    own: dict[str, Any] = {}
    if "repository" in values:
        own["repository"] = f"{values['repository']}/{slug}" if distinct else values["repository"]
    if "tag" in values:
        own["version" if path == "etcd" else "tag"] = f"{values['tag']}-{slug}" if distinct else values["tag"]
    if "imageName" in values and path != "etcd":
        own["imageName"] = f"{values['imageName']}-{slug}" if distinct else values["imageName"]
    return own


@settings(max_examples=40, deadline=None, phases=NO_SHRINK)
@given(base_specs(), editions, overrides("any"), st.sampled_from(SOURCE_PATHS))
def test_an_override_never_changes_another_spec_paths_images(
    base: dict[str, Any], edition: Edition, values: dict[str, Any], path: str
) -> None:
    # One path overridden: only the containers reading that path may change, and they take its values.
    before = catalog_images(cluster(base, edition))
    own = _for_path(path, values, distinct=False)
    after = catalog_images(cluster(merge(base, nested(path, own)), edition)) if own else before
    assert set(before) == set(after) == set(IMAGES)
    changed = {key for key in before if before[key] != after[key]}
    assert all(IMAGES[key].source == path for key in changed), (path, changed)
    tag = own.get("tag") or own.get("version")
    for key, fact in IMAGES.items():
        if fact.source != path:
            continue
        if own.get("repository"):
            assert after[key].startswith(own["repository"] + "/"), (key, after[key])
        if tag and not fact.fixed:
            assert after[key].endswith(":" + tag), (key, after[key])
        if own.get("imageName") and not fact.fixed:
            assert after[key].rpartition(":")[0].endswith("/" + own["imageName"]), (key, after[key])

    # Every path overridden at once, each with its own values: each container shows its own path's values
    # (reference_table's oracle), so a container reading a neighbour's spec path cannot go unnoticed.
    every: dict[str, Any] = dict(base)
    table: dict[str, dict[str, str]] = {}
    for p in SOURCE_PATHS:
        settings_p = _for_path(p, values, distinct=True)
        every = merge(every, nested(p, settings_p))
        table[p] = {("tag" if k == "version" else k): v for k, v in settings_p.items()}
    found = catalog_images(cluster(every, edition))
    expected = {
        key: expected_image(
            fact,
            edition=edition,
            hyper=bool(base.get("useHyperImage")),
            repository=base.get("imageRepository"),
            version=base.get("version"),
            overrides=table,
        )
        for key, fact in IMAGES.items()
    }
    assert found == expected


@settings(max_examples=4, deadline=None, phases=NO_SHRINK)
@given(override_cases())
def test_an_override_never_changes_another_components_planned_images(
    case: tuple[dict[str, Any], Edition, str, dict[str, Any]],
) -> None:
    base, edition, path, values = case
    before = planner.plan(cluster(base, edition))
    after = planner.plan(cluster(merge(base, nested(path, values)), edition))
    a = {(c.name, n): str(r) for c in before.components for n, r in c.containers}
    b = {(c.name, n): str(r) for c in after.components for n, r in c.containers}
    assert set(a) == set(b)
    assert all(IMAGES[k].source == path for k in a if a[k] != b[k])


# ---- determinism and robustness ------------------------------------------------------------------


@settings(max_examples=3, deadline=None, phases=NO_SHRINK)
@given(random_specs(), editions)
def test_planning_is_deterministic(spec: dict[str, Any], edition: Edition) -> None:
    first = planner.plan(cluster(spec, edition))
    again = planner.plan(cluster(spec, edition))
    round_tripped = planner.plan(OnecloudCluster.model_validate(cluster(spec, edition).to_dict()))
    bodies = [(o.key, o.body) for o in first.objects]
    assert bodies == [(o.key, o.body) for o in again.objects]
    assert bodies == [(o.key, o.body) for o in round_tripped.objects]
    assert [(c.name, c.state, c.reason) for c in first.components] == [
        (c.name, c.state, c.reason) for c in again.components
    ]


@settings(max_examples=12, deadline=None, phases=NO_SHRINK)
@given(random_specs(), editions)
def test_random_valid_specs_plan_and_every_image_is_well_formed(
    spec: dict[str, Any], edition: Edition
) -> None:
    plan = planner.plan(cluster(spec, edition))
    assert {c.name for c in plan.components} == {c.name for c in catalog.COMPONENTS}
    seen = 0
    for obj in plan.objects:
        if obj.kind not in WORKLOAD_KINDS:
            continue
        pod = obj.body["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            image = container["image"]
            assert re.fullmatch(IMAGE_PATTERN, image), image
            ref = images.ImageRef.parse(image)
            assert str(ref) == image
            assert ref.tag and ref.name and ref.repository
            seen += 1
    for comp in plan.components:
        for _, ref in comp.containers:
            assert images.ImageRef.parse(str(ref)) == ref or "/" in ref.name
            assert re.fullmatch(IMAGE_PATTERN, str(ref))
    assert seen or not [o for o in plan.objects if o.kind in WORKLOAD_KINDS]
