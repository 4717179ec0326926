"""The benchmark's pure judgement: when a repeat is loaded, and which verdict a target row gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench import noise, report, scenarios
from bench.noise import Gate, RepeatLoad


def _load(quiet: bool, other_cpu: float, seconds: float = 10.0) -> RepeatLoad:
    return RepeatLoad("operator #0", Gate(2.0, 0.5 if quiet else 2.0, 1.0, quiet), seconds, other_cpu)


@pytest.mark.parametrize(
    ("quiet", "other_cpu", "seconds", "loaded"),
    [
        (True, 0.0, 10.0, False),
        (True, 2.5, 10.0, False),  # exactly LOADED_CORES: not above it
        (True, 2.6, 10.0, True),  # strangers above a quarter core
        (False, 0.0, 10.0, True),  # never got quiet within the wait
        (True, 0.0, 0.0, False),  # an empty window uses no cores
    ],
)
def test_loaded(quiet: bool, other_cpu: float, seconds: float, loaded: bool) -> None:
    assert noise.LOADED_CORES == 0.25
    record = _load(quiet, other_cpu, seconds)
    assert record.loaded is loaded
    assert record.as_dict()["loaded"] is loaded


def test_summary_is_loaded_when_any_repeat_is() -> None:
    runs = [_load(True, 0.1).as_dict(), _load(True, 5.0).as_dict()]
    got = noise.summary(runs)
    assert got["loaded"] is True
    assert got["max_other_cores"] == 0.5
    assert noise.summary(runs[:1])["loaded"] is False


@pytest.mark.parametrize(
    ("loaded", "value", "limit", "verdict"),
    [
        (False, 1.1, 1.1, "met"),
        (False, 1.2, 1.1, "MISSED x1.09"),
        (True, 1.0, 1.1, report.NOT_JUDGED),
        (True, 9.0, 1.1, report.NOT_JUDGED),
        (False, None, 1.1, ""),
    ],
)
def test_judge(loaded: bool, value: float | None, limit: float, verdict: str) -> None:
    assert report.judge(loaded, value, limit) == verdict


@pytest.mark.parametrize(
    ("loaded", "value", "want", "verdict"),
    [
        (False, 0.0, 0, "met"),
        (False, 3.0, 0, "MISSED (3)"),
        (True, 3.0, 0, report.NOT_JUDGED),
        (False, 1.0, 1, "met"),
    ],
)
def test_judge_exact(loaded: bool, value: float | None, want: float, verdict: str) -> None:
    assert report.judge_exact(loaded, value, want) == verdict


def _bump(ratios: list[float], loaded: bool, status: int = 5) -> dict[str, Any]:
    return {
        "objects": 32,
        "seconds": report.stats([0.5] * len(ratios)),
        "floor_seconds": report.stats([0.4] * len(ratios)),
        "ratio_to_floor": report.stats(ratios, 2),
        "status_writes": report.stats([status] * len(ratios), 0),
        "loaded": loaded,
        "load": [],
    }


def _verdicts(result: dict[str, Any], scenario: str) -> dict[str, str]:
    return {r[1]: r[6] for r in report.rows_of(result) if r[0] == scenario and r[5]}


@pytest.mark.parametrize(
    ("ratios", "loaded", "status", "median_verdict", "max_verdict", "status_verdict"),
    [
        ([1.0, 1.05, 1.2], False, 8, "met", "met", "met"),
        ([1.0, 1.05, 1.4], False, 9, "met", "MISSED x1.08", "MISSED x1.12"),  # one slow repeat: max
        ([1.2, 1.15, 1.25], False, 5, "MISSED x1.09", "met", "met"),
        ([3.0, 3.0, 3.0], True, 30, report.NOT_JUDGED, report.NOT_JUDGED, report.NOT_JUDGED),
    ],
)
def test_bump_targets(
    ratios: list[float],
    loaded: bool,
    status: int,
    median_verdict: str,
    max_verdict: str,
    status_verdict: str,
) -> None:
    for name in ("version_bump", "staged_bump"):
        sc = _bump(ratios, loaded, status)
        if name == "staged_bump":
            sc["daemonsets"] = 5
        got = _verdicts({name: sc}, name)
        assert got["ratio to floor, median"] == median_verdict
        assert got["ratio to floor, max"] == max_verdict
        assert got["  of which status"] == status_verdict


def test_the_ratio_from_the_crs_event_and_the_floors_own_spread_are_reported_never_judged() -> None:
    """The floor has no CR write to wait for; the time from the CR's delivered event on is shown, not judged:
    the targets stay on the whole window. So is each floor over the previous repeat's (adjacent pairs)."""
    sc = _bump([1.3, 1.4, 1.5], False)
    sc.update(scenarios._reported_figures([0.02, 0.03, 0.04], [0.9, 1.0, 1.1], [0.1, 0.2, 0.1, 0.125]))
    assert sc["floor_to_previous_floor"]["runs"] == [2.0, 0.5, 1.25]
    rows = {r[1]: r for r in report.rows_of({"version_bump": sc}) if r[0] == "version_bump"}
    reported = rows["ratio to floor from that event (reported)"]
    assert (reported[5], reported[6]) == ("", "") and rows["CR's new generation delivered [s]"][5] == ""
    spread = rows["floor / previous repeat's floor (reported)"]
    assert spread[2:7] == (0.5, 1.25, 2.0, "", "")
    assert _verdicts({"version_bump": sc}, "version_bump")["ratio to floor, median"] == "MISSED x1.27"


