"""A study's summary: the stitched out-of-sample curve and what the winner owes to selection.

:func:`summarise` chains the test windows' runs into one curve with its own metrics
(:func:`stitch`), compares in- and out-of-sample Sharpe per fold, and evaluates every
distinct point the study tried over the whole span (:func:`trial_returns`, on the executor:
the vector engine when the strategy has a rule, else Nautilus, not stored). That trial
matrix (per-session returns, one column per point) gives the deflated Sharpe ratio of its
best point and the probability of backtest overfitting (:mod:`research_lib.model.selection`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from research_lib.engine import vector
from research_lib.engine.market import MarketData, bars_fingerprint
from research_lib.engine.run_config import RunConfig
from research_lib.model.bars import bar_interval
from research_lib.model.execution import Execution
from research_lib.model.folds import Fold
from research_lib.model.performance import performance, period_returns
from research_lib.model.selection import deflated_sharpe_of_returns, pbo, sharpe_degradation
from research_lib.store import ResultsStore
from research_lib.workflows import executor
from research_lib.workflows.grid import WIRING, SweepPlan
from research_lib.workflows.record import run_backtest
from research_lib.workflows.screen import params_of
from research_lib.workflows.search import Window, point_key

__all__ = ["Setting", "stitch", "summarise", "trial_returns", "window_market"]

PARTITIONS = 16  # CSCV blocks of the trial matrix (fewer when the data has few sessions)


@dataclass
class Setting:
    """What every fold of a study shares."""

    study_id: str
    spec: dict[str, Any]
    plan: SweepPlan
    market: MarketData
    store: ResultsStore
    execution: Execution
    settings: dict[str, Any]
    options: dict[str, Any]
    run: dict[str, Any]

    @property
    def balance(self) -> float:
        return float(self.settings["starting_balance"])

    def window(self, fold: Fold, part: str) -> Window:
        span = fold.train if part == "train" else fold.test
        market = window_market(self.market, span.start, span.end)
        settings = {**self.settings, "start": span.start.isoformat(), "end": span.end.isoformat()}
        tags = [*self.options.get("tags", ()), f"fold {fold.number}", part]
        options = {**self.options, "start": settings["start"], "end": settings["end"],
                   "tags": tags}  # fmt: skip
        if not isinstance(options.get("data"), str):  # a DataFrame: the window's bars go
            options["data"] = "dataframe"  # to the workers once, not with every task
        return Window(self.plan, market, self.store, self.execution, settings, options,
                      self.spec["metric"], self.run, f"fold {fold.number} {part}")  # fmt: skip


def window_market(market: MarketData, start: pd.Timestamp, end: pd.Timestamp) -> MarketData:
    """The bars of ``market`` from ``start`` to ``end`` (inclusive), as their own data."""
    stamps = pd.to_datetime(market.bars["timestamp"], utc=True)
    bars = market.bars[(stamps >= start) & (stamps <= end)].reset_index(drop=True)
    return replace(market, bars=bars, fingerprint=bars_fingerprint(bars), warnings=())


def stitch(curves: list[pd.Series], balance: float) -> pd.Series:
    """Test-window equity curves (each starting from ``balance``) chained into one: each
    segment is scaled to start where the previous one ended."""
    parts, level = [], float(balance)
    for curve in curves:
        parts.append(curve.astype(float) * (level / float(balance)))
        level = float(parts[-1].iloc[-1]) if len(curve) else level
    return pd.concat(parts).rename("equity") if parts else pd.Series(dtype=float, name="equity")


# -- the summary: out of sample, and what the winner owes to selection ---------------------


@dataclass(frozen=True)
class MatrixTask:
    """Distinct trial points to evaluate over the whole span, for the trial matrix."""

    index: int
    run_config: RunConfig
    points: list[dict[str, Any]]
    execution: Execution
    balance: float
    periods_per_year: float | None


def trial_returns(task: MatrixTask, market: MarketData) -> list[np.ndarray]:
    """Each point's per-session returns over ``market`` (on a worker, or here): on the
    vector engine when the strategy has a rule, else in Nautilus (not stored)."""
    config, interval = task.run_config, bar_interval(market.bar_spec)
    starts = market.bars["timestamp"]
    if vector.supports(config.strategy_name):
        runs = vector.run_points(
            config.strategy_name, [_values(config, p) for p in task.points], market,
            execution=task.execution, starting_balance=task.balance,
            periods_per_year=task.periods_per_year, keep_equity=True,
            config_path=config.config_path,
        )  # fmt: skip
        curves = [run.equity for run in runs]
    else:
        curves = [
            run_backtest(
                config.strategy_path, {**config.params, **params_of(p)},
                config_path=config.config_path, data=market.bars, instrument=market.spec,
                bar_spec=market.bar_spec, starting_balance=task.balance,
                execution=task.execution, save=False,
            ).equity
            for p in task.points
        ]  # fmt: skip
    return [period_returns(c, starts, interval, task.balance).to_numpy() for c in curves]


def _values(config: RunConfig, point: dict[str, Any]) -> dict[str, Any]:
    """A point's strategy values: the config's fixed ones, then the point's."""
    return {k: v for k, v in {**config.params, **point}.items() if k not in WIRING}


