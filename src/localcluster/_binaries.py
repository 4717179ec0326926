"""Locate the control-plane binaries that hack/cluster/build.sh builds into the cache."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import BinariesMissingError

COMPONENTS: tuple[str, ...] = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "helm",
)

_VERSIONS_REL = Path("hack") / "cluster" / "versions.env"


def _find_versions_env() -> Path | None:
    candidates = [Path(__file__).resolve().parents[2], Path.cwd().resolve()]
    for start in candidates:
        for parent in (start, *start.parents):
            path = parent / _VERSIONS_REL
            if path.is_file():
                return path
    return None


def versions() -> dict[str, str]:
    """The pinned versions from hack/cluster/versions.env (the one place they are written)."""
    path = _find_versions_env()
    if path is None:
        raise BinariesMissingError(
            f"cannot find {_VERSIONS_REL} (from the package or the current directory); "
            "set LOCALCLUSTER_BIN_DIR to a directory holding the binaries"
        )
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip("'\"")
    return out


def cache_root() -> Path:
    env = os.environ.get("CLOUDPODS_OPERATOR_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "cloudpods-operator"


def bin_dir() -> Path:
    """The directory with the binaries: LOCALCLUSTER_BIN_DIR, else the versioned cache dir of build.sh."""
    env = os.environ.get("LOCALCLUSTER_BIN_DIR")
    if env:
        return Path(env)
    v = versions()
    key = f"k8s-{v['K8S_VERSION']}-etcd-{v['ETCD_VERSION']}-kwok-{v['KWOK_VERSION']}-helm-{v['HELM_VERSION']}"
    return cache_root() / key


def binaries(required: tuple[str, ...] = COMPONENTS) -> dict[str, Path]:
    """Map each component name to its executable; raise BinariesMissingError naming what is missing."""
    directory = bin_dir()
    found = {name: directory / name for name in COMPONENTS}
    missing = [name for name in required if not os.access(found[name], os.X_OK)]
    if missing:
        raise BinariesMissingError(
            f"missing {', '.join(missing)} in {directory}: run `make controlplane` "
            "(bash hack/cluster/build.sh) or set LOCALCLUSTER_BIN_DIR"
        )
    return found
