"""The suite: which benchmark runs at which size, and the results document they fill."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import cli, data, engine, funnel, store_latency, sweeps, vector
from benchmarks.machine import load_average, machine_info
from benchmarks.report import targets

BENCHMARKS = (
    "engine", "import", "query", "sweep", "startup", "list", "readback", "store_latency",
    "vector",
    "funnel",
)  # fmt: skip


@dataclass
class Settings:
    """Sizes and repetitions; the defaults are the full benchmark of the issue."""

    sizes: list[int] = field(default_factory=lambda: [100_000, 500_000, 1_000_000])
    strategies: list[str] = field(default_factory=lambda: list(engine.CASES))
    engine_repeats: int = 1  # each backtest measurement; > 1 takes medians
    import_rows: int = 1_000_000
    import_repeats: int = 3
    query_rows: int = 500_000  # ~1 year of 1-minute bars
    query_repeats: int = 7
    sweep_grid: dict[str, list[int]] = field(default_factory=lambda: dict(sweeps.GRID))
    sweep_end: str = sweeps.END
    sweep_workers: list[int] = field(default_factory=lambda: [1, 2])
    overhead_tasks: int = 100  # no-op tasks through the executor, per-task overhead
    short_points: bool = True  # 100 points on one day of bars, on 1 and 2 workers
    startup_repeats: int = 5
    list_runs: int = 100_000
    list_repeats: int = 5
    readback_runs: int = 200  # runs of the sweep read back
    readback_repeats: int = 5
    latency_writers: int = 16  # processes saving runs while one lists them
    latency_seconds: float = 20.0
    vector_grid_bars: int = 100_000  # the 16-point SMA grid against numpy, vectorbt, bt.py
    vector_bars: int = 1_000_000  # one vectorized backtest
    vector_screen_bars: int = 1_000_000
    vector_screen_points: int = 1_000  # the three strategies, a third each
    vector_repeats: int = 5  # samples of each measurement (medians)
    vector_peer_repeats: int = 1  # backtesting.py's grid (a Python loop per bar: ~10 s)
    funnel_start: str = funnel.FUNNEL_START  # a year of 1-minute bars: 1,000 screened, 10 confirmed
    funnel_end: str = funnel.FUNNEL_END
    funnel_grid: dict[str, list[int]] = field(default_factory=lambda: dict(funnel.FUNNEL_GRID))
    funnel_confirm: int = 10
    funnel_screen_bars: int = 1_000_000  # the three strategies' grids through screen(), Dask
    funnel_screen_grids: dict | None = None  # None: funnel.DASK_GRIDS

    @classmethod
    def quick(cls) -> Settings:
        """Everything at small sizes: about a minute."""
        return cls(
            sizes=[2_000, 20_000],
            import_rows=100_000,
            query_rows=100_000,
            query_repeats=5,
            sweep_grid=dict(sweeps.QUICK_GRID),
            sweep_end=sweeps.QUICK_END,
            startup_repeats=3,
            overhead_tasks=20,
            short_points=False,
            list_runs=10_000,
            list_repeats=3,
            readback_repeats=3,
            latency_writers=4,
            latency_seconds=5.0,
            vector_grid_bars=5_000,
            vector_bars=20_000,
            vector_screen_bars=20_000,
            vector_screen_points=30,
            vector_repeats=2,
            funnel_end="2024-01-05",
            funnel_grid={"fast_period": [5, 10], "slow_period": [20, 40]},
            funnel_confirm=2,
            funnel_screen_bars=20_000,
            funnel_screen_grids={
                "sma_crossover": {"fast_period": [5, 10], "slow_period": [20, 40]},
                "mean_reversion": {"lookback_period": [10, 20], "num_std_dev": [2.0]},
                "momentum": {"rsi_period": [10, 14]},
            },
        )


def run_suite(
    settings: Settings,
    only: list[str] | tuple[str, ...],
    workdir: Path,
    log: Callable[[str], None] = lambda _: None,
    checkpoint: Callable[[dict[str, Any]], None] = lambda _: None,
) -> dict[str, Any]:
    """Run the chosen benchmarks in order; ``checkpoint`` gets the results after each one."""
    results: dict[str, Any] = {"machine": machine_info(), "settings": asdict(settings)}
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "engine": lambda: engine.bench_engine(
            settings.sizes, settings.strategies, repeats=settings.engine_repeats, log=log
        ),
        "import": lambda: data.bench_import(settings.import_rows, workdir, settings.import_repeats),
        "query": lambda: data.bench_query(settings.query_rows, workdir, settings.query_repeats),
        "sweep": lambda: {
            **sweeps.bench_sweep(
                workdir,
                settings.sweep_grid,
                end=settings.sweep_end,
                workers=settings.sweep_workers,
                log=log,
            ),
            "overhead": sweeps.bench_overhead(settings.overhead_tasks),
            **(
                {"short_points": sweeps.bench_short_points(workdir, log=log)}
                if settings.short_points
                else {}
            ),
        },
        "startup": lambda: cli.bench_startup(settings.startup_repeats),
        "list": lambda: cli.bench_list(settings.list_runs, workdir, settings.list_repeats),
        "readback": lambda: sweeps.bench_readback(
            workdir, settings.readback_runs, settings.readback_repeats
        ),
        "store_latency": lambda: store_latency.bench_store_latency(
            workdir / "latency", settings.latency_writers, settings.latency_seconds
        ),
        "vector": lambda: vector.bench_vector(
            settings.vector_grid_bars,
            settings.vector_bars,
            settings.vector_screen_bars,
            settings.vector_screen_points,
            repeats=settings.vector_repeats,
            peer_repeats=settings.vector_peer_repeats,
            log=log,
        ),
        "funnel": lambda: funnel.bench_funnel(
            settings.funnel_start,
            settings.funnel_end,
            settings.funnel_grid,
            settings.funnel_confirm,
            screen_bars=settings.funnel_screen_bars,
            screen_grids=settings.funnel_screen_grids,
            log=log,
        ),
    }
    for name in BENCHMARKS:
        if name not in only:
            continue
        log(f"{name} ...")
        results[name] = steps[name]()
        results["machine"]["load_average_end"] = load_average()
        results["targets"] = targets(results)
        checkpoint(results)
        log(f"{name} done")
    return results


def correctness_ok(results: dict[str, Any]) -> bool:
    """Whether every cross-check held: same trades and PnL, same rows, same sweep trades."""
    bench = results.get("engine", {})
    checks = [c["same_trades"] and c["same_pnl"] for c in bench.get("comparisons", [])]
    checks += [r["same_results"] for r in bench.get("runs", [])]
    for name in ("import", "query", "readback"):
        if name in results:
            checks.append(results[name]["same_rows"])
    if "sweep" in results:
        checks.append(results["sweep"]["same_trades"] and results["sweep"]["all_completed"])
    if "vector" in results:
        checks.append(results["vector"]["grid"]["same_as_floor"])
    if "funnel" in results:
        f = results["funnel"]["funnel"]
        checks.append(f["agree"] == f["confirmed"])
    return all(checks)
