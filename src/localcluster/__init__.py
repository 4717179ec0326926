"""A real Kubernetes control plane on 127.0.0.1, built from Go modules, for tests, the demo and benchmarks.

    import localcluster
    cluster = localcluster.start(run_dir)      # etcd, kube-apiserver, controller-manager, scheduler, kwok
    cluster.kubeconfig                         # admin kubeconfig (system:masters)
    localcluster.status(run_dir)               # per-component pid / alive / port / health
    localcluster.stop(run_dir)                 # stop exactly what was started, remove run_dir

The binaries come from hack/cluster/build.sh (`make controlplane`); see `binaries()`.
"""

from __future__ import annotations

from ._binaries import COMPONENTS, bin_dir, binaries, versions
from ._cluster import (
    COMPONENT_ORDER,
    DEFAULT_NODES,
    KWOK_ANNOTATION,
    Cluster,
    ComponentState,
    ComponentStatus,
    NodeSpec,
    default_run_dir,
    load,
    start,
    status,
    stop,
)
from .errors import AlreadyRunningError, BinariesMissingError, LocalClusterError, StartError

__all__ = [
    "COMPONENTS",
    "COMPONENT_ORDER",
    "DEFAULT_NODES",
    "KWOK_ANNOTATION",
    "AlreadyRunningError",
    "BinariesMissingError",
    "Cluster",
    "ComponentState",
    "ComponentStatus",
    "LocalClusterError",
    "NodeSpec",
    "StartError",
    "bin_dir",
    "binaries",
    "default_run_dir",
    "load",
    "start",
    "status",
    "stop",
    "versions",
]
