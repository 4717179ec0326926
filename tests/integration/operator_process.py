"""The operator as users run it: a real `cloudpods-operator run` process, started and stopped by tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .helpers import WaitTimeout, free_port, wait_for

STARTED: list[OperatorProcess] = []
"""Every operator process a test started, in order: the session kills leftovers, so none outlives the
cluster, and a failed test's report shows the logs of those it started (conftest.py)."""


def kill_leftovers() -> None:
    for op in STARTED:
        if op.proc is not None and op.proc.poll() is None:
            op.proc.kill()
            op.proc.wait(10)
    STARTED.clear()


@dataclass
class OperatorProcess:
    """One `cloudpods-operator run` child process on free local ports, logging JSON to `log_path`.

    Tests run it with ``--resync 5``; `metric` reads its /metrics, `terminate` sends SIGTERM, `freeze`
    SIGSTOP, `kill` SIGKILL.
    """

    kubeconfig: Path
    namespaces: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    metrics_port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def argv(self) -> list[str]:
        """The command line, as a user would type it (the venv's console script)."""
        return [
            str(Path(sys.executable).parent / "cloudpods-operator"),
            "run",
            "--kubeconfig",
            str(self.kubeconfig),
            "--log-format",
            "json",
            "--metrics-address",
            f"127.0.0.1:{self.metrics_port}",
            "--health-address",
            f"127.0.0.1:{self.health_port}",
            "--resync",
            "5",
            *(["--namespaces", ",".join(self.namespaces)] if self.namespaces else []),
            *self.extra_args,
        ]

    # The example's spec.mysql.host names a MySQL no test runs, and its keystone no server: provisioning
    # and registration are tested in-process (test_databases.py, test_keystone.py); a test that wants them
    # passes MANAGE_DATABASES=true or a KEYSTONE_URL in ``env``.
    _defaults = {"MANAGE_DATABASES": "false", "KEYSTONE_URL": "none"}

    def start(self, *, wait_ready: bool = True, timeout: float = 60.0) -> OperatorProcess:
        if self.log_path is None:
            # A file of its own: named by the port alone, a port used again (by a later test or an earlier
            # run) appended to another operator's log, and a test reading it saw that one's lines too.
            fd, name = tempfile.mkstemp(prefix=f"operator-{self.metrics_port}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor; a restart appends
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self._defaults, **os.environ, **self.env},
            )
        STARTED.append(self)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def get(self, path: str, port: int | None = None) -> tuple[int, str]:
        url = f"http://127.0.0.1:{port or self.health_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as err:
            return int(err.code), err.read().decode()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /readyz answers 200 (every watch has listed); fails at once if the process exits."""

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"operator exited with {self.proc.returncode}:\n{self.logs()[-4000:]}")
            return self.get("/readyz")[0] == 200

        try:
            wait_for(ready, timeout, interval=0.1, what="/readyz to answer 200", retry_on=(OSError,))
        except WaitTimeout as exc:
            raise AssertionError(f"operator not ready after {timeout}s:\n{self.logs()[-4000:]}") from exc

    def metrics(self) -> str:
        return self.get("/metrics", self.metrics_port)[1]

    def metric(self, name: str, /, **labels: str) -> float:
        """The sum of a metric's samples whose labels include ``labels``."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def writes(self, **labels: str) -> float:
        """Every POST, PUT, PATCH and DELETE sent (``code="409"``: only those refused so)."""
        return sum(
            self.metric("rest_client_requests_total", method=m, **labels)
            for m in ("POST", "PUT", "PATCH", "DELETE")
        )

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def log_tail(self, lines: int = 80) -> str:
        """The last ``lines`` lines of the log (a failed test's report shows them)."""
        return "\n".join(self.logs().splitlines()[-lines:])

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def freeze(self) -> None:
        """SIGSTOP: the process does nothing more until it is killed (or sent SIGCONT)."""
        assert self.proc is not None and self.proc.poll() is None
        self.proc.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
