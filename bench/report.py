"""Figures: min/median/max of repeated runs, the printed table, and the JSON file."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
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


def rows_of(result: dict[str, Any]) -> list[Row]:
    """scenario, figure, min, median, max, target, verdict: the headline figures of every scenario."""
    rows: list[Row] = []

    def add(scenario: str, figure: str, st: Any, target: str = "", verdict: str = "") -> None:
        if isinstance(st, dict) and "median" in st:
            rows.append((scenario, figure, st["min"], st["median"], st["max"], target, verdict))
        elif st is not None:
            rows.append((scenario, figure, None, st, None, target, verdict))

    floor = result.get("floor")
    if floor:
        for c, entry in sorted(floor.get("by_concurrency", {}).items(), key=lambda kv: int(kv[0])):
            mark = " (best)" if int(c) == floor.get("best_concurrency") else ""
            add("floor", f"apply {floor['objects']} changed, c={c}{mark} [s]", entry["seconds"])
        add("floor", "applies/s at best c", floor.get("applies_per_s"))
    for name in ("version_bump", "fleet_bump"):
        sc = result.get(name)
        if not sc:
            continue
        add(name, f"all {sc['objects']} workloads carry new image [s]", sc["seconds"])
        add(name, "floor for the same objects [s]", sc.get("floor_seconds"))
        add(name, "ratio to floor", sc["ratio_to_floor"], "<= 1.5", _verdict(sc["ratio_to_floor"], 1.5))
        add(name, "Ready=True again [s]", sc.get("ready_seconds"))
        add(name, "operator writes", sc.get("writes"))
        if name == "fleet_bump":
            add(name, "operator peak RSS during the bump [MB]", sc.get("rss_peak_mb"))
    sc = result.get("staged_bump")
    if sc:
        add("staged_bump", f"{sc['objects']} Deployments carry new image [s]", sc["seconds"])
        add("staged_bump", "ratio to floor (the Deployment wave)", sc["ratio_to_floor"])
        add(
            "staged_bump",
            f"first of {sc['daemonsets']} DaemonSets starts [s]",
            sc["daemonsets_start_seconds"],
        )
        add("staged_bump", "Ready=True again [s]", sc.get("ready_seconds"))
    sc = result.get("single_override")
    if sc:
        add("single_override", "default-region carries tag [s]", sc["seconds"])
        add("single_override", "ratio to floor (1 object)", sc.get("ratio_to_floor"))
        add("single_override", "operator writes, total", sc["writes"])
        add("single_override", "  of which object applies", sc["workload_writes"], "1", _exact(sc, 1))
        add("single_override", "  of which status", sc["status_writes"])
        changed = sc["objects_changed"]
        add(
            "single_override",
            "objects with new resourceVersion",
            changed,
            "1",
            _exact({"workload_writes": changed}, 1),
        )
    sc = result.get("at_rest")
    if sc:
        add(
            "at_rest",
            f"operator writes / {sc['window_seconds']:.0f}s",
            sc["writes"],
            "0",
            _zero(sc["writes"]),
        )
        add(
            "at_rest",
            "apiserver writes (managed kinds)",
            sc["apiserver_writes"],
            "0",
            _zero(sc["apiserver_writes"]),
        )
        add("at_rest", "reconciles in window", sc["reconciles"])
    fleet = result.get("fleet")
    if fleet:
        for size, entry in sorted(fleet.get("sizes", {}).items(), key=lambda kv: int(kv[0])):
            label = f"{size} x {fleet['product']}"
            add("fleet", f"{label}: bring-up to all Ready [s]", entry.get("bring_up_seconds"))
            rss = entry["rss_mb"]
            target = "< 200" if int(size) >= 100 else ""
            add("fleet", f"{label}: RSS [MB]", rss, target, _below(rss, 200) if target else "")
            cold_rss = entry.get("cold_start_rss_mb")
            add(
                "fleet",
                f"{label}: RSS after a cold start [MB]",
                cold_rss,
                target,
                _below(cold_rss, 200) if target else "",
            )
            add("fleet", f"{label}: CPU s/min at rest", entry["cpu_seconds_per_minute"])
            add("fleet", f"{label}: cold start to all reconciled [s]", entry["cold_start_seconds"])
            add(
                "fleet",
                f"{label}: cold start writes",
                entry["cold_start_writes"],
                "0",
                _zero(entry["cold_start_writes"]),
            )
    return rows


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


def _verdict(st: Any, limit: float) -> str:
    value = _median(st)
    if value is None:
        return ""
    return "met" if value <= limit else f"MISSED x{value / limit:.2f}"


def _below(st: Any, limit: float) -> str:
    value = _max(st)
    if value is None:
        return ""
    return "met" if value < limit else f"MISSED by {value - limit:.0f}"


def _zero(st: Any) -> str:
    value = _max(st)
    if value is None:
        return ""
    return "met" if value == 0 else f"MISSED ({value:g})"


def _exact(sc: dict[str, Any], want: int) -> str:
    value = _max(sc["workload_writes"])
    if value is None:
        return ""
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
