"""The image rule: the one place where an image string is built.

``<repository>/<name>:<tag>`` where, for a container whose settings come from ContainerSpec ``C``
(the component's spec or a sub-spec such as ``webconsole.Guacd``) and the cluster spec ``S``:

1. repository = ``C.repository`` or ``S.imageRepository`` (default
   ``registry.cn-beijing.aliyuncs.com/yunionio``);
2. name = ``C.imageName``; else the hyper image (``cloudpods``/``cloudpods-ee``) when
   ``S.useHyperImage`` and the component honours it; else ``<name>-ee`` when the edition
   qualifies; else the catalog's name;
3. tag = ``C.tag``; else the catalog's pinned tag for third-party images; else ``S.version``;
4. ``C.image`` is never read: the reference overwrites it with the computed value on every
   pass, so a value typed there never decides anything. Status reports the image in use.

Fixed images (telegraf's ``telegraf-init``) take only the repository from their source.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudpods_operator import catalog
from cloudpods_operator.errors import SpecError
from cloudpods_operator.model import (
    EDITIONS,
    ContainerSpec,
    Edition,
    EtcdSpec,
    OnecloudCluster,
    OnecloudClusterSpec,
    lookup,
    shorten,
)

HYPER_IMAGE = "cloudpods"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A resolved image; ``str()`` is what goes into a pod template."""

    repository: str
    name: str
    tag: str

    def __str__(self) -> str:
        return f"{self.repository}/{self.name}:{self.tag}"

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        """Split as the reference's status does: the last path segment is the name, tag defaults to latest."""
        rest = image.partition("@")[0]
        head, slash, last = rest.rpartition("/")
        name, colon, tag = last.partition(":")
        return cls(head if slash else "", name, tag if colon else "latest")


def edition_of(cluster: OnecloudCluster) -> Edition:
    """The edition annotation, validated: the one input the CRD schema cannot check."""
    raw = cluster.edition_raw
    for edition in EDITIONS:
        if raw == edition:
            return edition
    raise SpecError(
        "metadata.annotations.onecloud.yunion.io/edition",
        f"Unsupported value: {shorten(raw)}: supported values: {', '.join(EDITIONS)}",
    )


def edition_qualifies(gate: catalog.EditionGate | None, edition: Edition) -> bool:
    """Whether an edition passes a catalog gate: None every edition, ``ee`` only ``ee``, ``ee_or_ese`` also
    ``ce/support``."""
    if gate is None:
        return True
    if gate == "ee":
        return edition == "ee"
    return edition in ("ee", "ce/support")


def source_spec(spec: OnecloudClusterSpec, path: str) -> ContainerSpec:
    """The ContainerSpec at a catalog spec path such as ``regionServer`` or ``hostagent.SdnAgent``."""
    node = lookup(spec, path)
    if node is None:
        return ContainerSpec()
    if isinstance(node, EtcdSpec):
        return ContainerSpec(repository=node.repository, tag=node.version)
    if not isinstance(node, ContainerSpec):
        raise TypeError(f"spec path {path!r} is not a container spec")
    return node


def image_for(
    spec: OnecloudClusterSpec,
    edition: Edition,
    component: catalog.Component,
    rule: catalog.ImageRule,
) -> ImageRef:
    """The image one container runs, by the rule in the module docstring; ``C.image`` is never read.

    ``edition`` comes validated from ``edition_of``; a rule's ``source`` replaces the component's spec.
    """
    path = rule.source or component.spec_key
    source = source_spec(spec, path)
    repository = source.repository or spec.effective_repository
    if rule.fixed:
        ref = ImageRef(repository, rule.name, rule.pinned_tag or spec.effective_version)
    else:
        tag = source.tag or rule.pinned_tag or spec.effective_version
        ref = ImageRef(repository, source.image_name or _default_name(spec, edition, rule), tag)
    name = f"{ref.repository}/{ref.name}"
    if len(name) > MAX_IMAGE_NAME:
        field = f"spec.{path}.repository" if source.repository else "spec.imageRepository"
        raise SpecError(
            field,
            f"Too long: the image name {shorten(name)} would be more than {MAX_IMAGE_NAME} characters "
            "(the kubelet refuses it)",
        )
    return ref


MAX_IMAGE_NAME = 255
"""The OCI reference's limit on repository/name (the tag apart): the kubelet refuses a longer one."""


def _default_name(spec: OnecloudClusterSpec, edition: Edition, rule: catalog.ImageRule) -> str:
    qualifies = edition_qualifies(rule.edition, edition) if rule.edition else edition == "ee"
    if rule.hyper and spec.use_hyper_image:
        return f"{HYPER_IMAGE}-ee" if qualifies else HYPER_IMAGE
    if rule.edition and qualifies:
        return rule.edition_name
    return rule.name


def pull_policy(spec: OnecloudClusterSpec, component: catalog.Component, rule: catalog.ImageRule) -> str:
    """Sidecar sub-specs are forced to IfNotPresent in the reference; the component's own is honoured."""
    if rule.forced_pull_policy or "." in (rule.source or component.spec_key):
        return "IfNotPresent"
    return source_spec(spec, component.spec_key).image_pull_policy or "IfNotPresent"
