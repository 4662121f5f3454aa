"""Benchmark 4: one SMA sweep on 1 worker and on 2, each started from a fresh process.

Each sweep runs the way a user starts one (``research_lib.workflows.sweep.sweep`` from a new
Python),
so both pay their imports: the 1-worker sweep once, the 2-worker sweep in its spawned worker
too. By default every point runs on a year of 1-minute bars, the lower end of what the
researchers sweep over (100k-1M bars); ``--sweep-end`` picks a shorter period.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.timing import in_fresh_process, timed

GRID = {"fast_period": [5, 10, 15, 20], "slow_period": [30, 40, 50, 60]}
QUICK_GRID = {"fast_period": [5, 10], "slow_period": [30, 40]}
# Mock data is US session bars (390 a day): 2024-01-02..2024-12-31 is 98,670 bars per point.
START, END = "2024-01-02", "2024-12-31"
QUICK_END = "2024-01-08"  # 1,950 bars


def run_sweep(
    grid: dict[str, list[int]], start: str, end: str, workers: int, results: str
) -> dict[str, Any]:
    """One sweep in this process (meant for a fresh one): wall and CPU time, runs done."""
    from research_lib.workflows.sweep import sweep

    with timed() as sample:  # CPU includes the worker processes, reaped when the pool closes
        outcome = sweep(
            "sma_crossover",
            grid,
            symbol="AAPL",
            start=start,
            end=end,
            workers=workers,
            data="mock",
            results=results,
            progress=False,
        )
    return {
        "workers": workers,
        "seconds": sample.wall,
        "cpu_seconds": sample.cpu,
        "worker_cpu_seconds": sample.cpu_children,
        "points": len(outcome.runs),
        "bars_per_point": _bar_count(results, outcome.completed["id"].iloc[0]),
        "completed": len(outcome.completed),
        "failed": len(outcome.failed),
        "trades": sorted(int(t) for t in outcome.completed["trade_count"]),
        # Each run's own duration (runner start to result): if the workers ran side by side,
        # their sum approaches workers x wall time; if they waited, it stays near wall time.
        "run_seconds_total": float(outcome.runs["duration_seconds"].sum()),
        "run_seconds_median": float(outcome.runs["duration_seconds"].median()),
    }


def _bar_count(results: str, run_id: str) -> int:
    from research_lib.store.results import ResultsStore

    return int(ResultsStore(results).get(run_id).run["bar_count"])


def bench_sweep(
    workdir: Path,
    grid: dict[str, list[int]] = GRID,
    start: str = START,
    end: str = END,
    workers: Sequence[int] = (1, 2),
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The same sweep with each worker count; speedup of the last over the first."""
    runs = []
    for count in workers:
        results = workdir / f"sweep_{count}_workers.duckdb"
        results.unlink(missing_ok=True)
        run = in_fresh_process(run_sweep, grid, start, end, count, str(results))
        log(f"sweep {run['points']} points on {count} worker(s): {run['seconds']:.2f} s")
        runs.append(run)
    points = math.prod(len(values) for values in grid.values())
    first, last = runs[0], runs[-1]
    # The speedup the CPU seconds imply if every process had a free core and the work split
    # evenly (less disturbed by other load than wall time): it shows the CPU that running in
    # parallel adds (the spawned worker's imports), not idle time at the end.
    cpu_speedup = (first["cpu_seconds"] / first["workers"]) / (
        last["cpu_seconds"] / last["workers"]
    )
    return {
        "points": points,
        "bars_per_point": last["bars_per_point"],
        "grid": grid,
        "start": start,
        "end": end,
        "runs": runs,
        "speedup": first["seconds"] / last["seconds"],
        "cpu_estimate_speedup": cpu_speedup,
        "same_trades": all(r["trades"] == runs[0]["trades"] for r in runs),
        "all_completed": all(r["completed"] == points for r in runs),
    }
