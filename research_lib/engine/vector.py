"""The vector engine: a strategy's vectorized rule over many parameter points at once, for
screening a grid before Nautilus confirms the best points.

A strategy opts in with a ``vector_signals`` function in its module, next to its Nautilus
class (:mod:`research_lib.strategies.signals` says what it returns); the three built-in
strategies have one. Their signals are computed with numpy on whole arrays, exactly as the
strategies define them: the moving averages and bands compared in integer ticks (so equal
averages are equal), the RSI with Nautilus's averaging (alpha = 2 / (n + 1)) in floats as
Nautilus computes it. The positions, fills, costs and sizing then run in one compiled loop
per point (:mod:`research_lib.engine.vector_loop`), by the same rules as the event-driven
engine.

``run_points(strategy, points, market)`` returns, per point, its headline metrics (by
:func:`research_lib.model.performance.performance`, as every stored run), and its trades
and equity curve when asked. :func:`rule_of` finds a strategy's rule; a strategy without
one is swept event-driven only.
"""

from __future__ import annotations

import importlib
import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from research_lib.engine.market import MarketData
from research_lib.engine.vector_loop import SIZING_CODES, path_stats, run_point
from research_lib.errors import ConfigError, ConfigProblems
from research_lib.model.bars import bar_closes, bar_interval
from research_lib.model.defaults import DEFAULT_BALANCE, DEFAULT_TRADE_SIZE
from research_lib.model.execution import Execution
from research_lib.model.performance import Calendar, calendar, performance, performance_of_arrays
from research_lib.model.run import TRADE_COLUMNS
from research_lib.strategies import registry
from research_lib.strategies.base import SIZE_UNITS
from research_lib.strategies.signals import MEAN_REVERSION, NO_SIGNAL, Signals

__all__ = ["RULES", "VectorRun", "rule_of", "run_points", "supports"]

Rule = Callable[[np.ndarray, np.ndarray, Mapping], Signals]
RULES: dict[str, Rule] = {}  # the rules found so far, by strategy name or path


@dataclass(frozen=True)
class VectorRun:
    """One point's outcome: its parameters, metrics, and (when asked) trades and equity."""

    params: dict[str, Any]
    metrics: dict[str, float | None]
    trades: pd.DataFrame | None = None
    equity: pd.Series | None = None
    performance: dict[str, Any] | None = None  # Performance.to_dict(): notes, annualisation
    warnings: tuple[str, ...] = ()  # refused entries, as a Nautilus run warns of them
    error: str | None = None  # every entry refused: a Nautilus run of the point fails


def rule_of(strategy: str) -> Rule | None:
    """The ``vector_signals`` function of ``strategy`` (a registered name or ``module:Class``)
    in the module of its Nautilus class, or None when it has none (or cannot be imported)."""
    if strategy in RULES:
        return RULES[strategy]
    info = registry.find(strategy)
    path = info.strategy_path if info else strategy
    module_name = path.partition(":")[0] if ":" in path else ""
    try:
        module = importlib.import_module(module_name) if module_name else None
    except ImportError:
        return None
    rule = getattr(module, "vector_signals", None)
    if not callable(rule):
        return None
    RULES[strategy] = rule
    return rule


def supports(strategy: str) -> bool:
    """Whether ``strategy`` (a registered name or ``module:Class``) has a vectorized rule."""
    return rule_of(strategy) is not None


