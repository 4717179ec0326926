"""The operator image, built from the Dockerfile unchanged, runs as a Deployment would run it.

No Docker engine and no registry here: hack/image/build.sh builds with Debian's podman (chroot isolation)
on a local base of the Dockerfile's Debian release and Python. podman cannot run containers on this
machine (crun refuses its hybrid cgroup layout), so the built root filesystem is mounted read-only and
the entrypoint runs in it with chroot as uid/gid 65532, against the local control plane, the way the
chart's restricted pod runs it (readOnlyRootFilesystem, runAsUser 65532). Never skipped: without root
or podman it fails and says why.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from cloudpods_operator import __version__

from .cloud import Cloud
from .conftest import Kube
from .helpers import REPO
from .operator_process import OperatorProcess

USER = "65532:65532"


def _run(*argv: str, timeout: float = 60.0) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout.strip()


def _build() -> str:
    """The image's name; the script installs podman/mmdebstrap when missing and caches the base."""
    return _run("bash", str(REPO / "hack" / "image" / "build.sh"), timeout=900).splitlines()[-1]


def _kubeconfig_in(source: Path, target: Path) -> None:
    """The test cluster's kubeconfig and the files it names, in ``target`` (seen as /mnt), readable by 65532.

    Files, not inline data: kubernetes_asyncio writes inline certificates to temporary files, which a
    read-only root refuses (in a pod the operator reads the ServiceAccount's files, as here)."""
    config = yaml.safe_load(source.read_text())
    for entry in [*config["clusters"], *config["users"]]:
        body = entry.get("cluster") or entry.get("user") or {}
        for name in ("certificate-authority", "client-certificate", "client-key"):
            if name in body or f"{name}-data" in body:
                copy = target / f"{entry['name']}-{name}"
                inline = body.pop(f"{name}-data", None)
                copy.write_bytes(base64.b64decode(inline) if inline else Path(body[name]).read_bytes())
                copy.chmod(0o644)
                body[name] = f"/mnt/{copy.name}"
    (target / "kubeconfig").write_text(yaml.safe_dump(config))
    (target / "kubeconfig").chmod(0o644)


@contextlib.contextmanager
def _mounted(image: str, workdir: Path, kubeconfig: Path) -> Iterator[Path]:
    """The image's root filesystem, read-only, with /proc, /dev and the kubeconfig at /mnt (as a pod has)."""
    root = workdir / "root"
    config = workdir / "config"
    root.mkdir()
    config.mkdir(mode=0o755)
    _kubeconfig_in(kubeconfig, config)
    layers = _run("podman", "image", "mount", image)
    mounts: list[Path] = []
    try:
        for argv in (
            ("--bind", layers, str(root)),
            ("-o", "remount,ro,bind", str(root)),
            ("-t", "proc", "proc", str(root / "proc")),
            ("--bind", "/dev", str(root / "dev")),
            ("--bind", str(config), str(root / "mnt")),
            ("-o", "remount,ro,bind", str(root / "mnt")),
        ):
            _run("mount", *argv)
            if "remount,ro,bind" not in argv:
                mounts.append(Path(argv[-1]))
        yield root
    finally:
        for mount in reversed(mounts):
            subprocess.run(["umount", str(mount)], check=False)
        subprocess.run(["podman", "image", "umount", image], capture_output=True, check=False)


@dataclass
class ImageOperator(OperatorProcess):
    """`cloudpods-operator run` from the image's root, as uid 65532, with the test harness's flags."""

    root: Path = Path("/nonexistent")

    @property
    def argv(self) -> list[str]:
        return [
            "chroot",
            f"--userspec={USER}",
            str(self.root),
            "/opt/venv/bin/cloudpods-operator",
            *super().argv[1:],
        ]


def _uid(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))


def test_the_built_image_runs_read_only_as_65532(cloud: Cloud, kube: Kube, tmp_path: Path) -> None:
    assert os.geteuid() == 0, "building and chroot-running the image needs root (bind mounts, chroot)"
    image = _build()
    with _mounted(image, tmp_path, kube.kubeconfig) as root:
        chroot = ("chroot", f"--userspec={USER}", str(root))
        assert (
            _run(*chroot, "/opt/venv/bin/cloudpods-operator", "--version")
            == f"cloudpods-operator {__version__}"
        )
        assert not list(root.glob("opt/venv/lib/python*/site-packages/localcluster")), "dev-only code shipped"
        write = subprocess.run([*chroot, "/bin/sh", "-c", "touch /opt/probe"], capture_output=True, text=True)
        assert write.returncode != 0 and "Read-only file system" in write.stderr

        cloud.operator.terminate()
        operator = ImageOperator(Path("/mnt/kubeconfig"), namespaces=(cloud.namespace,), root=root)
        cloud.operator = operator
        try:
            operator.start()
            assert operator.proc is not None
            assert _uid(operator.proc.pid) == "65532"
            cloud.apply()
            cloud.wait_ready()
            assert cloud.workloads(), "Ready with no workload"
            assert operator.metric("controller_runtime_reconcile_total") > 0
        finally:
            assert operator.terminate() == 0, operator.logs()[-3000:]
