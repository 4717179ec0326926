"""Noise control: wait for a quiet machine before each measured repeat, and measure what others used.

The machine is shared. A time measured while other processes compete for its 2 cores says little about the
operator, so before each repeat the benchmark waits until the 1-minute load average is low, and during the
repeat it counts the CPU seconds of every process that is not its own (the benchmark, the operator, the
control plane, MariaDB and Keystone, and their children). A repeat that never got quiet, or that shared the
machine with busy strangers, is "loaded": a scenario with a loaded repeat meets no target.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Other processes using more than a quarter of a core on average during a repeat: on 2 cores that is an
# eighth of the machine taken from the operator and the control plane, more than the spread of a quiet run.
LOADED_CORES = 0.25
DEFAULT_MAX_LOAD = 1.0
DEFAULT_QUIET_WAIT = 600.0
QUICK_QUIET_WAIT = 30.0
POLL_SECONDS = 3.0
IDLE_CORES = 0.2
"""The settle gate: the whole machine (ours included) at most this busy over a sample. The 1-minute load
average cannot see the control plane still finishing the previous repeat's rollout (old pods deleted,
ReplicaSets scaled down, events written) for a second or two, and a repeat started inside that tail
shares the API server with it."""
IDLE_SAMPLE_SECONDS = 0.25
IDLE_SAMPLES = 2
"""Consecutive idle samples that end the settle gate."""
DEFAULT_IDLE_WAIT = 20.0


def loadavg() -> float:
    return os.getloadavg()[0]


@dataclass(frozen=True)
class Gate:
    """What the quiet gate saw before a repeat."""

    load_before_wait: float
    load_at_start: float
    """The 1-minute load average when the repeat started (after the wait)."""
    waited_seconds: float
    quiet: bool
    settle_seconds: float = 0.0
    """How long the settle gate waited for an idle machine after the load gate."""
    settled: bool = True
    """Whether it saw IDLE_SAMPLES idle samples in a row within its wait (recorded, not judged: a
    background that never idles is the machine's, not the repeat's)."""
    busy_cores: float = 0.0
    """The whole machine's busy cores over the settle gate's last sample."""


@dataclass(frozen=True)
class RepeatLoad:
    """One measured repeat's noise: the gate before it and the other processes' CPU during it."""

    part: str
    gate: Gate
    seconds: float
    other_cpu_seconds: float

    @property
    def other_cores(self) -> float:
        return self.other_cpu_seconds / self.seconds if self.seconds > 0 else 0.0

    @property
    def loaded(self) -> bool:
        return is_loaded(self.gate.quiet, self.other_cores)

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "load_before_wait": round(self.gate.load_before_wait, 2),
            "load_at_start": round(self.gate.load_at_start, 2),
            "waited_seconds": round(self.gate.waited_seconds, 1),
            "quiet": self.gate.quiet,
            "settle_seconds": round(self.gate.settle_seconds, 2),
            "settled": self.gate.settled,
            "busy_cores_at_start": round(self.gate.busy_cores, 3),
            "seconds": round(self.seconds, 3),
            "other_cpu_seconds": round(self.other_cpu_seconds, 2),
            "other_cores": round(self.other_cores, 3),
            "loaded": self.loaded,
        }


def is_loaded(quiet: bool, other_cores: float) -> bool:
    """A repeat is loaded when the gate gave up waiting, or strangers used more than LOADED_CORES."""
    return not quiet or other_cores > LOADED_CORES


def summary(loads: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A scenario's noise from its per-repeat records (``RepeatLoad.as_dict``)."""
    runs = list(loads)
    return {
        "loaded": any(r["loaded"] for r in runs),
        "repeats": len(runs),
        "max_load_at_start": max((r["load_at_start"] for r in runs), default=None),
        "max_other_cores": max((r["other_cores"] for r in runs), default=None),
        "waited_seconds": round(sum(r["waited_seconds"] for r in runs), 1),
        "settle_seconds": round(sum(r["settle_seconds"] for r in runs), 1),
        "unsettled": sum(1 for r in runs if not r["settled"]),
    }


