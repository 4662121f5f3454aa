"""Rerun a stored run and check that it gives the same trades, metrics and equity.

:func:`rerun_arguments` turns a stored run back into :func:`run_backtest` arguments;
:func:`rerun` checks the data's fingerprint first, runs again (saved with the tag
``rerun-of:<id>``) and compares (:func:`differences`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from research_lib.engine.market import load_market_data
from research_lib.errors import ResultsError
from research_lib.model.defaults import DEFAULT_BALANCE, DEFAULT_SEED
from research_lib.model.run import TRADE_COLUMNS, BacktestResult, StoredRun, clean_number
from research_lib.model.series import downsample_equity
from research_lib.store import ResultsStore
from research_lib.workflows.record import run_backtest

__all__ = ["RerunReport", "differences", "rerun", "rerun_arguments"]


@dataclass
class RerunReport:
    """What :func:`rerun` found: whether the data changed and, if not, whether the new run
    matches the stored one (trades, metrics, statistics and equity)."""

    original_id: str
    new_id: str | None
    data_changed: bool
    old_fingerprint: str | None
    new_fingerprint: str | None
    identical: bool | None
    differences: list[str] = field(default_factory=list)
    saved_to: str | None = None

    @property
    def ok(self) -> bool:
        """False when the data changed or the results differ."""
        return not self.data_changed and self.identical is not False

    @property
    def message(self) -> str:
        """One line for the CLI."""
        short, new = self.original_id[:8], _short(self.new_id)
        if self.data_changed:
            return (
                f"data changed since the run (fingerprint {_short(self.old_fingerprint)} → "
                f"{_short(self.new_fingerprint)}); not comparing"
            )
        if self.identical is None:
            return f"rerun {new} of {short} done; the original failed: nothing to compare"
        if self.identical:
            return f"rerun {new} of {short}: trades and metrics are identical"
        return f"rerun {new} of {short} differs: " + "; ".join(self.differences[:10])


def rerun_arguments(run: StoredRun) -> dict[str, Any]:
    """Keyword arguments for :func:`run_backtest` that repeat a stored run."""
    settings = run.settings
    if not run.strategy_path or not run.config_path:
        raise ResultsError(f"run {run.id[:8]} has no stored strategy path, so it cannot be rerun")
    data = settings.get("data") or run.data_source
    if data not in ("mock", "catalog"):
        raise ResultsError(
            f"run {run.id[:8]} used data '{data}' (bars passed in memory, not stored); "
            "only mock and catalog runs can be rerun"
        )
    params = {k: v for k, v in run.config.items() if k not in ("instrument_id", "bar_type")}
    balance = settings.get("starting_balance") or run.initial_capital
    return {
        "strategy": run.strategy_path,
        "params": params,
        "config_path": run.config_path,
        "data": data,
        "symbol": settings.get("symbol") or run.symbol,
        # Runs stored before settings had a bar_spec: the spec of the bars they used.
        "bar_spec": settings.get("bar_spec") or (run.bar_spec if data == "catalog" else None),
        "start": settings.get("start"),
        "end": settings.get("end"),
        "starting_balance": float(balance) if balance is not None else DEFAULT_BALANCE,
        "catalog": settings.get("catalog"),
        "seed": int(settings.get("seed", DEFAULT_SEED)),
        "execution": settings.get("execution"),
        "periods_per_year": settings.get("periods_per_year"),
    }


def rerun(store: ResultsStore, run_id: str, source: str = "python") -> RerunReport:
    """Run a stored run's configuration again on the same data source and compare.

    The data's fingerprint is checked first: if the bars changed since, nothing is run and
    the report says so (``data_changed``). The new run is saved with tag ``rerun-of:<id>``.
    """
    original = store.get(run_id)
    kwargs = rerun_arguments(original)
    old = original.data_fingerprint
    market = load_market_data(
        kwargs["data"], kwargs["symbol"], kwargs["start"], kwargs["end"],
        kwargs["catalog"], kwargs["seed"], bar_spec=kwargs["bar_spec"],
    )  # fmt: skip
    if old and market.fingerprint != old:
        return RerunReport(original.id, None, True, old, market.fingerprint, None)
    result = run_backtest(**kwargs, results=store, source=source, tags=[f"rerun-of:{original.id}"])
    report = RerunReport(
        original.id, result.run_id, False, old, result.data_fingerprint, None,
        saved_to=result.saved_to,
    )  # fmt: skip
    if original.status == "completed":
        report.differences = differences(original, result)
        report.identical = not report.differences
    return report


def differences(original: StoredRun, result: BacktestResult) -> list[str]:
    """What differs between a stored run and a new result (empty when identical)."""
    diffs = []
    old, new = original.trades, result.trades
    if len(old) != len(new):
        diffs.append(f"trade count {len(old)} → {len(new)}")
    else:
        for name in TRADE_COLUMNS[1:]:  # position ids carry fresh UUIDs on every run
            a, b = old[name].reset_index(drop=True), new[name].reset_index(drop=True)
            if name.endswith("_time"):
                a = pd.to_datetime(a, utc=True).dt.as_unit("us")
                b = pd.to_datetime(b, utc=True).dt.as_unit("us")
            elif name != "side":
                a, b = a.astype(float), b.astype(float)
            changed = int((a.astype(str) != b.astype(str)).sum())
            if changed:
                diffs.append(f"{changed} trades differ in {name}")
    new_values = {
        "initial_capital": result.initial_capital,
        "final_capital": result.final_capital,
        "total_return": result.total_return,
        "trade_count": result.trade_count,
        **result.metrics,
    }
    for name, value in new_values.items():
        if not _same_number(original.run.get(name), value):
            diffs.append(f"{name} {original.run.get(name)} → {value}")
    for name in sorted(set(original.stats) | set(result.stats)):
        if not _same_number(original.stats.get(name), result.stats.get(name)):
            diffs.append(
                f"statistic '{name}' {original.stats.get(name)} → {result.stats.get(name)}"
            )
    curve = downsample_equity(result.equity)
    if len(curve) != len(original.equity) or not np.allclose(
        curve.to_numpy(dtype=float), original.equity.to_numpy(dtype=float), rtol=1e-9, atol=1e-9
    ):
        diffs.append("equity curve differs")
    return diffs


def _same_number(a: Any, b: Any) -> bool:
    a, b = clean_number(a), clean_number(b)
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _short(value: str | None) -> str:
    return "?" if value is None else value[:12]
