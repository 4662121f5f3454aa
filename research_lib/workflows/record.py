"""Run a backtest and record it: the one place that saves runs.

:func:`run_backtest` runs one backtest on the engine (:mod:`research_lib.engine.runner`)
and hands every run, completed or failed, to the results store unless ``save=False``. A run
that raises is recorded as failed (:meth:`RunRecord.failed`) and the error is raised again.
When the store cannot be written the run is kept in a pending file
(:meth:`ResultsStore.save_or_keep`) and ``saved_to`` says where.
"""

from __future__ import annotations

import time
import traceback
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from research_lib.engine.runner import EngineOptions, execute, prepare, run_settings
from research_lib.errors import ConfigError
from research_lib.model.defaults import DEFAULT_BALANCE, DEFAULT_SEED
from research_lib.model.execution import Costs, Execution, execution_of
from research_lib.model.run import BacktestResult, RunRecord
from research_lib.store import ResultsStore

if TYPE_CHECKING:  # pragma: no cover
    from research_lib.data.instruments import InstrumentSpec
    from research_lib.engine.run_config import RunConfig

__all__ = ["failure_record", "record_failure", "run_backtest", "run_from_config", "store_of"]


def run_backtest(
    strategy: str = "sma_crossover",
    params: dict[str, Any] | None = None,
    *,
    config_path: str | None = None,
    data: str | pd.DataFrame = "mock",
    symbol: str | None = None,
    start: Any = None,
    end: Any = None,
    starting_balance: float = DEFAULT_BALANCE,
    catalog: Any = None,
    seed: int = DEFAULT_SEED,
    fill_timing: str | None = None,
    costs: Costs | dict[str, Any] | None = None,
    fill_volume: str | None = None,
    execution: Execution | dict[str, Any] | None = None,
    periods_per_year: float | None = None,
    instrument: InstrumentSpec | None = None,
    bar_spec: str | None = None,
    save: bool = True,
    results: Any = None,
    source: str = "python",
    tags: list[str] | tuple[str, ...] = (),
    sweep_id: str | None = None,
    study_id: str | None = None,
    notebook_path: str | None = None,
    verbose: bool = False,
    options: EngineOptions = EngineOptions(),
) -> BacktestResult:
    """Run ``strategy`` (a registered name or ``module:Class`` with ``config_path``).

    ``params`` are the strategy's config values (``instrument_id`` and ``bar_type`` come from
    the data). Saves the run to the results store (``results``: a ``ResultsStore``, a path or
    None for the default) unless ``save=False``; a run that raises is recorded as failed and
    the error is raised again. ``options`` change how the engine runs, not what it computes.

    How orders fill (:mod:`research_lib.model.execution`): ``fill_timing`` ``"close"``
    (default) or ``"next_open"``; ``costs`` such as ``{"commission_rate": 0.0005,
    "slippage_ticks": 1}``; ``fill_volume`` ``"unlimited"`` (default) or ``"bar"``; or all of
    them as one ``execution``. ``periods_per_year`` overrides the annualisation read from the
    data's calendar. ``bar_spec`` chooses the catalog bars of a symbol that has several
    (``"5-MINUTE-LAST"``); ``instrument`` and ``bar_spec`` describe a DataFrame's bars
    (defaults: an equity with 2 price decimals; the bars' spacing). ``start``/``end`` are
    read by :func:`research_lib.model.dates.parse_when` (a bare end date is the whole day).
    """
    started = time.perf_counter()
    problem: ConfigError | None = None
    try:
        chosen = execution_of(
            execution, fill_timing=fill_timing, fill_volume=fill_volume, costs=costs
        )
    except ConfigError as exc:  # raised below, where the failed run is recorded
        chosen, problem = None, exc
    record = RunRecord(
        id=str(uuid.uuid4()),
        source=source,
        tags=tuple(tags),
        sweep_id=sweep_id,
        study_id=study_id,
        notebook_path=notebook_path,
        strategy=strategy,
        config=dict(params or {}),
        settings=run_settings(
            data, symbol, start, end, starting_balance, seed, catalog, chosen, periods_per_year,
            instrument, bar_spec,
        ),
    )  # fmt: skip
    try:
        if problem is not None:
            raise problem
        setup = prepare(
            strategy, record.config or {}, config_path=config_path, data=data, symbol=symbol,
            start=start, end=end, catalog=catalog, seed=seed, instrument=instrument,
            bar_spec=bar_spec,
        )  # fmt: skip
        record = setup.describe(record)
        result = execute(
            setup, record, float(starting_balance), started=started, verbose=verbose,
            options=options, execution=chosen, periods_per_year=periods_per_year,
        )  # fmt: skip
    except Exception as exc:
        if save:
            failed = failure_record(record, exc, time.perf_counter() - started)
            record_failure(results, failed)
        raise
    if not save:
        return result
    return replace(result, saved_to=store_of(results).save_or_keep(result))


def run_from_config(run_config: RunConfig, **overrides: Any) -> BacktestResult:
    """Run a YAML run config (:meth:`RunConfig.arguments` says how ``overrides`` apply)."""
    return run_backtest(**run_config.arguments(**overrides))


def failure_record(record: RunRecord, exc: BaseException, duration: float) -> RunRecord:
    """The failed record of the run ``record`` describes, which raised ``exc``.

    Call it while handling ``exc``: the traceback is the one being handled.
    """
    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    failed = RunRecord.failed(
        error,
        traceback.format_exc(),
        id=record.id,
        strategy=record.strategy,
        strategy_path=record.strategy_path,
        config_path=record.config_path,
        config=record.config,
        settings=record.settings,
        source=record.source,
        tags=record.tags,
        sweep_id=record.sweep_id,
        notebook_path=record.notebook_path,
        duration_seconds=duration,
    )
    return replace(failed, study_id=record.study_id)


def record_failure(results: Any, record: RunRecord) -> str:
    """Store a failed run, or keep it pending; returns where it went."""
    return store_of(results).save_failure_or_keep(record)


def store_of(results: Any) -> ResultsStore:
    """``results`` as a :class:`ResultsStore` (a store, a path, or None for the default)."""
    return results if isinstance(results, ResultsStore) else ResultsStore(results)