def _trial_matrix(setting: Setting, points: list[dict[str, Any]]) -> np.ndarray:
    """Periods x trials: every distinct point's per-session returns over the whole span."""
    workers = setting.run.get("workers") or 2
    size = max(1, math.ceil(len(points) / (4 * workers)))
    tasks = [
        MatrixTask(i, setting.plan.run_config, points[at : at + size], setting.execution,
                   setting.balance, setting.settings.get("periods_per_year"))
        for i, at in enumerate(range(0, len(points), size))
    ]  # fmt: skip
    outcomes: dict[int, list[np.ndarray]] = {}
    executor.run_tasks(
        trial_returns, tasks, shared=setting.market, desc="trial matrix",
        on_result=lambda task, result: outcomes.__setitem__(task.index, result),
        preload=("research_lib.engine.vector",), **setting.run,
    )  # fmt: skip
    columns = [r for i in sorted(outcomes) for r in outcomes[i]]
    return np.column_stack(columns) if columns else np.empty((0, 0))


def summarise(
    setting: Setting, folds: list[dict[str, Any]], tested: list[Any], status: Callable[[str], None]
) -> dict[str, Any]:
    """The study's summary: stitched out-of-sample metrics, degradation, DSR and PBO;
    ``tested`` are the folds' test runs (with their whole equity curves), in fold order."""
    metric = setting.spec["metric"]
    oos = _stitched(setting, folds, tested)
    is_values = [f["is_value"] for f in folds]
    oos_values = [(f["oos_metrics"] or {}).get(metric) for f in folds]
    summary: dict[str, Any] = {"oos": oos, "folds": len(folds), "metric": metric,
                               "is_values": is_values, "oos_values": oos_values}  # fmt: skip
    readings = [_oos_reading(oos, len(folds))]
    is_sharpes = [f.get("is_sharpe", f["is_value"] if metric == "sharpe" else None)
                  for f in folds]  # fmt: skip
    oos_sharpes = [(f["oos_metrics"] or {}).get("sharpe") for f in folds]
    pairs = [(a, b) for a, b in zip(is_sharpes, oos_sharpes, strict=True)
             if a is not None and b is not None]  # fmt: skip
    if pairs:
        drop = sharpe_degradation([a for a, _ in pairs], [b for _, b in pairs])
        summary["degradation"] = {**_fields(drop), "reading": drop.reading}
        readings.append(drop.reading)
    distinct = list({point_key(p): p for f in folds for p in f["trial_points"]}.values())
    status(f"trial matrix: {len(distinct)} distinct points over the whole span")
    started = time.perf_counter()
    matrix = _trial_matrix(setting, distinct)
    summary["trials"], summary["periods"] = len(distinct), int(matrix.shape[0])
    summary["matrix_seconds"] = time.perf_counter() - started
    summary["dsr"], summary["pbo"] = _selection(matrix, distinct)
    readings += [summary["dsr"]["reading"], summary["pbo"]["reading"]]
    summary["readings"] = readings
    return summary