@dataclass(frozen=True)
class _Market:
    """A market's arrays, computed once for every point."""

    ticks: np.ndarray
    opens: np.ndarray
    closes: np.ndarray
    open_ts: np.ndarray
    close_ts: np.ndarray
    tick: float
    scale: float
    point: float
    increment: float
    interval: pd.Timedelta
    index: pd.DatetimeIndex  # bar close times, the equity curve's index


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    """UTC times from int64 nanoseconds (a view: no parsing)."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize(
        "UTC"
    )


# The arrays and calendars of the last few markets run (a MarketData is frozen: its bars are
# its fingerprint's), by id, with a weak reference that tells the market is still the same.
_PREPARED: dict[int, tuple[weakref.ref, _Market, dict[Any, Calendar]]] = {}
_PREPARED_MAX = 4


def _prepared(market: MarketData) -> tuple[_Market, dict[Any, Calendar]] | None:
    entry = _PREPARED.get(id(market))
    if entry is None or entry[0]() is not market:
        return None
    return entry[1], entry[2]


def _arrays(market: MarketData) -> _Market:
    known = _prepared(market)
    if known is not None:
        return known[0]
    spec, bars = market.spec, market.bars
    scale = 10**spec.price_precision
    ticks = np.rint(bars["close"].to_numpy(dtype=float) * scale).astype(np.int64)
    opens = np.rint(bars["open"].to_numpy(dtype=float) * scale).astype(np.int64)
    column = bars["timestamp"]
    if isinstance(column.dtype, pd.DatetimeTZDtype):  # no parsing: a view, converted
        stamps = pd.DatetimeIndex(column).tz_convert("UTC").as_unit("ns")
    else:
        stamps = pd.DatetimeIndex(pd.to_datetime(column, utc=True)).as_unit("ns")
    open_ts = stamps.asi8
    closes_at = bar_closes(stamps, market.bar_spec, session=spec.session_close)
    close_ns = pd.DatetimeIndex(closes_at).as_unit("ns").asi8
    data = _Market(
        ticks, opens, ticks.astype(np.float64) / scale, open_ts,
        close_ns, float(spec.tick), float(scale),
        float(spec.point_value), float(spec.increment), bar_interval(market.bar_spec),
        _utc(close_ns).rename("timestamp"),
    )  # fmt: skip
    for array in (ticks, opens, data.closes, open_ts, close_ns):
        array.flags.writeable = False  # shared by every point (and run) on these bars
    try:
        ref = weakref.ref(market, lambda _, key=id(market): _PREPARED.pop(key, None))
    except TypeError:  # pragma: no cover - a market that cannot be weakly referenced
        return data
    while len(_PREPARED) >= _PREPARED_MAX:
        _PREPARED.pop(next(iter(_PREPARED)))
    _PREPARED[id(market)] = (ref, data, {})
    return data


def _calendar(market: MarketData, data: _Market, periods_per_year: float | None) -> Calendar:
    known = _prepared(market)
    calendars = known[1] if known is not None and known[0] is data else {}
    if periods_per_year not in calendars:
        calendars[periods_per_year] = calendar(
            market.bars, data.interval, periods_per_year, closes=data.index
        )
    return calendars[periods_per_year]


def run_points(
    strategy: str,
    points: Sequence[Mapping[str, Any]],
    market: MarketData,
    *,
    execution: Execution | None = None,
    starting_balance: float = DEFAULT_BALANCE,
    periods_per_year: float | None = None,
    keep_trades: bool = False,
    keep_equity: bool = False,
    config_path: str | None = None,
) -> list[VectorRun]:
    """Each point of ``strategy`` on ``market``'s bars; see the module docstring.

    A point holds the strategy's parameters, and may hold ``trade_size`` (default
    :data:`DEFAULT_TRADE_SIZE`) and ``sizing``. ``execution``: fill timing and costs (fill
    volume must be ``unlimited``: Nautilus's bar execution is not simulated).
    ``config_path``: the config class of a ``module:Class`` strategy of your own.

    Repeated calls on the same ``market`` reuse its arrays and calendar (kept for the last
    few markets; a :class:`MarketData` is frozen, so do not change its bars in place), and
    points already found valid are not checked again. The arrays a rule gets are read-only.
    """
    rule = rule_of(strategy)
    if rule is None:
        raise ConfigError(f"{strategy} has no vectorized rule: sweep it event-driven")
    execution = execution or Execution()
    if execution.fill_volume != "unlimited":
        raise ConfigError("the vector engine needs fill_volume 'unlimited'")
    points = checked_points(strategy, points, market, config_path)
    data = _arrays(market)
    known = _calendar(market, data, periods_per_year)
    costs = execution.costs
    n = len(data.ticks)
    runs = []
    for point in points:
        signals = rule(data.ticks, data.closes, point)
        equity = np.empty(n)
        rows = min(_decisions(signals) + 1, n + 1)  # a trade's entry is a decision's fill
        while True:
            trades_int = np.empty((rows, 5), dtype=np.int64)
            trades_float = np.empty((rows, 2))
            refused = np.zeros(5)
            count = run_point(
                signals.rule, signals.targets,
                signals.bands if signals.bands is not None else np.zeros((4, 1), dtype=np.bool_),
                signals.warm,
                data.opens, data.ticks,
                data.open_ts, data.close_ts, execution.fill_timing == "next_open",
                data.scale, data.point, data.increment,
                SIZING_CODES[str(point.get("sizing", "quantity"))],
                float(point.get("trade_size", DEFAULT_TRADE_SIZE)), float(starting_balance),
                _fraction(costs.commission_rate), costs.commission_per_unit,
                costs.commission_per_order,
                costs.slippage_ticks, costs.slippage_bps, equity, trades_int, trades_float,
                refused,
            )  # fmt: skip
            if count <= rows:
                break
            rows = count  # pragma: no cover - the bound holds; never lose a trade
        run = _outcome(
            point, market, data, equity, trades_int[:count], trades_float[:count],
            starting_balance, known, keep_trades, keep_equity,
        )  # fmt: skip
        runs.append(_refusals(run, refused, point, market) if refused[0] else run)
    return runs


def _refusals(run: VectorRun, refused: np.ndarray, point: Mapping, market: MarketData):
    """``run`` with the warning (or, when no order filled, the error) a Nautilus run of the
    point has for its refused entries (:meth:`SignalStrategy.entry_quantity`)."""
    count, kind, price, size, equity = refused
    spec = market.spec
    if kind == 1:
        sizing = str(point.get("sizing", "quantity"))
        first = (
            f"trade_size {point.get('trade_size', DEFAULT_TRADE_SIZE)} ({SIZE_UNITS[sizing]}) "
            f"at {price:,.{spec.price_precision}f} is less than one size increment "
            f"({spec.increment})"
        )
    else:
        notional = size * price * float(spec.point_value)
        first = (
            f"notional {notional:,.2f} {spec.currency} of {size:g} units exceeds the "
            f"account's equity of {equity:,.2f}"
        )
    if run.metrics["trade_count"] == 0:
        error = (
            f"BacktestError: every order was refused ({int(count)}): {first}; lower "
            "trade_size or raise the starting balance"
        )
        return replace(run, error=error)
    return replace(run, warnings=(f"{int(count)} orders were refused, the first: {first}",))


def _decisions(signals: Signals) -> int:
    """How many bars decide something (an upper bound on the entries)."""
    if signals.rule == MEAN_REVERSION and signals.bands is not None:
        return int(np.count_nonzero(signals.bands[0] | signals.bands[1]))
    return int(np.count_nonzero(signals.targets != NO_SIGNAL))


# Points found valid, by config class, wiring and the point's items: checking a point costs
# milliseconds (msgspec field lookups), a grid repeats them. Only plain scalars are kept.
_CHECKED: dict[tuple, dict[str, Any]] = {}
_CHECKED_MAX = 100_000
_SCALARS = (int, float, str, bool, type(None))


def _point_key(point: Mapping[str, Any]) -> tuple | None:
    items = []
    for key, value in point.items():
        if type(key) is not str or type(value) not in _SCALARS:
            return None
        items.append((key, type(value), repr(value)))
    return tuple(items)


def checked_points(
    strategy: str,
    points: Sequence[Mapping[str, Any]],
    market: MarketData,
    config_path: str | None = None,
) -> list[dict[str, Any]]:
    """Each point with the strategy's defaults filled in, checked by its config class (the
    same rules as an event-driven run); raises :class:`ConfigProblems` naming the point."""
    _, config_path = registry.resolve_paths(strategy, config_path)
    config_cls = registry.config_class(config_path)
    defaults = None
    wiring = {"instrument_id": market.spec.instrument_id, "bar_type": market.bar_type,
              "trade_size": DEFAULT_TRADE_SIZE}  # fmt: skip
    where = (config_path, config_cls, repr(market.spec.instrument_id), repr(market.bar_type))
    checked = []
    for point in points:
        key = _point_key(point)
        known = None if key is None else _CHECKED.get((*where, key))
        if known is not None:
            checked.append(dict(known))
            continue
        if defaults is None:
            parameters = registry.config_parameters(config_cls)
            defaults = {p.name: p.default for p in parameters if p.default is not None}
        values = {**defaults, **point}
        problems = registry.config_problems(config_path, values, defaults=wiring)
        if problems:
            shown = ", ".join(f"{k}={v}" for k, v in point.items())
            raise ConfigProblems([(f"point {shown}: {field}", why) for field, why in problems])
        if key is not None and all(type(v) in _SCALARS for v in values.values()):
            if len(_CHECKED) >= _CHECKED_MAX:
                _CHECKED.clear()
            _CHECKED[(*where, key)] = dict(values)
        checked.append(values)
    return checked


def _fraction(rate: float) -> tuple[float, float]:
    """A decimal rate as (numerator, denominator), exactly as its text reads (0.0005 is
    5 / 10000)."""
    exact = Fraction(Decimal(repr(float(rate))))
    return float(exact.numerator), float(exact.denominator)


def _trades_frame(
    ints: np.ndarray, floats: np.ndarray, data: _Market, full: bool = True
) -> pd.DataFrame:
    """The trades in :data:`TRADE_COLUMNS`, or (``full=False``) only the numbers the metrics
    read, which is quicker."""
    if not full:
        return pd.DataFrame(
            {
                "quantity": floats[:, 0],
                "entry_time": ints[:, 1].view("datetime64[ns]"),
                "exit_time": ints[:, 2].view("datetime64[ns]"),
                "entry_price": ints[:, 3] / data.scale,
                "realized_pnl": floats[:, 1],
            }
        )
    frame = pd.DataFrame(
        {
            "position_id": [f"vector-{i + 1}" for i in range(len(ints))],
            "side": np.where(ints[:, 0] > 0, "LONG", "SHORT"),
            "quantity": floats[:, 0],
            "entry_time": _utc(ints[:, 1]),
            "exit_time": _utc(ints[:, 2]),
            "entry_price": ints[:, 3] / data.scale,
            "exit_price": ints[:, 4] / data.scale,
            "realized_pnl": floats[:, 1],
        }
    )
    return frame[TRADE_COLUMNS]


def _outcome(point, market, data, equity, ints, floats, balance, known, keep_trades,
             keep_equity):  # fmt: skip
    rows = ints
    curve = pd.Series(equity, index=data.index, name="equity") if keep_equity else None
    trades = _trades_frame(ints, floats, data) if keep_trades else None
    if len(equity) and math.isfinite(balance) and balance > 0:  # else as performance() says
        entries, exits = np.ascontiguousarray(ints[:, 1]), np.ascontiguousarray(ints[:, 2])
        deepest, longest, exposure = path_stats(
            float(balance), equity, known.starts[0], data.close_ts, entries, exits
        )
        perf = performance_of_arrays(
            equity, balance, known, data.close_ts,
            (floats[:, 1], ints[:, 3] / data.scale, floats[:, 0], entries, exits),
            multiplier=data.point, drawdown=(deepest, int(longest)), exposure=exposure,
        )  # fmt: skip
    else:
        perf = performance(pd.Series(equity, index=data.index, name="equity"), market.bars,
                           data.interval, _trades_frame(ints, floats, data, full=keep_trades),
                           balance, multiplier=data.point, known=known)  # fmt: skip
    final = float(equity[-1]) if len(equity) else balance
    metrics = {
        "final_capital": final,
        "total_return": final / balance - 1.0,
        "trade_count": float(len(rows)),
        **perf.values,
    }
    return VectorRun(dict(point), metrics, trades, curve, perf.to_dict())
