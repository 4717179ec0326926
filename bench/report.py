"""Figures: min/median/max of repeated runs, the printed table, and the JSON file."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any


def stats(values: Iterable[float], digits: int = 3) -> dict[str, Any]:
    runs = [float(v) for v in values]
    if not runs:
        return {"min": None, "median": None, "max": None, "runs": []}
    return {
        "min": round(min(runs), digits),
        "median": round(statistics.median(runs), digits),
        "max": round(max(runs), digits),
        "runs": [round(v, digits) for v in runs],
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == int(value) and abs(value) >= 100:
            return str(int(value))
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


Row = tuple[str, str, Any, Any, Any, str, str]
NOT_JUDGED = "not judged: run under load"

# Issue 19's targets: ratios to the floor of the same run, medians unless the max is named.
BUMP_RATIO_MEDIAN = 1.1
BUMP_RATIO_MAX = 1.3
FLEET_BUMP_RATIO = 1.2
STATUS_WRITES_PER_BUMP = 8
FLEET_RSS_AT_REST_MB = 150
FLEET_RSS_PEAK_MB = 200
COLD_START_SECONDS = 2.0


def rows_of(result: dict[str, Any]) -> list[Row]:
    """scenario, figure, min, median, max, target, verdict: the headline figures of every scenario. A
    scenario that ran under load gets no verdict on its targets: ``NOT_JUDGED``."""
    rows: list[Row] = []

    def add(scenario: str, figure: str, st: Any, target: str = "", verdict: str = "") -> None:
        if isinstance(st, dict) and "median" in st:
            rows.append((scenario, figure, st["min"], st["median"], st["max"], target, verdict))
        elif st is not None:
            rows.append((scenario, figure, None, st, None, target, verdict))

    def noise_row(name: str, sc: dict[str, Any]) -> None:
        runs = [r["other_cores"] for r in sc.get("load") or []]
        if runs:
            quiet = "loaded" if sc.get("loaded") else "quiet"
            add(name, f"others' CPU per repeat [cores] ({quiet})", stats(runs))

    floor = result.get("floor")
    if floor and "error" not in floor:
        for c, entry in sorted(floor.get("by_concurrency", {}).items(), key=lambda kv: int(kv[0])):
            mark = " (best)" if int(c) == floor.get("best_concurrency") else ""
            add("floor", f"apply {floor['objects']} changed, c={c}{mark} [s]", entry["seconds"])
        add("floor", "applies/s at best c", floor.get("applies_per_s"))
        noise_row("floor", floor)
    for name, what in (("version_bump", "workloads"), ("staged_bump", "of the Deployment wave")):
        sc = result.get(name)
        if not sc or "error" in sc:
            continue
        loaded = bool(sc.get("loaded"))
        add(name, f"all {sc['objects']} {what} carry new image [s]", sc["seconds"])
        add(name, "its floor, same bodies, each repeat [s]", sc.get("floor_seconds"))
        ratio = sc["ratio_to_floor"]
        add(
            name,
            "ratio to floor, median",
            ratio,
            f"<= {BUMP_RATIO_MEDIAN}",
            judge(loaded, _median(ratio), BUMP_RATIO_MEDIAN),
        )
        add(
            name,
            "ratio to floor, max",
            _max(ratio),
            f"<= {BUMP_RATIO_MAX}",
            judge(loaded, _max(ratio), BUMP_RATIO_MAX),
        )
        if "cr_event_seconds" in sc:
            add(name, "CR's new generation delivered [s]", sc["cr_event_seconds"])
            add(name, "ratio to floor from that event (reported)", sc["ratio_to_floor_after_cr_event"])
        if "floor_to_previous_floor" in sc:
            add(name, "floor / previous repeat's floor (reported)", sc["floor_to_previous_floor"])
        if name == "staged_bump":
            hosts = sc.get("daemonsets_start_seconds")
            add(name, f"first of {sc['daemonsets']} DaemonSets starts [s]", hosts)
        add(name, "Ready=True again [s]", sc.get("ready_seconds"))
        add(name, "operator writes", sc.get("writes"))
        if "status_writes" in sc:
            st = sc["status_writes"]
            writes_limit = STATUS_WRITES_PER_BUMP
            add(name, "  of which status", st, f"<= {writes_limit}", judge(loaded, _median(st), writes_limit))
        noise_row(name, sc)
    for name in ("fleet_bump", "fleet_bump_staged"):
        sc = result.get(name)
        if not sc or "error" in sc:
            continue
        loaded = bool(sc.get("loaded"))
        what = "workloads" if name == "fleet_bump" else "of the Deployment wave"
        add(name, f"all {sc['objects']} {what} carry new image [s]", sc["seconds"])
        add(name, "floor for the same objects [s]", sc.get("floor_seconds"))
        ratio = sc["ratio_to_floor"]
        if name == "fleet_bump":
            limit = FLEET_BUMP_RATIO
            add(name, "ratio to floor", ratio, f"<= {limit}", judge(loaded, _median(ratio), limit))
        else:
            add(name, "ratio to floor (reported)", ratio)
        add(name, "Ready=True again [s]", sc.get("ready_seconds"))
        add(name, "operator writes", sc.get("writes"))
        add(name, "operator peak RSS during the bump [MB]", sc.get("rss_peak_mb"))
        peak = peak_rss(result)
        if name == "fleet_bump" and peak is not None:
            loaded = any(bool((result.get(k) or {}).get("loaded")) for k in ("fleet", "fleet_bump"))
            verdict = judge(loaded, peak, FLEET_RSS_PEAK_MB)
            add(name, "peak RSS, cold starts and bump [MB]", peak, f"<= {FLEET_RSS_PEAK_MB}", verdict)
        noise_row(name, sc)
    sc = result.get("single_override")
    if sc and "error" not in sc:
        loaded = bool(sc.get("loaded"))
        add("single_override", "default-region carries tag [s]", sc["seconds"])
        add("single_override", "ratio to floor (1 object)", sc.get("ratio_to_floor"))
        add("single_override", "operator writes, total", sc["writes"])
        applies = sc["workload_writes"]
        verdict = judge_exact(loaded, _max(applies), 1)
        add("single_override", "  of which object applies", applies, "1", verdict)
        add("single_override", "  of which status", sc["status_writes"])
        changed = sc["objects_changed"]
        add(
            "single_override",
            "objects with new resourceVersion",
            changed,
            "1",
            judge_exact(loaded, _max(changed), 1),
        )
        noise_row("single_override", sc)
    sc = result.get("at_rest")
    if sc and "error" not in sc:
        _rest_rows(add, "at_rest", sc)
        add("at_rest", "reconciles in window", sc["reconciles"])
        noise_row("at_rest", sc)
    sc = result.get("full_cluster")
    if sc and "error" not in sc:
        add("full_cluster", "bring-up to Ready (MariaDB, Keystone) [s]", sc["bring_up_seconds"])
        add("full_cluster", f"bump: all {sc['objects']} workloads carry new image [s]", sc["bump_seconds"])
        add("full_cluster", "bump: Ready=True again [s]", sc["bump_ready_seconds"])
        add("full_cluster", "bump: operator writes", sc["bump_writes"]["total"])
        add("full_cluster", "  of which status", sc["bump_status_writes"])
        _rest_rows(add, "full_cluster", {**sc["at_rest"], "loaded": sc.get("loaded")})
        noise_row("full_cluster", sc)
    fleet = result.get("fleet")
    if fleet and "error" not in fleet:
        loaded = bool(fleet.get("loaded"))
        sizes = sorted(fleet.get("sizes", {}).items(), key=lambda kv: int(kv[0]))
        biggest = max((int(k) for k, _ in sizes), default=0)
        for size, entry in sizes:
            label = f"{size} x {fleet['product']}"
            big = int(size) == biggest and biggest >= 100
            add("fleet", f"{label}: bring-up to all Ready [s]", entry.get("bring_up_seconds"))
            rss = entry["rss_mb"]
            limit = FLEET_RSS_AT_REST_MB
            target = f"<= {limit}" if big else ""
            add("fleet", f"{label}: RSS at rest [MB]", rss, target, judge(loaded, rss, limit) if big else "")
            cold_rss = entry.get("cold_start_rss_mb")
            add(
                "fleet",
                f"{label}: RSS at rest after a cold start [MB]",
                cold_rss,
                target,
                judge(loaded, _median(cold_rss), limit) if big else "",
            )
            add("fleet", f"{label}: peak RSS of a cold start [MB]", entry.get("cold_start_peak_mb"))
            add("fleet", f"{label}: CPU s/min at rest", entry["cpu_seconds_per_minute"])
            cold = entry["cold_start_seconds"]
            add(
                "fleet",
                f"{label}: cold start to all reconciled [s]",
                cold,
                f"<= {COLD_START_SECONDS:g}" if big else "",
                judge(loaded, _median(cold), COLD_START_SECONDS) if big else "",
            )
            writes = entry["cold_start_writes"]
            add("fleet", f"{label}: cold start writes", writes, "0", judge_exact(loaded, _max(writes), 0))
        noise_row("fleet", fleet)
    return rows


def _rest_rows(add: Callable[..., None], name: str, sc: dict[str, Any]) -> None:
    loaded = bool(sc.get("loaded"))
    writes, api = sc["writes"], sc["apiserver_writes"]
    figure = f"operator writes / {sc['window_seconds']:.0f}s at rest"
    add(name, figure, writes, "0", judge_exact(loaded, _max(writes), 0))
    add(name, "apiserver writes at rest (managed kinds)", api, "0", judge_exact(loaded, _max(api), 0))


def peak_rss(result: dict[str, Any]) -> float | None:
    """The operator's peak RSS over the cold starts of the largest fleet and the AllAtOnce fleet bump: the
    highest VmHWM of any of those processes (the bump's operator is itself started cold after the floor)."""
    peaks: list[float] = []
    fleet = result.get("fleet") or {}
    sizes = fleet.get("sizes") or {}
    if sizes:
        value = _max(sizes[max(sizes, key=int)].get("cold_start_peak_mb"))
        if value is not None:
            peaks.append(value)
    bump = (result.get("fleet_bump") or {}).get("rss_peak_mb")
    if bump is not None:
        peaks.append(float(bump))
    return max(peaks) if peaks else None


def _median(st: Any) -> float | None:
    if isinstance(st, dict):
        value = st.get("median")
        return None if value is None else float(value)
    return None if st is None else float(st)


def _max(st: Any) -> float | None:
    if isinstance(st, dict):
        value = st.get("max")
        return None if value is None else float(value)
    return None if st is None else float(st)


def judge(loaded: bool, value: float | None, limit: float) -> str:
    """The verdict of an upper bound: met, MISSED by how much, or not judged under load."""
    if value is None:
        return ""
    if loaded:
        return NOT_JUDGED
    return "met" if value <= limit else f"MISSED x{value / limit:.2f}"


def judge_exact(loaded: bool, value: float | None, want: float) -> str:
    """The verdict of an exact count (0 writes, 1 apply)."""
    if value is None:
        return ""
    if loaded:
        return NOT_JUDGED
    return "met" if value == want else f"MISSED ({value:g})"


def table(result: dict[str, Any]) -> str:
    head: Row = ("scenario", "figure", "min", "median", "max", "target", "")
    rows = [head, *rows_of(result)]
    cells = [[_cell(c) if i in (2, 3, 4) else str(c) for i, c in enumerate(r)] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = []
    for n, r in enumerate(cells):
        parts = [r[i].rjust(widths[i]) if i in (2, 3, 4) else r[i].ljust(widths[i]) for i in range(len(r))]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    rows = rows_of(result)
    out = ["| scenario | figure | min | median | max | target | |", "|---|---|--:|--:|--:|---|---|"]
    for r in rows:
        out.append("| " + " | ".join(_cell(c) if i in (2, 3, 4) else str(c) for i, c in enumerate(r)) + " |")
    return "\n".join(out)


def main() -> None:
    """``python -m bench.report [FILE]``: the table of a results file, as text and as Markdown."""
    import sys

    result = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json").read_text())
    print(table(result))
    print()
    print(markdown(result))


if __name__ == "__main__":
    main()


def write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
