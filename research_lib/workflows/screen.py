"""Screening sweeps: the whole grid on the vector engine, the best points confirmed in Nautilus.

:func:`screen` plans the grid as :func:`~research_lib.workflows.sweep.sweep` does, loads the
bars once, and evaluates every valid point with :func:`research_lib.engine.vector.run_points`,
in chunks on the Dask executor (:func:`research_lib.workflows.executor.run_tasks`). Each point
is stored as a run with ``engine = 'vector'`` (its metrics; trades and equity only for the
points to confirm), all in one transaction. The best ``confirm`` points by the chosen metric
then run in Nautilus as ordinary runs of the same sweep, each naming its screened twin in
``twin_id`` and saying in ``agreement`` whether the two agree: the same trades (side,
quantity, times and prices identical) and P&L equal to 1e-9 relative, trade by trade and in
final capital. A strategy without a vectorized rule, or fills limited by bar volume, is swept
event-driven only, and ``note`` says why.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from research_lib.engine import vector
from research_lib.engine.market import MarketData, load_market_data
from research_lib.engine.runner import resolve_config, settings_from, versions
from research_lib.errors import ConfigError
from research_lib.model.defaults import DEFAULT_SEED
from research_lib.model.execution import Execution, execution_of
from research_lib.model.metrics import GOALS, LOWER_IS_BETTER
from research_lib.model.run import RunRecord
from research_lib.store.records import summary_bundle
from research_lib.workflows import executor
from research_lib.workflows.grid import WIRING, Point, SweepPlan, plan_sweep
from research_lib.workflows.points import PointOutcome, PointTask, Saver, lost_point, run_point
from research_lib.workflows.record import store_of
from research_lib.workflows.sweep import (
    LIFETIME,
    WORKER_PRELOAD,
    SweepResult,
    rank_column,
    run_options,
    sweep,
    sweep_table,
)

__all__ = ["CONFIRM", "agreement", "screen"]

CONFIRM = 10  # points confirmed in Nautilus by default
RELATIVE = 1e-9  # P&L tolerance of an agreement
TASKS_PER_WORKER = 4  # chunks of the grid per worker: balanced, few bar shipments
IN_PROCESS_WORK = 50_000_000  # points x bars below which screening here beats starting Dask


@dataclass(frozen=True)
class ScreenTask:
    """One chunk of the grid for a worker: the points (parameters, wiring left out)."""

    index: int
    first: int  # the grid index of its first point
    strategy: str
    config_path: str
    points: list[dict[str, Any]]
    execution: Execution
    starting_balance: float
    periods_per_year: float | None


@dataclass
class ScreenOutcome:
    """A chunk's vector runs (or why it failed), and its time."""

    index: int
    runs: list[vector.VectorRun]
    seconds: float
    error: str | None = None