def _fleet(cold_seconds: float, rss: float, cold_peak: float, loaded: bool = False) -> dict[str, Any]:
    entry = {
        "bring_up_seconds": 200.0,
        "rss_mb": rss,
        "cold_start_rss_mb": report.stats([rss]),
        "cold_start_peak_mb": report.stats([cold_peak]),
        "cpu_seconds_per_minute": 1.0,
        "cold_start_seconds": report.stats([cold_seconds]),
        "cold_start_writes": report.stats([0], 0),
    }
    return {"product": "CMP", "sizes": {"100": entry}, "loaded": loaded, "load": []}


@pytest.mark.parametrize(
    ("fleet", "bump_peak", "bump_ratio", "bump_loaded", "want"),
    [
        (
            _fleet(1.5, 140, 190),
            180.0,
            1.1,
            False,
            {"rss": "met", "cold": "met", "peak": "met", "ratio": "met"},
        ),
        (  # the cold start's peak is the higher one
            _fleet(2.5, 160, 220),
            180.0,
            1.3,
            False,
            {"rss": "MISSED x1.07", "cold": "MISSED x1.25", "peak": "MISSED x1.10", "ratio": "MISSED x1.08"},
        ),
        (  # the bump ran under load: its ratio and the shared peak are not judged, the fleet's rows are
            _fleet(1.5, 140, 190),
            250.0,
            2.0,
            True,
            {"rss": "met", "cold": "met", "peak": report.NOT_JUDGED, "ratio": report.NOT_JUDGED},
        ),
    ],
)
def test_fleet_targets(
    fleet: dict[str, Any], bump_peak: float, bump_ratio: float, bump_loaded: bool, want: dict[str, str]
) -> None:
    bump = {
        "objects": 2500,
        "seconds": report.stats([40.0]),
        "ratio_to_floor": report.stats([bump_ratio], 2),
        "rss_peak_mb": bump_peak,
        "loaded": bump_loaded,
        "load": [],
    }
    result = {"fleet": fleet, "fleet_bump": bump}
    fleet_rows = _verdicts(result, "fleet")
    bump_rows = _verdicts(result, "fleet_bump")
    assert fleet_rows["100 x CMP: RSS at rest [MB]"] == want["rss"]
    assert fleet_rows["100 x CMP: cold start to all reconciled [s]"] == want["cold"]
    assert fleet_rows["100 x CMP: cold start writes"] == ("met" if not fleet["loaded"] else report.NOT_JUDGED)
    assert bump_rows["peak RSS, cold starts and bump [MB]"] == want["peak"]
    assert bump_rows["ratio to floor"] == want["ratio"]
    assert report.peak_rss(result) == max(bump_peak, fleet["sizes"]["100"]["cold_start_peak_mb"]["max"])


def test_full_cluster_writes_at_rest() -> None:
    rest = {
        "window_seconds": 16.0,
        "writes": report.stats([0, 2], 0),
        "apiserver_writes": report.stats([0], 0),
    }
    sc = {
        "bring_up_seconds": 40.0,
        "objects": 41,
        "bump_seconds": 1.0,
        "bump_ready_seconds": 9.0,
        "bump_writes": {"total": 50},
        "bump_status_writes": 6,
        "at_rest": rest,
        "loaded": False,
        "load": [],
    }
    got = _verdicts({"full_cluster": sc}, "full_cluster")
    assert got["operator writes / 16s at rest"] == "MISSED (2)"
    assert got["apiserver writes at rest (managed kinds)"] == "met"
    assert (
        _verdicts({"full_cluster": {**sc, "loaded": True}}, "full_cluster")["operator writes / 16s at rest"]
        == report.NOT_JUDGED
    )