def busy_ticks() -> int:
    """Every CPU's busy time so far (/proc/stat: user nice system irq softirq steal), in clock ticks."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return user + nice + system + irq + softirq + steal


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, utime+stime+cutime+cstime) of a pid: its own CPU and that of its reaped children."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])


def ours_ticks(roots: Iterable[int]) -> int:
    """The CPU of the process trees under ``roots`` (the benchmark itself and anything it started).

    A child that ends and is reaped moves its CPU into its parent's cutime+cstime, so the sum stays whole
    across operator restarts; a live process counts its own time and its reaped children's."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    seen: set[int] = set()
    todo = [pid for pid in roots if pid in stats]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, ()))
    return sum(stats[pid][1] for pid in seen)


class Window:
    """Other processes' CPU from now until ``stop``: busy time minus ours."""

    def __init__(self, roots: Callable[[], Iterable[int]]) -> None:
        self._roots = roots
        self.started = time.monotonic()
        self._busy = busy_ticks()
        self._ours = ours_ticks(roots())

    def stop(self) -> tuple[float, float]:
        """(seconds of the window, CPU seconds of other processes in it)."""
        seconds = time.monotonic() - self.started
        others = (busy_ticks() - self._busy) - (ours_ticks(self._roots()) - self._ours)
        return seconds, max(0.0, others / CLOCK_TICKS)


@dataclass
class Noise:
    """The gate's settings and the pids whose trees are ours (besides the benchmark's own)."""

    max_load: float = DEFAULT_MAX_LOAD
    quiet_wait: float = DEFAULT_QUIET_WAIT
    poll: float = POLL_SECONDS
    extra_pids: set[int] = field(default_factory=set)
    """Besides the benchmark's own tree: the control plane's, MariaDB's and Keystone's pids (they are its
    children when it started them, but say so in case one was reparented)."""
    max_load_seen: float = 0.0
    idle_cores: float = IDLE_CORES
    idle_wait: float = DEFAULT_IDLE_WAIT
    idle_sample: float = IDLE_SAMPLE_SECONDS

    def roots(self) -> list[int]:
        return [os.getpid(), *self.extra_pids]

    async def gate(self) -> Gate:
        """Wait until the 1-minute load average is at most ``max_load`` (at most ``quiet_wait`` s)."""
        started = time.monotonic()
        first = load = loadavg()
        while load > self.max_load and time.monotonic() - started < self.quiet_wait:
            await asyncio.sleep(min(self.poll, max(0.0, self.quiet_wait - (time.monotonic() - started))))
            load = loadavg()
        self.max_load_seen = max(self.max_load_seen, first, load)
        waited = time.monotonic() - started
        settle, settled, cores = await self.settle()
        return Gate(first, load, waited, load <= self.max_load, settle, settled, cores)

    async def settle(self) -> tuple[float, bool, float]:
        """Wait until the machine is idle at a short scale: IDLE_SAMPLES samples in a row with at most
        ``idle_cores`` busy (every process), for at most ``idle_wait`` s. (seconds, settled, last busy)."""
        started = time.monotonic()
        run, cores = 0, 0.0
        while True:
            t0, b0 = time.monotonic(), busy_ticks()
            await asyncio.sleep(self.idle_sample)
            cores = (busy_ticks() - b0) / CLOCK_TICKS / max(time.monotonic() - t0, 1e-3)
            run = run + 1 if cores <= self.idle_cores else 0
            waited = time.monotonic() - started
            if run >= IDLE_SAMPLES:
                return waited, True, cores
            if waited >= self.idle_wait:
                return waited, False, cores

    def window(self) -> Window:
        return Window(self.roots)

    async def measure(self, part: str) -> Measured:
        """The gate, then a CPU window: ``done()`` closes it and gives the repeat's record."""
        gate = await self.gate()
        return Measured(part, gate, self.window(), self)


@dataclass
class Measured:
    part: str
    gate: Gate
    window: Window
    noise: Noise

    def done(self) -> RepeatLoad:
        seconds, others = self.window.stop()
        self.noise.max_load_seen = max(self.noise.max_load_seen, loadavg())
        return RepeatLoad(self.part, self.gate, seconds, others)


def quiet_summary(result: dict[str, Any], max_load_seen: float) -> dict[str, Any]:
    """meta.quiet: every scenario quiet or loaded, and the highest load average the gates saw."""
    scenarios = {
        name: "loaded" if entry.get("loaded") else "quiet"
        for name, entry in result.items()
        if name != "meta" and isinstance(entry, dict) and "loaded" in entry
    }
    return {
        "all_quiet": all(v == "quiet" for v in scenarios.values()),
        "scenarios": scenarios,
        "max_load_seen": round(max_load_seen, 2),
    }
