"""Benchmark 8 (issue 17): the vector engine against a numpy floor, vectorbt and backtesting.py.

1. A 16-point SMA crossover grid on seeded 1-minute bars (stop-and-reverse, 100 units, no
   costs, fills at the signal bar's close), and one point of it, measured side by side in one
   run: the contenders alternate, each is warmed up (numba compiles) untimed, medians are
   reported. The numpy floor is the arithmetic alone (signals in integer ticks, P&L of the
   position series); vectorbt and backtesting.py are the libraries' own idioms (their float
   moving averages and cross rules). Trade counts and P&L are shown side by side.
2. One backtest of a million bars through ``run_points``, with the time split into its
   parts (preparing the arrays, signals, the compiled loop, metrics) by wrapping them.
3. A 1,000-point screen of the three strategies on a million bars, in a fresh process: its
   time and peak memory (the process's ``ru_maxrss``).

The peers come from the ``bench`` dependency group (``uv sync --group bench``); without it
their rows say so. All bars are seeded synthetic (:func:`mock_bars`); nothing is downloaded.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.timing import Sample, in_fresh_process, max_rss_mb, timed

SEED = 42
TRADE_SIZE = 100
BALANCE = 100_000.0
SMA_FAST = (5, 10, 20, 40)
SMA_SLOW = (50, 100, 150, 200)  # 4 x 4 = the 16-point grid
SINGLE = {"sma_crossover": {"fast_period": 10, "slow_period": 20}, "mean_reversion": {},
          "momentum": {}}  # fmt: skip
CONTENDERS = ("numpy floor", "vectorbt", "backtesting.py", "ours")
MISSING = "not installed: uv sync --group bench"


def sma_grid(fasts: Sequence[int] = SMA_FAST, slows: Sequence[int] = SMA_SLOW) -> list[dict]:
    return [{"fast_period": f, "slow_period": s} for f in fasts for s in slows if f < s]


def screen_points(total: int) -> dict[str, list[dict[str, Any]]]:
    """About ``total`` valid points, a third per strategy, spread evenly over typical ranges."""
    candidates = {
        "sma_crossover": [
            {"fast_period": f, "slow_period": s}
            for f in range(2, 62, 2)
            for s in range(10, 310, 10)
            if f < s
        ],
        "mean_reversion": [
            {"lookback_period": n, "num_std_dev": k}
            for n in range(5, 205, 5)
            for k in (1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25)
        ],
        "momentum": [
            {"rsi_period": n, "oversold_threshold": lo, "overbought_threshold": hi}
            for n in range(2, 50, 2)
            for lo in (15.0, 20.0, 25.0, 30.0, 35.0)
            for hi in (65.0, 70.0, 75.0, 80.0, 85.0)
        ],
    }
    out = {}
    for i, (name, points) in enumerate(candidates.items()):
        share = total // 3 + (1 if i < total % 3 else 0)
        picks = np.unique(np.linspace(0, len(points) - 1, min(share, len(points))).astype(int))
        out[name] = [points[j] for j in picks]
    return out


def market_of(n_bars: int, seed: int = SEED):
    from research_lib.data.synthetic import mock_bars
    from research_lib.engine.market import load_market_data

    return load_market_data(mock_bars(n_bars, seed))


# -- the contenders: each returns [(trades, pnl)] per point ----------------------------------


def _window_sums(ticks: np.ndarray, n: int) -> np.ndarray:
    total = np.concatenate(([0], np.cumsum(ticks)))
    out = np.zeros(len(ticks), dtype=np.int64)
    out[n - 1 :] = total[n:] - total[: len(ticks) - n + 1]
    return out


def _ordered_means(closes: np.ndarray, n: int, at: np.ndarray) -> np.ndarray:
    """Means of the ``n`` closes ending at each of ``at``, summed in order (``cumsum`` adds
    left to right, as Nautilus's SMA does)."""
    return np.cumsum(closes[at[:, None] + np.arange(1 - n, 1)], axis=1)[:, -1] / n


def numpy_floor(ticks: np.ndarray, points: Sequence[dict], size: float, scale: float) -> list:
    """The arithmetic floor: SMA signs in integer ticks (where equal, the sign of the float
    means, as the strategy sees them; where still equal, the sign before), the position from
    the first change of sign on, P&L as the position times each bar's change."""
    closes = ticks / scale
    sums: dict[int, np.ndarray] = {}
    steps = np.diff(ticks)
    out = []
    for p in points:
        fast, slow = p["fast_period"], p["slow_period"]
        for n in (fast, slow):
            if n not in sums:
                sums[n] = _window_sums(ticks, n)
        sign = np.sign(sums[fast][slow - 1 :] * slow - sums[slow][slow - 1 :] * fast)
        ties = np.flatnonzero(sign == 0)
        if len(ties):  # equal in ticks: the sign of Nautilus's float means (summed in order)
            at = ties + slow - 1
            sign[ties] = np.sign(
                _ordered_means(closes, fast, at) - _ordered_means(closes, slow, at)
            )
        last = np.maximum.accumulate(np.where(sign != 0, np.arange(len(sign)), 0))
        filled = sign[last]
        changed = np.flatnonzero((filled[1:] != filled[:-1]) & (filled[:-1] != 0)) + 1
        position = np.zeros(len(ticks), dtype=np.int64)
        if len(changed):
            position[slow - 1 + changed[0] :] = filled[changed[0] :]
        pnl = int(position[:-1] @ steps) * size / scale
        out.append((len(changed), pnl))
    return out


def have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def vectorbt_grid(close: pd.Series, points: Sequence[dict], size: float) -> list:
    """vectorbt's idiom: MA indicators, their crosses, one ``from_signals`` over all columns
    (long and short entries reverse the position; the last one stays open, valued at the
    last close)."""
    import vectorbt as vbt

    fasts = [p["fast_period"] for p in points]
    slows = [p["slow_period"] for p in points]
    fast = vbt.MA.run(close, fasts, short_name="fast", per_column=False)
    slow = vbt.MA.run(close, slows, short_name="slow", per_column=False)
    fast_ma = fast.ma.to_numpy().reshape(len(close), -1)
    slow_ma = slow.ma.to_numpy().reshape(len(close), -1)
    from vectorbt.generic.nb import crossed_above_nb

    up, down = crossed_above_nb(fast_ma, slow_ma), crossed_above_nb(slow_ma, fast_ma)
    pf = vbt.Portfolio.from_signals(
        close.to_numpy()[:, None], entries=up, short_entries=down, size=size, size_type="amount",
        init_cash=BALANCE, fees=0.0, upon_opposite_entry="reverse", accumulate=False,
    )  # fmt: skip
    counts = np.asarray(pf.trades.count()).reshape(-1)
    profits = np.asarray(pf.total_profit()).reshape(-1)
    return [(int(c), float(v)) for c, v in zip(counts, profits, strict=True)]


def _bt_strategy():
    from backtesting import Strategy
    from backtesting.lib import crossover

    def sma(values, n):
        return pd.Series(values).rolling(n).mean().to_numpy()

    class SmaCross(Strategy):
        fast_period = 10
        slow_period = 20

        def init(self):
            self.fast = self.I(sma, self.data.Close, self.fast_period)
            self.slow = self.I(sma, self.data.Close, self.slow_period)

        def next(self):
            if crossover(self.fast, self.slow):
                self.buy(size=TRADE_SIZE)
            elif crossover(self.slow, self.fast):
                self.sell(size=TRADE_SIZE)

    return SmaCross


@contextmanager
def _in_process() -> Iterator[None]:
    """backtesting.py's ``optimize`` in this process (a one-thread pool), as ours runs; and
    no progress bars."""
    import multiprocessing.dummy

    import backtesting
    import backtesting.backtesting as module

    pool, bar = backtesting.Pool, module._tqdm
    backtesting.Pool = lambda *a, **k: multiprocessing.dummy.Pool(1)
    module._tqdm = lambda seq, **_: seq
    try:
        yield
    finally:
        backtesting.Pool, module._tqdm = pool, bar


def backtesting_grid(frame: pd.DataFrame, points: Sequence[dict]) -> list:
    """backtesting.py's idiom: orders at the close (``trade_on_close``), each closing the
    last (``exclusive_orders``), the open trade closed at the end; a grid by ``optimize``."""
    import warnings

    from backtesting import Backtest

    bt = Backtest(frame, _bt_strategy(), cash=BALANCE, commission=0.0, trade_on_close=True,
                  exclusive_orders=True, finalize_trades=True)  # fmt: skip
    with warnings.catch_warnings(), _in_process():
        warnings.simplefilter("ignore")
        if len(points) == 1:
            stats = [bt.run(**points[0])]
        else:
            seen: list[pd.Series] = []

            def record(stats: pd.Series) -> float:  # called in the grid's order (in-process)
                seen.append(stats)
                return stats["Equity Final [$]"]

            _best, heat = bt.optimize(
                fast_period=sorted({p["fast_period"] for p in points}),
                slow_period=sorted({p["slow_period"] for p in points}),
                constraint=lambda p: p.fast_period < p.slow_period, maximize=record,
                return_heatmap=True,
            )  # fmt: skip
            by_point = dict(zip(heat.index[heat.notna().to_numpy()], seen, strict=True))
            stats = [by_point[(p["fast_period"], p["slow_period"])] for p in points]
    return [(int(s["# Trades"]), float(s["Equity Final [$]"]) - BALANCE) for s in stats]


def ours(market, points: Sequence[dict]) -> list:
    from research_lib.engine.vector import run_points

    runs = run_points("sma_crossover", [{**p, "trade_size": TRADE_SIZE} for p in points], market)
    return [(int(r.metrics["trade_count"]), r.metrics["final_capital"] - BALANCE) for r in runs]


# -- 1. the grid, side by side -------------------------------------------------------------


def bench_grid(n_bars: int, repeats: int = 5, peer_repeats: int = 1, log=lambda _: None) -> dict:
    """The 16-point grid and one point, every contender in turn, medians of the samples.

    backtesting.py is a Python loop per bar: its grid gets ``peer_repeats`` samples."""
    market = market_of(n_bars)
    bars = market.bars
    scale = 10**market.spec.price_precision
    ticks = np.rint(bars["close"].to_numpy(dtype=float) * scale).astype(np.int64)
    close = pd.Series(ticks / scale, index=pd.DatetimeIndex(bars["timestamp"]))
    frame = bars.set_index(pd.DatetimeIndex(bars["timestamp"]))[
        ["open", "high", "low", "close", "volume"]
    ].rename(columns=str.capitalize)
    runners: dict[str, Callable[[list], list]] = {
        "numpy floor": lambda pts: numpy_floor(ticks, pts, TRADE_SIZE, scale),
        "ours": lambda pts: ours(market, pts),
    }
    missing = {}
    if have("vectorbt"):
        runners["vectorbt"] = lambda pts: vectorbt_grid(close, pts, TRADE_SIZE)
    else:
        missing["vectorbt"] = MISSING
    if have("backtesting"):
        runners["backtesting.py"] = lambda pts: backtesting_grid(frame, pts)
    else:
        missing["backtesting.py"] = MISSING
    grid = sma_grid()
    cases = {"grid": grid, "single": grid[:1]}
    # untimed warm-up on a slice: numba compiles (or loads its cache) here
    small = market_of(min(n_bars, 2_000))
    warm_ticks = np.rint(small.bars["close"].to_numpy() * scale).astype(np.int64)
    numpy_floor(warm_ticks, grid[:1], TRADE_SIZE, scale)
    ours(small, grid[:1])
    if "vectorbt" in runners:
        for pts in (grid[:1], grid[:2]):  # one column and many compile apart
            vectorbt_grid(pd.Series(warm_ticks / scale), pts, TRADE_SIZE)
    samples: dict[tuple[str, str], list[Sample]] = {}
    outcome: dict[tuple[str, str], list] = {}
    for case, pts in cases.items():
        for r in range(repeats):
            for name in CONTENDERS:
                if name not in runners:
                    continue
                if name == "backtesting.py" and case == "grid" and r >= peer_repeats:
                    continue
                gc.collect()
                with timed() as sample:
                    got = runners[name](pts)
                samples.setdefault((case, name), []).append(sample)
                outcome[(case, name)] = got
            log(f"vector grid: {case} sample {r + 1}/{repeats}")
    rows = []
    for case, pts in cases.items():
        for name in CONTENDERS:
            if name in missing:
                rows.append(
                    {"case": case, "path": name, "points": len(pts), "missing": missing[name]}
                )
                continue
            got = outcome[(case, name)]
            wall = [s.wall for s in samples[(case, name)]]
            cpu = [s.cpu for s in samples[(case, name)]]
            rows.append({
                "case": case, "path": name, "points": len(pts),
                "seconds": statistics.median(wall), "cpu_seconds": statistics.median(cpu),
                "samples": len(wall),
                "trades": [t for t, _ in got], "pnl": [p for _, p in got],
            })  # fmt: skip
    by = {(r["case"], r["path"]): r for r in rows}
    ratios = {}
    for case in cases:
        mine = by[(case, "ours")]
        for ref in ("vectorbt", "numpy floor", "backtesting.py"):
            other = by[(case, ref)]
            if "missing" not in other:
                ratios[f"{case}: ours/{ref}"] = {
                    "ratio": mine["seconds"] / other["seconds"],
                    "cpu_ratio": mine["cpu_seconds"] / other["cpu_seconds"],
                }
    floor, mine = by[("grid", "numpy floor")], by[("grid", "ours")]
    same = floor["trades"] == mine["trades"] and bool(
        np.allclose(floor["pnl"], mine["pnl"], rtol=0, atol=0.01 * max(mine["trades"] + [1]))
    )
    return {"bars": n_bars, "points": [dict(p) for p in grid], "rows": rows, "ratios": ratios,
            "same_as_floor": same}  # fmt: skip


# -- 2. one backtest of many bars, and where its time goes ---------------------------------

PARTS = {"_arrays": "prepare", "calendar": "prepare", "checked_points": "prepare",
         "run_point": "loop", "_outcome": "metrics"}  # fmt: skip


def split_run(strategy: str, point: dict, market) -> tuple[Sample, dict[str, float], float]:
    """``run_points`` for one point, its wall time split by wrapping the engine module's
    parts (those of :data:`PARTS` it has); ``signals`` is the rest: the rule and the little
    between the parts. Only measures: the engine is not changed."""
    from research_lib.engine import vector

    spent = dict.fromkeys(("prepare", "signals", "loop", "metrics"), 0.0)
    saved = {name: getattr(vector, name) for name in PARTS if hasattr(vector, name)}

    def wrap(func, part):
        def timed_part(*args, **kwargs):
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - start

        return timed_part

    try:
        for name, func in saved.items():
            setattr(vector, name, wrap(func, PARTS[name]))
        with timed() as sample:
            [run] = vector.run_points(strategy, [point], market)
    finally:
        for name, func in saved.items():
            setattr(vector, name, func)
    spent["signals"] = max(sample.wall - sum(spent.values()), 0.0)
    return sample, spent, run.metrics["trade_count"]


def bench_single(n_bars: int, repeats: int = 5, log=lambda _: None) -> dict:
    market = market_of(n_bars)
    small = market_of(min(n_bars, 2_000))
    rows = []
    for strategy, params in SINGLE.items():
        point = {**params, "trade_size": TRADE_SIZE}
        split_run(strategy, point, small)  # compile / load numba's cache
        runs = [split_run(strategy, point, market) for _ in range(repeats)]
        wall = statistics.median(s.wall for s, _, _ in runs)
        cpu = statistics.median(s.cpu for s, _, _ in runs)
        parts = {k: statistics.median(p[k] for _, p, _ in runs) for k in runs[0][1]}
        rows.append({"strategy": strategy, "params": params, "bars": n_bars, "seconds": wall,
                     "cpu_seconds": cpu, "bars_per_second": n_bars / wall,
                     "bars_per_cpu_second": n_bars / cpu if cpu else None, "parts": parts,
                     "trades": int(runs[0][2]), "samples": repeats})  # fmt: skip
        log(f"vector single: {strategy} done")
    return {"bars": n_bars, "rows": rows}


# -- 3. the 1,000-point screen, in a fresh process -----------------------------------------


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux; else its high-water mark)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return max_rss_mb()
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def screen(n_bars: int, total: int) -> dict[str, Any]:
    """The screen, in this process (meant for a fresh one: the peak memory is the run's)."""
    from research_lib.engine.vector import run_points

    market = market_of(n_bars)
    grid = screen_points(total)
    small = market_of(min(n_bars, 2_000))
    for strategy, pts in grid.items():
        run_points(strategy, pts[:1], small)  # numba: load or compile, untimed
    gc.collect()
    before = rss_mb()
    per = {}
    with timed() as sample:
        for strategy, pts in grid.items():
            with timed() as part:
                runs = run_points(strategy, pts, market)
            trades = int(sum(r.metrics["trade_count"] for r in runs))
            per[strategy] = {"points": len(pts), "seconds": part.wall, "cpu_seconds": part.cpu,
                             "trades": trades}  # fmt: skip
    points = sum(len(p) for p in grid.values())
    return {"bars": n_bars, "points": points, "seconds": sample.wall, "cpu_seconds": sample.cpu,
            "points_per_second": points / sample.wall, "before_mb": before,
            "peak_mb": max_rss_mb(), "strategies": per}  # fmt: skip


def bench_screen(n_bars: int, total: int) -> dict[str, Any]:
    return in_fresh_process(screen, n_bars, total)


def bench_vector(grid_bars: int, single_bars: int, screen_bars: int, screen_total: int,
                 repeats: int = 5, peer_repeats: int = 1, log=lambda _: None) -> dict:  # fmt: skip
    """The three parts of the benchmark, in order."""
    versions = {}
    for name in ("vectorbt", "backtesting"):
        if have(name):
            from importlib.metadata import version

            versions[name] = version(name)
        else:
            versions[name] = MISSING
    grid = bench_grid(grid_bars, repeats, peer_repeats, log=log)
    single = bench_single(single_bars, repeats, log=log)
    log("vector screen ...")
    return {"versions": versions, "grid": grid, "single": single,
            "screen": bench_screen(screen_bars, screen_total)}  # fmt: skip