def screen_chunk(task: ScreenTask, market: MarketData) -> ScreenOutcome:
    """Run one chunk on the vector engine (on a worker, or here)."""
    started = time.perf_counter()
    try:
        runs = vector.run_points(
            task.strategy, task.points, market, execution=task.execution,
            starting_balance=task.starting_balance, periods_per_year=task.periods_per_year,
            config_path=task.config_path,
        )  # fmt: skip
    except Exception as exc:
        return ScreenOutcome(task.index, [], time.perf_counter() - started, _why(exc))
    return ScreenOutcome(task.index, runs, time.perf_counter() - started)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def screen(
    config: Any,
    grid: dict[str, Any],
    *,
    confirm: int = CONFIRM,
    by: str = "sharpe",
    symbol: str | None = None,
    start: Any = None,
    end: Any = None,
    data: str | pd.DataFrame | None = None,
    catalog: Any = None,
    results: Any = None,
    workers: int | None = 1,
    scheduler: str | None = None,
    progress: bool = True,
    seed: int = DEFAULT_SEED,
    tags: Any = (),
    execution: dict[str, Any] | None = None,
    bar_spec: str | None = None,
    worker_lifetime: str | None = LIFETIME,
    worker_memory: str | None = None,
    ship_bars: bool = True,
    status: Any = lambda text: None,
) -> SweepResult:
    """Screen every valid point of ``grid`` on the vector engine, then confirm the best
    ``confirm`` by ``by`` (highest first; ``max_drawdown`` too: the least deep) in Nautilus.

    The arguments are :func:`~research_lib.workflows.sweep.sweep`'s (screened bars are
    always sent from here; ``ship_bars`` applies to an event-driven fallback). The result's ``runs
    hold both engines' runs; ``ranked()`` ranks the screened points and says which were
    confirmed and whether they agree; ``confirmations`` has a row per confirmed point.
    """
    if not isinstance(confirm, int) or isinstance(confirm, bool) or confirm < 0:
        raise ConfigError(f"confirm must be a whole number of at least 0, was {confirm!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a whole number of at least 1, was {workers!r}")
    started = time.perf_counter()
    plan = plan_sweep(config, grid)
    by = rank_column(by, plan.grid)
    if by not in GOALS and by not in plan.grid:
        raise ConfigError(
            f"cannot screen by '{by}': it says nothing of how good a point is; use one of "
            f"{', '.join(GOALS)}"
        )
    execution = {k: v for k, v in (execution or {}).items() if v not in (None, {})}
    options = run_options(plan, symbol, bar_spec, start, end, data, catalog, tags, seed)
    arguments = plan.run_config.arguments(**options, **execution)
    settings_from(arguments)  # one line for a bad balance or seed, before any work
    chosen = execution_of(
        arguments.get("execution"), fill_timing=arguments.get("fill_timing"),
        fill_volume=arguments.get("fill_volume"), costs=arguments.get("costs"),
    )  # fmt: skip
    settings = settings_from({**arguments, "execution": chosen})  # as the points fill
    note = _event_driven_only(plan.run_config.strategy_name, chosen)
    common = dict(
        symbol=symbol, start=start, end=end, data=data, catalog=catalog, results=results,
        workers=workers, scheduler=scheduler, progress=progress, seed=seed, tags=tags,
        execution=execution, bar_spec=bar_spec, worker_lifetime=worker_lifetime,
        worker_memory=worker_memory, ship_bars=ship_bars, status=status,
    )  # fmt: skip
    if note:
        status(f"{note}: running all {len(plan.points)} points event-driven")
        return replace(sweep(plan.run_config, grid, **common), note=note)
    market = load_market_data(
        arguments["data"], arguments.get("symbol"), arguments.get("start"),
        arguments.get("end"), arguments.get("catalog"), arguments.get("seed", DEFAULT_SEED),
        bar_spec=arguments.get("bar_spec"), instrument=arguments.get("instrument"),
    )  # fmt: skip
    store = store_of(results)
    sweep_id = str(uuid.uuid4())
    address = executor.scheduler_address(scheduler, plan.run_config.backtest.scheduler)
    with contextlib.ExitStack() as stack:
        opened: list[executor.Cluster] = []

        def on_cluster(needed: bool) -> dict[str, Any]:
            """Executor settings: here (a small round), or one cluster for both rounds."""
            if not needed or not (address or workers is None or workers > 1):
                return {"workers": 1, "scheduler": None, "cluster": None}
            if not opened:
                opened.append(stack.enter_context(executor.connect(
                    workers or executor.cpu_count(), address, worker_memory, worker_lifetime,
                )))  # fmt: skip
                if opened[0].dashboard:
                    status(f"Dask dashboard: {opened[0].dashboard}")
            return {"workers": workers, "scheduler": address, "cluster": opened[0]}

        run = dict(shared=market, progress=progress, preload=("research_lib.engine.vector",),
                   where=on_cluster, chunk_workers=workers)  # fmt: skip
        return _screen_and_confirm(
            plan, market, store, sweep_id, run, chosen, settings, options, execution, by,
            confirm, started, status,
        )  # fmt: skip


