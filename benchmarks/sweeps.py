"""Benchmark 4: one SMA sweep on 1 worker and on 2, each started from a fresh process, with
the Dask executor's fixed costs (cluster start, per-task overhead, 100 short points); and
benchmark 7: reading a 200-run sweep back from the results store.

Each sweep runs the way a user starts one (``research_lib.workflows.sweep.sweep`` from a new
Python), so both pay their imports: the 1-worker sweep once, in this process; the 2-worker
sweep also starts a local Dask cluster whose workers import Nautilus. By default every point
runs on a year of 1-minute bars, the lower end of what the researchers sweep over (100k-1M
bars); ``--sweep-end`` picks a shorter period.

The read-back store is filled in SQL (``INSERT ... SELECT`` over ``range()``) after
``ResultsStore`` has created the schema: ``runs`` rows of one sweep varying two parameters,
each with its trades and a full stored equity curve, as a real sweep leaves them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.timing import in_fresh_process, repeat, timed

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
    from research_lib.store import ResultsStore

    return int(ResultsStore(results).get(run_id).bar_count)


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


# 100 points on one day of bars (390): the run is short, so the fixed cost per task shows.
SHORT_GRID = {"fast_period": list(range(2, 52)), "slow_period": [60, 70]}
SHORT_DAY = "2024-01-02"


def _noop(task: int, shared: Any) -> int:
    return task


def measure_overhead(tasks: int, workers: int) -> dict[str, Any]:
    """In this process (meant for a fresh one): start a local cluster, then run ``tasks``
    tasks that do nothing through :func:`run_tasks`, twice (the first warms the workers)."""
    from research_lib.workflows import executor

    with timed() as start:
        cluster = executor.connect(workers, None)
        address = cluster.__enter__().client.scheduler.address
    try:
        executor.run_tasks(_noop, list(range(tasks)), scheduler=address)
        with timed() as run:
            done = executor.run_tasks(_noop, list(range(tasks)), scheduler=address)
    finally:
        cluster.__exit__(None, None, None)
    return {
        "workers": workers,
        "tasks": tasks,
        "cluster_start_seconds": start.wall,
        "seconds": run.wall,
        "per_task_ms": 1000 * run.wall / tasks,
        "completed": len(done),
    }


def bench_overhead(tasks: int = 100, workers: int = 2) -> dict[str, Any]:
    """The executor's own cost: cluster start-up and the time per task that does nothing."""
    return in_fresh_process(measure_overhead, tasks, workers)


