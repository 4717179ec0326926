"""The operator as users run it: a real ``cloudpods-operator run`` process, its /metrics and /proc."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Sample = tuple[str, dict[str, str], float]


def parse_prometheus(text: str) -> list[Sample]:
    """Prometheus text format -> (name, labels, value); enough for counters and gauges."""
    out: list[Sample] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels: dict[str, str] = {}
        if rest:
            body = rest.rstrip("}")
            i = 0
            while i < len(body):
                eq = body.index("=", i)
                key = body[i:eq].strip().lstrip(",").strip()
                j = eq + 2  # skip ="
                chars = []
                while body[j] != '"':
                    if body[j] == "\\":
                        j += 1
                    chars.append(body[j])
                    j += 1
                labels[key] = "".join(chars)
                i = j + 1
        try:
            out.append((name.strip(), labels, float(value)))
        except ValueError:
            continue
    return out


def total(samples: Sequence[Sample], name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == w for k, w in labels.items()))


@dataclass(frozen=True)
class Writes:
    """The operator's own count of its write requests (rest_client_requests_total), split where it can be.

    The operator's counters do not label the target resource, so status writes are derived: every
    server-side apply of an object is a PATCH counted in cloudpods_operator_applies_total, and the only other
    PATCH the operator sends is the OnecloudCluster status apply. Events and Secrets are its only POSTs."""

    post: float
    put: float
    patch: float
    delete: float
    applies: float
    prunes: float

    @property
    def total(self) -> float:
        return self.post + self.put + self.patch + self.delete

    @property
    def status(self) -> float:
        return self.patch - self.applies

    def __sub__(self, other: Writes) -> Writes:
        return Writes(
            self.post - other.post,
            self.put - other.put,
            self.patch - other.patch,
            self.delete - other.delete,
            self.applies - other.applies,
            self.prunes - other.prunes,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "total": round(self.total),
            "workload_and_object_applies": round(self.applies),
            "status": round(self.status),
            "post": round(self.post),
            "put": round(self.put),
            "delete": round(self.delete),
        }


def writes_of(samples: Sequence[Sample]) -> Writes:
    def req(method: str) -> float:
        return total(samples, "rest_client_requests_total", method=method)

    return Writes(
        req("POST"),
        req("PUT"),
        req("PATCH"),
        req("DELETE"),
        total(samples, "cloudpods_operator_applies_total"),
        total(samples, "cloudpods_operator_deletes_total"),
    )


@dataclass
class Operator:
    kubeconfig: Path
    log_dir: Path
    resync: float = 5.0
    extra_args: tuple[str, ...] = ()
    mysql_address: str = ""
    """HOST:PORT of a real MySQL (databases managed); empty: ``--no-manage-databases``."""
    keystone_url: str = "none"
    """A real keystone's v3 URL; ``none``: no registration (issue 19: the fleet runs with none)."""
    namespaces: str = ""
    """Watch only these namespaces (comma-separated); empty: all."""
    metrics_port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def argv(self) -> list[str]:
        binary = Path(sys.executable).parent / "cloudpods-operator"
        return [
            str(binary),
            "run",
            "--kubeconfig",
            str(self.kubeconfig),
            "--log-format",
            "json",
            "--log-level",
            "warning",
            "--metrics-address",
            f"127.0.0.1:{self.metrics_port}",
            "--health-address",
            f"127.0.0.1:{self.health_port}",
            "--resync",
            f"{self.resync:g}",
            # the benchmark's clusters have no MySQL nor keystone (issue 19), but the full cluster's
            *(["--mysql-address", self.mysql_address] if self.mysql_address else ["--no-manage-databases"]),
            "--keystone-url",
            self.keystone_url,
            *(["--namespaces", self.namespaces] if self.namespaces else []),
            *self.extra_args,
        ]

    @property
    def settings(self) -> dict[str, object]:
        """What it runs with, for the report (defaults of settings.py for what is not given)."""
        from cloudpods_operator.cli import build_parser

        args = build_parser().parse_args(self.argv[1:])
        return {
            "resync_seconds": args.resync,
            "workers": args.workers,
            "apply_concurrency": args.apply_concurrency,
            "field_manager": args.field_manager,
            "namespaces": args.namespaces or "(all)",
            "log_level": args.log_level,
            "manage_databases": bool(self.mysql_address),
            "keystone": "none" if self.keystone_url == "none" else "a local Keystone",
        }

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, *, within: float = 120.0) -> Operator:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"operator-{self.metrics_port}.log"
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        self.started_at = time.monotonic()
        await self.wait_ready(within)
        return self

    async def _get(self, port: int, path: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}{path}", timeout=aiohttp.ClientTimeout(total=10)) as resp,
        ):
            return resp.status, await resp.text()

    async def wait_ready(self, within: float) -> float:
        """Seconds from start until /readyz answered 200 (its caches listed)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited with {self.proc.returncode}; see {self.log_dir}")
            try:
                if (await self._get(self.health_port, "/readyz"))[0] == 200:
                    return time.monotonic() - self.started_at
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
        raise TimeoutError(f"operator not ready after {within:.0f}s; see {self.log_dir}")

    async def samples(self) -> list[Sample]:
        status, text = await self._get(self.metrics_port, "/metrics")
        if status != 200:
            raise RuntimeError(f"operator /metrics answered {status}")
        return parse_prometheus(text)

    async def writes(self) -> Writes:
        return writes_of(await self.samples())

    async def reconciles(self) -> float:
        """Successful reconciles of every cluster."""
        return total(await self.samples(), "controller_runtime_reconcile_total", result="success")

    async def last_successes(self) -> dict[str, float]:
        """Each cluster ("namespace/name") with a successful reconcile in this process: the Unix time its
        last one ended."""
        gauge = "cloudpods_operator_cluster_last_success_timestamp_seconds"
        return {labels["cluster"]: value for name, labels, value in await self.samples() if name == gauge}

    def rss_mb(self) -> float:
        return proc_rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def stop(self, within: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL after ``within`` seconds)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + within
        while self.proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - a child process
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        return int(self.proc.returncode or 0)


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of the process (its threads included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def pids_rss_mb(pids: Mapping[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = round(proc_rss_mb(pid), 1)
        except (OSError, RuntimeError):
            continue
    return out