def test_quiet_summary() -> None:
    result: dict[str, Any] = {
        "meta": {},
        "floor": {"loaded": False},
        "version_bump": {"loaded": True},
        "fleet": {"error": "boom"},
    }
    got = noise.quiet_summary(result, 3.456)
    assert got == {
        "all_quiet": False,
        "scenarios": {"floor": "quiet", "version_bump": "loaded"},
        "max_load_seen": 3.46,
    }


BURN = "import time\nwhile time.process_time() < {s}: pass\n{tail}"


@pytest.mark.parametrize(
    ("what", "argv_tail"),
    [
        ("a child, ended and reaped: its CPU moves into our cutime", ""),
        ("a grandchild still running under a child: found by walking the tree", "time.sleep(30)"),
    ],
)
def test_ours_counts_our_process_tree(what: str, argv_tail: str) -> None:
    """CPU burnt by processes the benchmark started is ours, never "other" (whatever else the machine
    runs): a child that exited, or a live descendant."""
    import os
    import subprocess
    import sys
    import time

    seconds = 0.3
    before = noise.ours_ticks([os.getpid()])
    if not argv_tail:
        subprocess.run([sys.executable, "-c", BURN.format(s=seconds, tail="")], check=True)
        after = noise.ours_ticks([os.getpid()])
    else:
        # a shell that starts the burner and waits: the burner is our grandchild
        code = BURN.format(s=seconds, tail="open(sys.argv[1], 'w').close()\n" + argv_tail)
        flag = Path(f"/tmp/bench-test-{os.getpid()}")
        flag.unlink(missing_ok=True)
        shell = subprocess.Popen(["sh", "-c", f'"$0" -c "import sys\n{code}" {flag}; :', sys.executable])
        try:
            deadline = time.monotonic() + 60
            while not flag.exists():
                assert time.monotonic() < deadline, "the grandchild never finished burning"
                time.sleep(0.05)
            after = noise.ours_ticks([os.getpid()])
        finally:
            for child in _descendants(shell.pid):
                os.kill(child, 15)
            shell.kill()
            shell.wait()
            flag.unlink(missing_ok=True)
    assert (after - before) / noise.CLOCK_TICKS >= seconds - 0.05, what


def _descendants(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.mark.parametrize(
    ("max_load", "quiet_wait", "quiet", "waits_at_least"),
    [
        (1e9, 5.0, True, 0.0),  # any load is quiet: no wait
        (-1.0, 0.3, False, 0.3),  # no load is quiet: waits the whole wait, then says so
    ],
)
def test_gate(max_load: float, quiet_wait: float, quiet: bool, waits_at_least: float) -> None:
    import asyncio

    gate = asyncio.run(noise.Noise(max_load=max_load, quiet_wait=quiet_wait, poll=0.1).gate())
    assert gate.quiet is quiet
    assert waits_at_least <= gate.waited_seconds < quiet_wait + 1.0


async def test_settle_gate_ends_at_consecutive_idle_samples() -> None:
    """An idle threshold no machine exceeds (every core busy counts at most ``cpu_count`` cores) ends the
    settle gate after exactly IDLE_SAMPLES samples, settled."""
    import os

    gate = noise.Noise(idle_cores=float(os.cpu_count() or 1) + 1, idle_sample=0.05)
    waited, settled, cores = await gate.settle()
    assert settled is True
    assert noise.IDLE_SAMPLES * 0.05 <= waited < 5.0
    assert 0.0 <= cores <= (os.cpu_count() or 1) + 0.5


async def test_settle_gate_gives_up_unsettled_and_records_it() -> None:
    """A machine never idle enough (a negative threshold) ends the gate at its wait, unsettled; the repeat
    records it, and the summary counts it, without calling the repeat loaded."""
    gate = noise.Noise(idle_cores=-1.0, idle_wait=0.2, idle_sample=0.05, max_load=1e9)
    result = await gate.gate()
    assert result.settled is False
    assert 0.2 <= result.settle_seconds < 5.0
    record = RepeatLoad("operator #0", result, 1.0, 0.0)
    row = record.as_dict()
    assert row["settled"] is False and row["loaded"] is False
    assert noise.summary([row])["unsettled"] == 1
    assert noise.summary([_load(True, 0.0).as_dict()])["unsettled"] == 0