def bench_short_points(
    workdir: Path, workers: Sequence[int] = (1, 2), log: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """100 points on one day of bars each, on each worker count: the fixed cost per point."""
    runs = []
    for count in workers:
        results = workdir / f"short_points_{count}_workers.duckdb"
        results.unlink(missing_ok=True)
        run = in_fresh_process(run_sweep, SHORT_GRID, SHORT_DAY, SHORT_DAY, count, str(results))
        run["seconds_per_point"] = run["seconds"] / max(run["points"], 1)
        log(f"{run['points']} short points on {count} worker(s): {run['seconds']:.2f} s")
        runs.append(run)
    points = math.prod(len(values) for values in SHORT_GRID.values())
    return {
        "points": points,
        "bars_per_point": runs[-1]["bars_per_point"],
        "runs": runs,
        "speedup": runs[0]["seconds"] / runs[-1]["seconds"],
        "all_completed": all(r["completed"] == points for r in runs),
        "same_trades": all(r["trades"] == runs[0]["trades"] for r in runs),
    }


READBACK_SWEEP = "readback-sweep"
READBACK_TRADES = 100  # trades per run
READBACK_EQUITY = 5_000  # stored equity points per run (the store's maximum)


def fill_sweep(path: Path, runs: int) -> Path:
    """A results store at ``path`` holding one completed sweep of ``runs`` runs, varying
    ``fast_period`` (5 values) and ``slow_period``, with trades and equity curves."""
    from research_lib.model.run import RunRecord
    from research_lib.store import ResultsStore

    store = ResultsStore(path)
    seed = store.save_failure(RunRecord.failed("schema seed", strategy="sma_crossover"))
    store.delete([seed])
    with duckdb.connect(str(path)) as con:
        con.execute(_FILL_RUNS, [READBACK_SWEEP, runs])
        con.execute(_FILL_TRADES, [READBACK_TRADES])
        con.execute(_FILL_EQUITY, [READBACK_EQUITY])
    return path


_FILL_RUNS = """
INSERT INTO runs (
    id, created_at, status, source, sweep_id, tags, strategy, strategy_path, config_path,
    config, config_hash, symbol, instrument_id, bar_type, bar_spec, start, "end", bar_count,
    currency, initial_capital, final_capital, total_return, trade_count, sharpe, sortino,
    max_drawdown, win_rate, profit_factor, cagr, stats, duration_seconds, data_source,
    data_fingerprint, settings, versions, warnings, equity_length
)
SELECT
    'run-' || lpad(i::VARCHAR, 6, '0'),
    TIMESTAMPTZ '2024-06-01 00:00:00+00' + to_seconds(i),
    'completed', 'sweep', ?, []::VARCHAR[], 'sma_crossover',
    'research_lib.strategies.sma_crossover:SMACrossover',
    'research_lib.strategies.sma_crossover:SMAConfig',
    ('{"bar_type":"AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL","fast_period":' || (5 + i % 5)::VARCHAR
        || ',"instrument_id":"AAPL.NASDAQ","slow_period":' || (30 + i // 5)::VARCHAR
        || ',"trade_size":100}')::JSON,
    md5(i::VARCHAR), 'AAPL', 'AAPL.NASDAQ', 'AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL',
    '1-MINUTE-LAST', TIMESTAMPTZ '2024-01-02 14:30:00+00', TIMESTAMPTZ '2024-12-31 20:59:00+00',
    98670, 'USD', 100000.0, 100000.0 + i, i / 1e5, 100, (i % 40) / 10.0, (i % 41) / 10.0,
    -(i % 30) / 1000.0, 0.5, 1.1, 0.01, '{}'::JSON, 2.5, 'mock', md5('bars'),
    '{"data":"mock","seed":42}'::JSON, '{"nautilus_trader":"1.231.0"}'::JSON, '[]'::JSON, 98670
FROM range(?) AS r(i)
"""
_FILL_TRADES = """
INSERT INTO trades
SELECT r.id, t.k::INTEGER, 'P-' || t.k::VARCHAR, CASE WHEN t.k % 2 = 0 THEN 'LONG' ELSE 'SHORT' END,
    100.0, TIMESTAMPTZ '2024-01-02 14:30:00+00' + to_minutes(t.k * 60),
    TIMESTAMPTZ '2024-01-02 14:30:00+00' + to_minutes(t.k * 60 + 30),
    100.0 + t.k % 7, 100.5 + t.k % 5, (t.k % 11 - 5) * 10.0
FROM runs AS r, range(?) AS t(k)
"""
_FILL_EQUITY = """
INSERT INTO equity_curves
SELECT r.id, TIMESTAMPTZ '2024-01-02 14:31:00+00' + to_minutes(e.k * 20), 100000.0 + e.k % 97
FROM runs AS r, range(?) AS e(k)
"""


def bench_readback(workdir: Path, runs: int = 200, repeats: int = 5) -> dict[str, Any]:
    """``SweepResult.load`` of one ``runs``-run sweep, from a fresh ``ResultsStore`` each time
    (as a notebook opening the store does)."""
    from research_lib.store import ResultsStore
    from research_lib.workflows.sweep import SweepResult

    path = workdir / f"sweep_readback_{runs}.duckdb"
    if not path.exists():
        fill_sweep(path, runs)
    loaded = {}

    def library() -> None:
        loaded["sweep"] = SweepResult.load(ResultsStore(path), READBACK_SWEEP)

    library()  # warm the OS file cache
    timing = repeat(library, repeats)
    sweep = loaded["sweep"]
    return {
        "runs": runs,
        "rows_read": len(sweep.runs),
        "params": list(sweep.grid),
        "trades_per_run": READBACK_TRADES,
        "equity_points_per_run": READBACK_EQUITY,
        "store_mb": path.stat().st_size / 2**20,
        "library": timing.to_json(),
        "same_rows": len(sweep.runs) == runs,
    }