def _screen_and_confirm(
    plan: SweepPlan, market: MarketData, store: Any, sweep_id: str, run: dict,
    chosen: Execution, settings: dict, options: dict, execution: dict, by: str, confirm: int,
    started: float, status: Any,
) -> SweepResult:  # fmt: skip
    """The two rounds of :func:`screen`, on ``run``'s executor settings."""
    run = dict(run)
    where, workers = run.pop("where"), run.pop("chunk_workers")
    big = len(plan.points) * len(market.bars) >= IN_PROCESS_WORK
    balance = float(settings["starting_balance"])
    tasks = _chunks(plan, chosen, balance, settings.get("periods_per_year"), workers if big else 1)
    screened = time.perf_counter()
    outcomes = executor.run_tasks(
        screen_chunk, tasks, on_lost=lost_chunk, failed=lambda o: o.error is not None,
        desc=f"screen {sweep_id[:8]}", **run, **where(big),
    )  # fmt: skip
    outcomes.sort(key=lambda o: o.index)
    screen_seconds = time.perf_counter() - screened
    found = [p for task, o in zip(tasks, outcomes, strict=True) for p in _points(plan, task, o)]
    column = rank_column(by, plan.grid)
    best = _best(found, column, confirm)
    if confirm and not best:
        status(f"no screened point has a {by}: none to confirm in Nautilus")
    again = vector.run_points(
        plan.run_config.strategy_name, [params_of(found[i].grid, plan) for i in best], market,
        execution=chosen, starting_balance=balance,
        periods_per_year=settings.get("periods_per_year"), keep_trades=True, keep_equity=True,
        config_path=plan.run_config.config_path,
    )  # fmt: skip
    twins = dict(zip(best, again, strict=True))  # the best points with trades and equity
    records = Records(plan, market, settings, {**options, "sweep_id": sweep_id})
    bundles = [records.bundle(point, twins.get(i)) for i, point in enumerate(found)]
    saved = store.save_bundles_or_keep(bundles)
    kept = [where for where in saved if where != str(store.path)]
    status(f"screened {len(found)} points in {screen_seconds:.1f} s on the vector engine")
    confirmed = time.perf_counter()
    confirmer = _Confirmer(Saver(store), {i: (bundles[i].id, twins[i]) for i in best})
    if best:
        status(f"confirming the best {len(best)} by {by} in Nautilus")
        confirm_options = {**options, "sweep_id": sweep_id, **execution}
        confirm_tasks = [
            PointTask(i, found[i].grid, "runner", plan.run_config, confirm_options) for i in best
        ]
        try:
            executor.run_tasks(
                run_point, confirm_tasks, on_result=confirmer, on_lost=lost_point,
                failed=lambda o: o.error is not None, desc=f"confirm {sweep_id[:8]}",
                **{**run, "preload": WORKER_PRELOAD}, **where(len(best) > 1),
            )  # fmt: skip
        except KeyboardInterrupt:
            status(
                f"interrupted: the {len(found)} screened points of sweep {sweep_id[:8]} and "
                f"{len(confirmer.saver.saved)} of {len(best)} confirmations were saved to "
                f"{store.path}"
            )
            raise
    failed = [(p.grid, p.error) for p in found if p.error is not None]
    return SweepResult(
        sweep_id=sweep_id,
        runs=sweep_table(store, sweep_id, list(plan.grid)),
        grid=plan.grid,
        skipped=plan.skipped,
        failed=failed,
        results=store.path.resolve(),
        duration_seconds=time.perf_counter() - started,
        finished=len(found) - len(failed),
        kept=kept + confirmer.saver.kept,
        screen_seconds=screen_seconds,
        confirm_seconds=time.perf_counter() - confirmed if best else None,
    )


def _event_driven_only(strategy: str, execution: Execution) -> str | None:
    """Why the grid cannot be screened, or None."""
    if not vector.supports(strategy):
        return f"{strategy} has no vectorized rule"
    if execution.fill_volume != "unlimited":
        return "fills limited by bar volume are not simulated by the vector engine"
    return None


