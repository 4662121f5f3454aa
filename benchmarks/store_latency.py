"""Read latency of the results store under heavy concurrent writing.

:func:`bench_store_latency` starts ``writers`` processes that save synthetic completed runs
(a month of 1-minute equity, 40 trades: what a backtest saves) to one store as fast as they
can through the store API, while this process lists runs the way ``research-lib backtest
list-results`` does (a fresh :class:`ResultsStore` each time, ``list(limit=20)``), and
reports the latency of each listing: median, 99th percentile and the worst (a listing that
gives up after the 30 s lock timeout counts with the time it waited, in ``read_timeouts``).

Run on its own::

    uv run --no-sync python -m benchmarks.store_latency [--writers 16] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

EQUITY_BARS = 8_190  # one month of 1-minute bars on the NASDAQ session
TRADES = 40


def synthetic_result(run_id: str | None = None) -> Any:
    """A completed run of the size a month-long 1-minute backtest saves (no engine)."""
    import numpy as np
    import pandas as pd

    from research_lib.model.run import BacktestResult, RunRecord

    start = pd.Timestamp("2024-01-02 14:30", tz="UTC")
    index = pd.date_range(start, periods=EQUITY_BARS, freq="1min", name="timestamp")
    equity = pd.Series(100_000.0 + np.arange(EQUITY_BARS) % 97, index=index, name="equity")
    k = np.arange(TRADES)
    trades = pd.DataFrame(
        {
            "position_id": [f"P-{i}" for i in k],
            "side": np.where(k % 2 == 0, "LONG", "SHORT"),
            "quantity": 100.0,
            "entry_time": start + pd.to_timedelta(k * 60, unit="min"),
            "exit_time": start + pd.to_timedelta(k * 60 + 30, unit="min"),
            "entry_price": 100.0 + k % 7,
            "exit_price": 100.5 + k % 5,
            "realized_pnl": (k % 11 - 5) * 10.0,
        }
    )
    record = RunRecord(
        id=run_id or str(uuid.uuid4()),
        strategy="sma_crossover",
        strategy_path="research_lib.strategies.sma_crossover:SMACrossover",
        config_path="research_lib.strategies.sma_crossover:SMAConfig",
        config={"fast_period": 10, "slow_period": 20, "trade_size": 100},
        symbol="AAPL",
        instrument_id="AAPL.NASDAQ",
        bar_type="AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL",
        bar_spec="1-MINUTE-LAST",
        data_source="mock",
        data_fingerprint="f" * 64,
        start=index[0],
        end=index[-1],
        bar_count=EQUITY_BARS,
        trade_count=TRADES,
        currency="USD",
        initial_capital=100_000.0,
        final_capital=float(equity.iloc[-1]),
        settings={"data": "mock", "seed": 42},
        source="python",
    )
    return BacktestResult(
        record=record, equity=equity, trades=trades, fills=pd.DataFrame(), positions=pd.DataFrame()
    )


def _writer(path: str, ready: Any, stop: Any, counts: Any, gave_up: Any, slot: int) -> None:
    """Save synthetic runs to ``path`` until ``stop`` is set (a spawned process); a save
    that meets the lock timeout is counted in ``gave_up``."""
    from dataclasses import replace

    from research_lib.store import ResultsStore, StoreUnavailableError

    result = synthetic_result()
    ready.release()
    while not stop.is_set():
        run = replace(result, record=replace(result.record, id=str(uuid.uuid4())))
        try:
            ResultsStore(path).save(run)
            counts[slot] += 1
        except StoreUnavailableError:
            gave_up[slot] += 1


def bench_store_latency(
    workdir: Path | None = None, writers: int = 16, seconds: float = 20.0
) -> dict[str, Any]:
    """List runs for ``seconds`` while ``writers`` processes save runs; latencies in seconds.
    The store is made in ``workdir`` (default: a temporary folder, removed afterwards)."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="store-latency-") as folder:
            return bench_store_latency(Path(folder), writers, seconds)
    from research_lib.store import ResultsStore, StoreUnavailableError

    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"latency_{uuid.uuid4().hex[:8]}.duckdb"
    ResultsStore(path).save(synthetic_result())  # schema in place before the race
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Semaphore(0), ctx.Event()
    counts, gave_up = ctx.Array("l", writers), ctx.Array("l", writers)
    procs = [
        ctx.Process(target=_writer, args=(str(path), ready, stop, counts, gave_up, i), daemon=True)
        for i in range(writers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.acquire()
    latencies: list[float] = []
    read_timeouts = 0
    began = time.perf_counter()
    try:
        while time.perf_counter() - began < seconds:
            t0 = time.perf_counter()
            try:
                ResultsStore(path).list(limit=20)
            except StoreUnavailableError:  # waited the whole lock timeout (30 s)
                read_timeouts += 1
            latencies.append(time.perf_counter() - t0)
    finally:
        stop.set()
        for proc in procs:
            proc.join(timeout=120)
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    stored = len(ResultsStore(path).list(limit=None))
    return {
        "writers": writers,
        "seconds": round(elapsed, 1),
        "reads": len(latencies),
        "writes": int(sum(counts)),
        "write_timeouts": int(sum(gave_up)),
        "read_timeouts": read_timeouts,
        "runs_stored": stored,
        "read_p50_s": statistics.median(ordered),
        "read_p99_s": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "read_max_s": ordered[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(json.dumps(bench_store_latency(writers=args.writers, seconds=args.seconds), indent=2))


if __name__ == "__main__":
    main()
