"""Helpers for the integration tests: the repository's paths, waiting for a state, ports and namespaces.

Nothing here sleeps for a fixed time: :func:`eventually` (async) and :func:`wait_for` (sync) poll a
condition until it holds, and fail with the last reason when a deadline passes.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, overload

import yaml

from localcluster import demo

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "cloudpods-operator"
CRD_DIR = REPO / "crd"
EXAMPLE = REPO / "examples" / "onecloudcluster.yaml"
KEYSTONE_IMAGE = "registry.cn-beijing.aliyuncs.com/yunionio/keystone:v3.11.5"
"""keystone's image in the example cluster: reported in its status once the operator reconciled it."""

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]
"""The `kubectl` fixture: kubectl(*args, check=True, input=None, timeout=60) against the test cluster."""


class WaitTimeout(AssertionError):
    """A wait's deadline passed with the condition still false."""


@overload
async def eventually(
    fn: Callable[[], Awaitable[T]],
    timeout: float = ...,  # noqa: ASYNC109 - a deadline for all retries
    interval: float = ...,
    *,
    retry_on: tuple[type[BaseException], ...] = ...,
) -> T: ...


@overload
async def eventually(
    fn: Callable[[], T],
    timeout: float = ...,  # noqa: ASYNC109 - a deadline for all retries
    interval: float = ...,
    *,
    retry_on: tuple[type[BaseException], ...] = ...,
) -> T: ...


async def eventually(
    fn: Callable[[], Any],
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for all retries
    interval: float = 0.2,
    *,
    retry_on: tuple[type[BaseException], ...] = (AssertionError,),
) -> Any:
    """Call `fn` (sync or async) until it passes, and return what it returned.

    A call passes when it returns without raising one of `retry_on` and does not return exactly False;
    any other exception ends the wait at once. After `timeout` seconds the last failure is raised as a
    WaitTimeout (an AssertionError, chained to it)."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            result = fn()
            if inspect.isawaitable(result):
                result = await result
            if result is not False:
                return result
            failure: BaseException = AssertionError(f"{getattr(fn, '__name__', fn)!s} returned False")
        except retry_on as exc:
            failure = exc
        if time.monotonic() >= deadline:
            message = f"still failing after {timeout:.1f}s and {attempts} attempts: {failure!r}"
            raise WaitTimeout(message) from failure
        await asyncio.sleep(interval)


def wait_for(
    check: Callable[[], Any],
    timeout: float = 60.0,
    interval: float = 0.3,
    what: str = "",
    *,
    retry_on: tuple[type[BaseException], ...] = (AssertionError,),
) -> Any:
    """Poll a synchronous check (kubectl is synchronous) until it returns something truthy, and return it.

    A check raising one of `retry_on` is retried; any other exception ends the wait at once. After
    `timeout` seconds a WaitTimeout names `what` and the last result."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except retry_on as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what or check}: last={last!r}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- namespaces and the example cluster ------------------------------------------------------------


def new_namespace(kubectl: Kubectl, prefix: str, *labels: str) -> str:
    """A fresh namespace ``<prefix>-<random>``, labelled with `labels` (``key=value``)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    if labels:
        kubectl("label", "namespace", name, *labels)
    return name


def delete_namespace(kubectl: Kubectl, name: str, timeout: float = 180.0) -> None:
    """Delete and wait until it is gone: NodePorts are cluster-wide, a leftover cluster breaks other tests.

    The local control plane runs no PVC-protection controller, so nothing would ever remove the
    kubernetes.io/pvc-protection finalizer of a deleted PVC (its pods are gone by then): drop it here.
    """
    kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false")

    def gone() -> bool:
        found = kubectl("get", "namespace", name, "--ignore-not-found", "-o", "name", check=False)
        if found.returncode == 0 and not found.stdout.strip():
            return True
        pvcs = kubectl("get", "pvc", "-n", name, "-o", "json", check=False)
        for pvc in json.loads(pvcs.stdout or "{}").get("items", []) if pvcs.returncode == 0 else []:
            meta = pvc["metadata"]
            if meta.get("deletionTimestamp") and meta.get("finalizers"):
                patch = '{"metadata":{"finalizers":null}}'
                kubectl("patch", "pvc", meta["name"], "-n", name, "--type=merge", "-p", patch, check=False)
        return False

    wait_for(gone, timeout, interval=0.5, what=f"namespace {name} to be gone")


def example_yaml(namespace: str) -> str:
    """examples/onecloudcluster.yaml, moved to `namespace`."""
    return yaml.safe_dump(demo.example_manifest(namespace, EXAMPLE))
