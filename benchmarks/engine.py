"""Benchmark 1: our backtest path versus the raw Nautilus script, per strategy and size.

Each measurement runs in a fresh Python process that imports the same modules, generates the
seeded bars, then times the span from the bars DataFrame in memory to the result (statistics
and trades). The process's own ``ru_maxrss`` is its peak memory.
"""

from __future__ import annotations

import gc
import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.timing import in_fresh_process, max_rss_mb, timed

CASES: dict[str, dict[str, Any]] = {
    "sma_crossover": {"fast_period": 10, "slow_period": 20},
    "mean_reversion": {},
    "momentum": {},
}
PATHS = ("raw", "ours")
TRADE_SIZE = 100
SEED = 42


def measure_run(path: str, strategy: str, n_bars: int, seed: int = SEED) -> dict[str, Any]:
    """One backtest through ``path`` (``ours`` or ``raw``), in this process; a JSON-able dict.

    Meant to run in a fresh process (:func:`run_case`): the peak memory is the process's.
    """
    import benchmarks.raw_engine as raw
    import research_lib.model.bars  # noqa: F401  (both paths load the same modules)
    from research_lib.data.synthetic import mock_bars
    from research_lib.workflows.record import run_backtest

    params = CASES[strategy]
    bars = mock_bars(n_bars, seed)
    gc.collect()
    before_mb = max_rss_mb()
    with timed() as sample:
        if path == "ours":
            result = run_backtest(
                strategy, {**params, "trade_size": TRADE_SIZE}, data=bars, save=False
            )
            trades, pnl = len(result.trades), result.final_capital - result.initial_capital
        elif path == "raw":
            outcome = raw.run_raw(strategy, params, bars, trade_size=TRADE_SIZE)
            trades, pnl = outcome.trade_count, outcome.pnl
        else:
            raise ValueError(f"path must be one of {', '.join(PATHS)}, was {path!r}")
    peak_mb = max_rss_mb()
    return {
        "path": path,
        "strategy": strategy,
        "params": params,
        "bars": n_bars,
        "seconds": sample.wall,
        "cpu_seconds": sample.cpu,
        "bars_per_second": n_bars / sample.wall,
        "bars_per_cpu_second": n_bars / sample.cpu if sample.cpu else None,
        "peak_mb": peak_mb,
        "before_run_mb": before_mb,
        "kb_per_bar": peak_mb * 1024 / n_bars,
        "run_kb_per_bar": max(peak_mb - before_mb, 0.0) * 1024 / n_bars,
        "trades": trades,
        "pnl": pnl,
    }


def run_case(path: str, strategy: str, n_bars: int, seed: int = SEED) -> dict[str, Any]:
    """:func:`measure_run` in a fresh Python process (see ``in_fresh_process``)."""
    return in_fresh_process(measure_run, path, strategy, n_bars, seed)


def bench_engine(
    sizes: Sequence[int],
    strategies: Sequence[str] = tuple(CASES),
    seed: int = SEED,
    repeats: int = 1,
    runner: Callable[..., dict[str, Any]] = run_case,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every strategy at every size through both paths; comparisons and scaling per strategy.

    ``runner`` does one measurement (default: in a fresh process). Raw and ours run back to
    back for each (size, strategy) so they see the same machine load, in alternating order
    when ``repeats`` > 1; a run's times are then the medians and its peak memory the largest.
    """
    runs: list[dict[str, Any]] = []
    for n_bars in sizes:
        for strategy in strategies:
            done: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
            for i in range(repeats):
                for path in PATHS if i % 2 == 0 else PATHS[::-1]:
                    run = runner(path, strategy, n_bars, seed)
                    log(
                        f"engine {strategy} {n_bars:,} bars {path}: {run['seconds']:.2f} s "
                        f"(cpu {run['cpu_seconds']:.2f} s), {run['trades']} trades, "
                        f"peak {run['peak_mb']:.0f} MB"
                    )
                    done[path].append(run)
            runs += [_median_run(done[path]) for path in PATHS]
    return {
        "runs": runs,
        "comparisons": compare_paths(runs),
        "scaling": scaling(runs),
    }


def _median_run(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """One run from repeats: median wall and CPU time, largest peak memory, every sample."""
    run = dict(samples[0])
    run["seconds"] = statistics.median(r["seconds"] for r in samples)
    run["cpu_seconds"] = statistics.median(r["cpu_seconds"] for r in samples)
    run["bars_per_second"] = run["bars"] / run["seconds"]
    run["bars_per_cpu_second"] = run["bars"] / run["cpu_seconds"] if run["cpu_seconds"] else None
    peak = max(samples, key=lambda r: r["peak_mb"])
    for key in ("peak_mb", "before_run_mb", "kb_per_bar", "run_kb_per_bar"):
        run[key] = peak[key]
    run["samples"] = [{"wall": r["seconds"], "cpu": r["cpu_seconds"]} for r in samples]
    run["same_results"] = all(
        (r["trades"], r["pnl"]) == (run["trades"], run["pnl"]) for r in samples
    )
    return run


def compare_paths(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ours / raw per (strategy, size): time ratios and whether trades and PnL agree."""
    by_key = {(r["strategy"], r["bars"], r["path"]): r for r in runs}
    out = []
    for (strategy, n_bars, path), ours in by_key.items():
        raw = by_key.get((strategy, n_bars, "raw"))
        if path != "ours" or raw is None:
            continue
        out.append(
            {
                "strategy": strategy,
                "bars": n_bars,
                "ratio": ours["seconds"] / raw["seconds"],
                "cpu_ratio": ours["cpu_seconds"] / raw["cpu_seconds"],
                "memory_ratio": ours["peak_mb"] / raw["peak_mb"],
                "trades": ours["trades"],
                "same_trades": ours["trades"] == raw["trades"],
                "same_pnl": ours["pnl"] == raw["pnl"],
            }
        )
    return out


def scaling(runs: Sequence[dict[str, Any]], path: str = "ours") -> list[dict[str, Any]]:
    """Per strategy, from the smallest to the largest size: time growth and its exponent.

    ``exponent = log(t_large / t_small) / log(n_large / n_small)`` (1.0 is linear; for 100k and
    1M bars this is ``log(t_1M / t_100k) / log(10)``).
    """
    out = []
    for strategy in dict.fromkeys(r["strategy"] for r in runs):
        mine = sorted(
            (r for r in runs if r["strategy"] == strategy and r["path"] == path),
            key=lambda r: r["bars"],
        )
        if len(mine) < 2 or mine[0]["bars"] == mine[-1]["bars"]:
            continue
        small, large = mine[0], mine[-1]
        size_ratio = large["bars"] / small["bars"]
        growth = large["seconds"] / small["seconds"]
        cpu_growth = large["cpu_seconds"] / small["cpu_seconds"]
        out.append(
            {
                "strategy": strategy,
                "path": path,
                "small_bars": small["bars"],
                "large_bars": large["bars"],
                "size_ratio": size_ratio,
                "growth": growth,
                "cpu_growth": cpu_growth,
                "exponent": math.log(growth) / math.log(size_ratio),
                "cpu_exponent": math.log(cpu_growth) / math.log(size_ratio),
            }
        )
    return out