def _stitched(setting: Setting, folds: list[dict[str, Any]], tested: list[Any]) -> dict:
    """The test windows' runs chained into one curve, and its metrics."""
    curve = stitch([run.equity for run in tested], setting.balance)
    bars = pd.concat([run.bars for run in tested], ignore_index=True)
    trades = pd.concat([run.trades for run in tested], ignore_index=True)
    perf = performance(
        curve, bars, bar_interval(setting.market.bar_spec), trades, setting.balance,
        multiplier=float(setting.market.spec.point_value),
        periods_per_year=setting.settings.get("periods_per_year"),
    )  # fmt: skip
    final = float(curve.iloc[-1]) if len(curve) else setting.balance
    return {
        **perf.values, "notes": perf.notes, "final_capital": final,
        "total_return": final / setting.balance - 1.0, "trade_count": len(trades),
        "start": folds[0]["test_start"], "end": folds[-1]["test_end"],
    }  # fmt: skip


def _oos_reading(oos: dict[str, Any], folds: int) -> str:
    sharpe = oos.get("sharpe")
    shown = "n/a" if sharpe is None else f"{sharpe:.2f}"
    return (
        f"out of sample ({folds} test window{'s' if folds > 1 else ''} stitched, "
        f"{oos['start'][:10]}..{oos['end'][:10]}): Sharpe {shown}, return "
        f"{oos['total_return']:+.2%}, {oos['trade_count']} trades"
    )


def _selection(matrix: np.ndarray, points: list[dict[str, Any]]) -> tuple[dict, dict]:
    """The deflated Sharpe of the best point over the whole span, and the PBO."""
    kept = np.isfinite(matrix).all(axis=0) if matrix.size else np.zeros(0, dtype=bool)
    finite = matrix[:, kept] if matrix.size else matrix
    points = [p for p, k in zip(points, kept, strict=False) if k]
    if finite.ndim != 2 or finite.shape[1] < 2 or finite.shape[0] < 4:
        why = f"needs 2 trials and 4 sessions, has {finite.shape[1] if finite.ndim == 2 else 0}"
        return ({"reading": f"deflated Sharpe n/a: {why}"},
                {"reading": f"probability of backtest overfitting n/a: {why}"})  # fmt: skip
    std = finite.std(axis=0, ddof=1)
    sharpes = np.divide(finite.mean(axis=0), std, out=np.zeros(finite.shape[1]), where=std > 0)
    best = int(np.argmax(sharpes))
    dsr = deflated_sharpe_of_returns(finite[:, best], sharpes)
    found_dsr = {**_fields(dsr), "point": points[best] if len(points) > best else None,
                 "reading": dsr.reading}  # fmt: skip
    partitions = min(PARTITIONS, max(2, (finite.shape[0] // 4) * 2 // 2 * 2 // 2))
    partitions -= partitions % 2
    overfit = pbo(finite, partitions=max(2, partitions))
    found_pbo = {k: v for k, v in _fields(overfit).items() if k not in ("logits",)}
    return found_dsr, {**found_pbo, "reading": overfit.reading}


def _fields(value: Any) -> dict[str, Any]:
    """A frozen dataclass of numbers as a JSON-ready dict (arrays as lists)."""
    out = {}
    for name, item in dataclasses.asdict(value).items():
        if isinstance(item, np.ndarray):
            item = item.tolist()
        elif isinstance(item, (np.floating, np.integer)):
            item = item.item()
        out[name] = item
    return out