def _chunks(
    plan: SweepPlan, execution: Execution, balance: float, periods: Any, workers: int | None
) -> list[ScreenTask]:
    """The grid in about :data:`TASKS_PER_WORKER` chunks per worker, in grid order."""
    params = [params_of(point, plan) for point in plan.points]
    per = TASKS_PER_WORKER * (workers or 2) if workers != 1 else 1  # here: one chunk
    count = max(1, min(len(params), per))
    size = math.ceil(len(params) / count)
    return [
        ScreenTask(i, at, plan.run_config.strategy_name, plan.run_config.config_path,
                   params[at : at + size], execution, balance, periods)
        for i, at in enumerate(range(0, len(params), size))
    ]  # fmt: skip


def params_of(point: Point, plan: SweepPlan | None = None) -> dict[str, Any]:
    """A point's strategy values: the config's, then the point's (no wiring)."""
    base = plan.run_config.params if plan is not None else {}
    return {k: v for k, v in {**base, **point}.items() if k not in WIRING}


def lost_chunk(task: ScreenTask, reason: str) -> ScreenOutcome:
    return ScreenOutcome(task.index, [], 0.0, reason)


@dataclass(frozen=True)
class ScreenedPoint:
    """One screened point: its grid values, its run (None if its chunk failed), its time."""

    grid: Point
    run: vector.VectorRun | None
    seconds: float
    error: str | None = None


def _points(plan: SweepPlan, task: ScreenTask, outcome: ScreenOutcome) -> list[ScreenedPoint]:
    """A chunk's points, in grid order, with their runs."""
    grid = plan.points[task.first : task.first + len(task.points)]
    each = outcome.seconds / max(1, len(task.points))
    if outcome.error is not None:
        return [ScreenedPoint(g, None, each, outcome.error) for g in grid]
    return [
        ScreenedPoint(g, None, each, r.error) if r.error else ScreenedPoint(g, r, each)
        for g, r in zip(grid, outcome.runs, strict=True)
    ]


def _best(found: list[ScreenedPoint], column: str, count: int) -> list[int]:
    """The indexes of the ``count`` best points by ``column`` (highest first, lowest for
    :data:`LOWER_IS_BETTER`; n/a never), ties by their parameters, as ``ranked()`` orders."""
    sign = 1.0 if column in LOWER_IS_BETTER else -1.0
    scored = []
    for i, point in enumerate(found):
        if point.run is None:
            continue
        value = point.run.metrics.get(column, point.grid.get(column))
        if isinstance(value, (int, float)) and math.isfinite(value):
            scored.append((sign * float(value), _order(point.grid), i))
    return [i for *_, i in sorted(scored)[:count]]


def _order(point: Point) -> tuple:
    """A point's place among equals: by its values, as the sweep table sorts them."""
    return tuple((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))
                 for v in point.values())  # fmt: skip


