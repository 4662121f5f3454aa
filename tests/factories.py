"""Builders of test data shared by the test modules: hand-built bars, run results and records,
and fixture file paths.

Test modules import these as ``from factories import ...`` (pytest puts ``tests/`` on the path);
no test module imports another test module or ``conftest``.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from research_lib.model.bars import bar_interval
from research_lib.model.execution import Execution, execution_of
from research_lib.model.metrics import PERFORMANCE_NAMES
from research_lib.model.run import BacktestResult, RunRecord

DATA = Path(__file__).parent / "data"
BAD = DATA / "bad"
GOOD = DATA / "good"
STORES = DATA / "stores"
V1_STORE = STORES / "results-v1.duckdb"  # made by schema version 1; copy it, never open it
RESULT_START = pd.Timestamp("2024-01-02 14:30", tz="UTC")


def utc(text: str) -> pd.Timestamp:
    """A UTC timestamp from text."""
    return pd.Timestamp(text, tz="UTC")


def make_bars(closes: list[float], start: str = "2024-01-02 14:30", freq: str = "1min"):
    """Valid OHLCV bars whose closes are ``closes`` (open = previous close, range +-0.1)."""
    closes_arr = np.asarray(closes, dtype=float)
    opens = np.concatenate(([closes_arr[0]], closes_arr[:-1]))
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(
                pd.Timestamp(start, tz="UTC"), periods=len(closes), freq=freq
            ).as_unit("ns"),
            "open": opens,
            "high": np.maximum(opens, closes_arr) + 0.1,
            "low": np.minimum(opens, closes_arr) - 0.1,
            "close": closes_arr,
            "volume": np.full(len(closes), 1000.0),
        }
    )


def make_result(
    run_id: str | None = None,
    *,
    strategy: str = "sma_crossover",
    symbol: str = "AAPL",
    sharpe: float | None = 1.5,
    final_capital: float = 101_000.0,
    config: dict | None = None,
    tags: list[str] | None = None,
    sweep_id: str | None = None,
    bars: int = 10,
    equity: pd.Series | None = None,
    trades: pd.DataFrame | None = None,
    settings: dict[str, Any] | None = None,
) -> BacktestResult:
    """A small completed result with known trades, equity and statistics (no engine)."""
    first = RESULT_START + pd.Timedelta("1min")
    index = pd.date_range(first, periods=bars, freq="1min", name="timestamp").as_unit("ns")
    if equity is None:
        equity = pd.Series(np.linspace(100_000.0, final_capital, bars), index=index, name="equity")
    if trades is None:
        trades = pd.DataFrame(
            {
                "position_id": ["P-1", "P-2", "P-3"],
                "side": ["LONG", "SHORT", "LONG"],
                "quantity": [100.0, 100.0, 50.0],
                "entry_time": pd.to_datetime(
                    ["2024-01-02 14:31", "2024-01-02 14:33", "2024-01-02 14:36"], utc=True
                ),
                "exit_time": pd.to_datetime(
                    ["2024-01-02 14:32", "2024-01-02 14:35", "2024-01-02 14:39"], utc=True
                ),
                "entry_price": [100.0, 101.5, 99.25],
                "exit_price": [101.0, 102.0, 100.75],
                "realized_pnl": [100.0, -50.0, 75.0],
            }
        )
    values = {name: 0.1 * i for i, name in enumerate(PERFORMANCE_NAMES, start=1)}
    values["sharpe"] = sharpe
    performance = {
        "values": values,
        "notes": {} if sharpe is not None else {"sharpe": "needs 2 periods, has 1"},
        "periods_per_year": 252.0,
        "period": "session",
        "annualisation": "252 sessions/yr (no weekend bars)",
        "periods": 1,
    }
    stats = {"Sharpe Ratio (252 days)": -1.0, "Long Ratio": 0.5}  # the analyzer's, for reference
    record = RunRecord(
        id=run_id or str(uuid.uuid4()),
        strategy=strategy,
        strategy_path=f"research_lib.strategies.{strategy}:Strategy",
        config_path=f"research_lib.strategies.{strategy}:Config",
        config=config
        if config is not None
        else {"fast_period": 10, "slow_period": 20, "instrument_id": f"{symbol}.NASDAQ"},
        symbol=symbol,
        instrument_id=f"{symbol}.NASDAQ",
        bar_type=f"{symbol}.NASDAQ-1-MINUTE-LAST-EXTERNAL",
        bar_spec="1-MINUTE-LAST",
        data_source="mock",
        data_fingerprint="f" * 64,
        start=RESULT_START,
        end=RESULT_START + pd.Timedelta(minutes=bars - 1),
        bar_count=bars,
        currency="USD",
        initial_capital=100_000.0,
        final_capital=final_capital,
        performance=performance,
        stats=stats,
        duration_seconds=0.25,
        settings=settings
        if settings is not None
        else {"data": "mock", "symbol": symbol, "start": "2024-01-02", "seed": 7},
        versions={"research-lib": "0.1.0", "nautilus_trader": "1.231.0"},
        warnings=("2 orders were refused",),
        source="python",
        tags=tuple(tags or ()),
        sweep_id=sweep_id,
    )
    return BacktestResult(
        record=record, equity=equity, trades=trades, fills=pd.DataFrame(), positions=pd.DataFrame()
    )


def make_failure(
    error: str = "ValueError: boom", traceback: str | None = None, **known: Any
) -> RunRecord:
    """A failed run's record (``known``: what :meth:`RunRecord.failed` takes)."""
    return RunRecord.failed(error, traceback, **known)


def result_over_closes(
    closes: list[float],
    *,
    strategy: str = "sma_crossover",
    config: dict | None = None,
    bar_spec: str = "1-MINUTE-LAST",
    trades: pd.DataFrame | None = None,
) -> BacktestResult:
    """A completed result that carries its bars, whose closes are ``closes`` (for figures;
    no engine involved)."""
    freq = bar_interval(bar_spec)
    bars = make_bars(closes, freq=freq)
    close_index = pd.DatetimeIndex(bars["timestamp"] + freq, name="timestamp")
    equity = pd.Series(100_000.0, index=close_index, name="equity")
    record = RunRecord(
        id=str(uuid.uuid4()),
        strategy=strategy,
        strategy_path=f"x.{strategy}:S",
        config_path=f"x.{strategy}:C",
        config=config or {},
        symbol="AAPL",
        instrument_id="AAPL.NASDAQ",
        bar_type=f"AAPL.NASDAQ-{bar_spec}-EXTERNAL",
        bar_spec=bar_spec,
        data_source="dataframe",
        data_fingerprint="f" * 64,
        start=bars["timestamp"].iloc[0],
        end=bars["timestamp"].iloc[-1],
        bar_count=len(bars),
        currency="USD",
        initial_capital=100_000.0,
        final_capital=100_000.0,
        stats={},
        duration_seconds=0.0,
    )
    return BacktestResult(
        record=record,
        equity=equity,
        trades=trades if trades is not None else pd.DataFrame(columns=["side"]),
        fills=pd.DataFrame(),
        positions=pd.DataFrame(),
        bars=bars,
    )


def execution_settings(**chosen: Any) -> dict[str, Any]:
    """A run's stored ``settings["execution"]``: every default, with ``chosen`` fill timing,
    fill volume or cost fields (``execution_settings(fill_timing="next_open",
    commission_rate=0.0005)``)."""
    return execution_of(Execution(), **chosen).to_dict()


def file_digests(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` ({} if it does not exist): what
    "the catalog (or store) is exactly as before" compares."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
