"""Benchmark 9: the screening funnel, and the 1,000-point screen on the Dask executor.

- **Funnel**: ``research_lib.workflows.screen.screen`` over a 1,000-point SMA grid on a year
  of seeded 1-minute bars, the best 10 confirmed in Nautilus, on 2 local Dask workers:
  wall time of each round and whether every confirmed point agrees. Against it, the
  event-driven estimate: one Nautilus backtest of a point on the same bars, measured here,
  times 1,000 points over the measured 2-worker speed-up of the sweep benchmark (1.7x).
- **Screen on Dask**: the three strategies' 1,000 points (a third each) on 1M bars through
  ``screen`` with ``confirm=0`` on 2 workers, the points stored: what a user runs.
Each part runs in a fresh process, with its own temporary results store.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.timing import in_fresh_process, timed
from benchmarks.vector import SEED

FUNNEL_START, FUNNEL_END = "2024-01-02", "2024-12-31"  # 98,670 one-minute session bars
FUNNEL_GRID = {"fast_period": list(range(1, 41)), "slow_period": list(range(50, 300, 10))}
SWEEP_SPEEDUP = 1.7  # 2 workers over 1, measured by the sweep benchmark (README)
# The three strategies' typical ranges, about a third of 1,000 points each (all valid).
DASK_GRIDS: dict[str, dict[str, list[Any]]] = {
    "sma_crossover": {"fast_period": list(range(2, 42, 2)),
                      "slow_period": list(range(50, 339, 17))},  # 20 x 17
    "mean_reversion": {"lookback_period": list(range(5, 205, 6)),
                       "num_std_dev": [1.0 + 0.25 * i for i in range(10)]},  # 34 x 10
    "momentum": {"rsi_period": list(range(2, 54, 4)),
                 "oversold_threshold": [15.0, 20.0, 25.0, 30.0, 35.0],
                 "overbought_threshold": [65.0, 70.0, 75.0, 80.0, 85.0]},  # 13 x 5 x 5
}  # fmt: skip


def funnel(start: str, end: str, grid: dict[str, list[int]], confirm: int, workers: int) -> dict:
    """The funnel, in this process (a fresh one), and the event-driven estimate."""
    from research_lib.workflows.record import run_backtest
    from research_lib.workflows.screen import screen

    window = {"data": "mock", "start": start, "end": end, "seed": SEED}
    with tempfile.TemporaryDirectory(prefix="bench-funnel-") as folder:
        store = Path(folder) / "results.duckdb"
        with timed() as whole:
            done = screen("sma_crossover", grid, confirm=confirm, results=store,
                          progress=False, workers=workers, **window)  # fmt: skip
        confirmations = done.confirmations
        with timed() as one:  # one point, event-driven, for the estimate
            single = run_backtest("sma_crossover", {"fast_period": 10, "slow_period": 100},
                                  save=False, **window)  # fmt: skip
    points = len(done.completed)
    estimate = one.wall * points / SWEEP_SPEEDUP
    return {
        "bars": int(single.bar_count), "points": points, "confirm": confirm,
        "workers": workers, "seconds": whole.wall, "screen_seconds": done.screen_seconds,
        "confirm_seconds": done.confirm_seconds,
        "agree": int((confirmations["agrees"] == True).sum()),  # noqa: E712
        "confirmed": len(confirmations), "one_nautilus_seconds": one.wall,
        "event_driven_estimate_seconds": estimate,
    }  # fmt: skip


def dask_screen(n_bars: int, workers: int, grids: dict[str, dict] | None = None) -> dict:
    """Three screens (one per strategy, confirm=0) of :data:`DASK_GRIDS` on ``workers``."""
    from research_lib.data.synthetic import mock_bars
    from research_lib.workflows.screen import screen

    bars = mock_bars(n_bars, SEED)
    per = {}
    with tempfile.TemporaryDirectory(prefix="bench-screen-") as folder:
        store = Path(folder) / "results.duckdb"
        with timed() as whole:
            for strategy, grid in (grids or DASK_GRIDS).items():
                with timed() as part:
                    done = screen(strategy, grid, confirm=0, data=bars, results=store,
                                  progress=False, workers=workers)  # fmt: skip
                per[strategy] = {"points": len(done.completed), "seconds": part.wall,
                                 "screen_seconds": done.screen_seconds}  # fmt: skip
    return {"bars": n_bars, "workers": workers, "seconds": whole.wall, "strategies": per,
            "points": sum(p["points"] for p in per.values())}  # fmt: skip


def bench_funnel(
    start: str = FUNNEL_START, end: str = FUNNEL_END, grid: dict | None = None,
    confirm: int = 10, workers: int = 2, screen_bars: int = 1_000_000,
    screen_grids: dict | None = None, log=lambda _: None,
) -> dict[str, Any]:  # fmt: skip
    """Both parts, each in a fresh process."""
    log("funnel ...")
    found = in_fresh_process(funnel, start, end, grid or FUNNEL_GRID, confirm, workers)
    log("screen on Dask ...")
    return {
        "funnel": found,
        "dask_screen": in_fresh_process(dask_screen, screen_bars, workers, screen_grids),
    }


# -- report --------------------------------------------------------------------------------

MAX_FUNNEL_SECONDS = 180.0  # 1,000 screened + 10 confirmed, a year of 1-minute bars
MAX_DASK_SCREEN_SECONDS = 60.0  # 1,000 points, 1M bars, 2 workers
JUDGED_FROM_POINTS = 900  # quick sizes are shown, not judged


def funnel_targets(results: dict[str, Any], target: Any, check: Any) -> list[dict[str, Any]]:
    """The funnel's targets (``target``/``check``: the report's row builders)."""
    f, d = results["funnel"], results["dask_screen"]
    rows = [
        (target(f"funnel: {f['points']:,} screened + {f['confirmed']} confirmed, "
                f"{f['bars']:,} bars", f["seconds"], MAX_FUNNEL_SECONDS, True, "s"),
         f["points"] >= JUDGED_FROM_POINTS),
        (target(f"screen(): {d['points']:,} points on {d['bars']:,} bars, "
                f"{d['workers']} workers", d["seconds"], MAX_DASK_SCREEN_SECONDS, True, "s"),
         d["points"] >= JUDGED_FROM_POINTS and d["bars"] >= 1_000_000),
    ]  # fmt: skip
    out = [row if judged else {**row, "status": None, "cpu_status": None} for row, judged in rows]
    out.append(check("funnel: every confirmed point agrees with Nautilus",
                     f["agree"] == f["confirmed"]))  # fmt: skip
    return out


def funnel_tables(results: dict[str, Any], console: Any, table: Any) -> None:
    """Benchmark 9 in tables of at most 80 columns (``table``: the report's builder)."""
    f, d = results["funnel"], results["dask_screen"]
    t = table(f"9. Funnel: {f['points']:,} points on {f['bars']:,} bars, {f['workers']} workers",
              ("round", "seconds", "note"))  # fmt: skip
    t.add_row("screen (vector engine)", f"{f['screen_seconds']:.1f}", f"{f['points']:,} points")
    t.add_row("confirm (Nautilus)", f"{f['confirm_seconds'] or 0:.1f}",
              f"{f['agree']} of {f['confirmed']} agree")  # fmt: skip
    t.add_row("whole funnel", f"{f['seconds']:.1f}", "plan, bars, store included")
    hours = f["event_driven_estimate_seconds"] / 3600
    t.add_row("all event-driven (est.)", f"{f['event_driven_estimate_seconds']:,.0f}",
              f"{hours:.1f} h: {f['one_nautilus_seconds']:.1f} s a point / 1.7")  # fmt: skip
    console.print(t)
    s = table(f"screen() on Dask: {d['bars']:,} bars, {d['workers']} workers",
              ("strategy", "points", "seconds", "screen s"))  # fmt: skip
    for name, r in d["strategies"].items():
        s.add_row(name, f"{r['points']:,}", f"{r['seconds']:.1f}", f"{r['screen_seconds']:.1f}")
    s.add_row("all", f"{d['points']:,}", f"{d['seconds']:.1f}", "")
    console.print(s)