class Records:
    """The runs records of screened points: what a Nautilus run of the point would record."""

    def __init__(self, plan: SweepPlan, market: MarketData, settings: dict, options: dict):
        self.plan, self.market, self.options = plan, market, options
        self.settings = {
            **settings, "symbol": market.spec.symbol, "bar_spec": market.bar_spec,
            "instrument": market.spec.to_dict(),
        }  # fmt: skip
        self.versions = versions()

    def bundle(self, point: ScreenedPoint, twin: vector.VectorRun | None) -> Any:
        config = self.plan.run_config
        bars, market = self.market.bars, self.market
        base = dict(
            id=str(uuid.uuid4()), source=self.options.get("source", "sweep"),
            sweep_id=self.options.get("sweep_id"), study_id=self.options.get("study_id"),
            tags=tuple(self.options.get("tags") or ()), strategy=config.strategy_name,
            strategy_path=config.strategy_path, config_path=config.config_path,
            settings=self.settings, duration_seconds=point.seconds, engine="vector",
            versions=self.versions,
        )  # fmt: skip
        values = {**config.params, **point.grid}
        if point.run is None:
            record = RunRecord.failed(point.error or "failed", config=values)
            return summary_bundle(replace(record, **base, status="failed"))
        resolved, _ = resolve_config(config.config_path, params_of(point.grid, self.plan), market)
        metrics = point.run.metrics
        record = RunRecord(
            **base, config=resolved, symbol=market.spec.symbol,
            instrument_id=market.spec.instrument_id, bar_type=market.bar_type,
            bar_spec=market.bar_spec, start=bars["timestamp"].iloc[0],
            end=bars["timestamp"].iloc[-1], bar_count=len(bars),
            trade_count=int(metrics["trade_count"]), currency=market.spec.currency,
            data_source=market.source, data_fingerprint=market.fingerprint,
            initial_capital=float(self.settings["starting_balance"]),
            final_capital=float(metrics["final_capital"]),
            performance=point.run.performance or {},
            warnings=(*market.warnings, *point.run.warnings),
        )  # fmt: skip
        if twin is None:
            return summary_bundle(record)
        return summary_bundle(record, twin.trades, twin.equity)


class _Confirmer:
    """Saves each confirming run with its twin's id and whether the two agree."""

    def __init__(self, saver: Saver, twins: dict[int, tuple[str, vector.VectorRun]]):
        self.saver, self.twins = saver, twins
        self.agreements: dict[int, dict[str, Any]] = {}

    def __call__(self, task: PointTask, outcome: PointOutcome) -> None:
        twin_id, twin = self.twins[task.index]
        for bundle in outcome.bundles:
            bundle.row["twin_id"] = twin_id
            if bundle.row["status"] == "completed":
                found = agreement(twin, bundle.trades.to_pandas(), bundle.row["final_capital"])
                self.agreements[task.index] = found
                bundle.row["agreement"] = json.dumps(found)
        self.saver(task, outcome)


_EXACT = ("side", "quantity", "entry_time", "exit_time", "entry_price", "exit_price")


def agreement(twin: vector.VectorRun, trades: pd.DataFrame, final: float) -> dict[str, Any]:
    """Whether a Nautilus run's ``trades`` and ``final`` capital are its vector ``twin``'s:
    the same trades (side, quantity, times, prices identical), every trade's P&L and the
    final capital equal to :data:`RELATIVE`. ``detail`` names the first difference."""
    ours = twin.trades if twin.trades is not None else pd.DataFrame(columns=list(_EXACT))
    detail = None
    if len(ours) != len(trades):
        detail = f"{len(ours)} trades on the vector engine, {len(trades)} in Nautilus"
    else:
        for n, (a, b) in enumerate(zip(ours.to_dict("records"), trades.to_dict("records"),
                                       strict=True), start=1):  # fmt: skip
            for name in _EXACT:
                if _value(a[name]) != _value(b[name]):
                    detail = f"trade {n}: {name} {a[name]} (vector) vs {b[name]} (Nautilus)"
                    break
            else:
                if not _close(a["realized_pnl"], b["realized_pnl"]):
                    detail = (f"trade {n}: P&L {a['realized_pnl']!r} (vector) vs "
                              f"{b['realized_pnl']!r} (Nautilus)")  # fmt: skip
            if detail:
                break
    vector_final = float(twin.metrics["final_capital"])
    if detail is None and not _close(vector_final, final):
        detail = f"final capital {vector_final!r} (vector) vs {final!r} (Nautilus)"
    return {"agrees": detail is None, "detail": detail or "same trades, P&L within 1e-9",
            "trades": len(trades)}  # fmt: skip


def _value(value: Any) -> Any:
    """Times as nanoseconds, numbers as floats: what "identical" compares."""
    if isinstance(value, pd.Timestamp):
        return pd.Timestamp(value).as_unit("ns").value
    return float(value) if isinstance(value, (int, float)) else value


def _close(a: Any, b: Any) -> bool:
    a, b = float(a), float(b)
    return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=RELATIVE)
