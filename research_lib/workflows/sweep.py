"""Parameter sweeps: one backtest per point of a grid, on Dask workers, one sweep id.

``grid`` maps parameter names to values; invalid points are skipped up front
(:func:`research_lib.workflows.grid.plan_sweep`). The valid points run through
:func:`research_lib.workflows.executor.run_tasks` (here, on a local Dask cluster or on an
existing one), on bars loaded once here and sent once to each worker. Workers return their
runs (record, trades, equity); this process saves them as they arrive, with the sweep's
``sweep_id`` and source ``sweep``. A failed point is recorded as failed; the others go on.
``via="papermill"`` executes the parameterised notebook per point into a worker's own store.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from research_lib.engine.market import MarketData, load_market_data
from research_lib.engine.run_config import RunConfig
from research_lib.engine.runner import settings_from
from research_lib.errors import ConfigError, did_you_mean
from research_lib.files import write_atomic
from research_lib.model.dates import when_text
from research_lib.model.defaults import DEFAULT_SEED
from research_lib.model.metrics import COMPARE_METRICS, METRIC_ALIASES
from research_lib.model.run import BacktestResult, RunRecord
from research_lib.settings import catalog_root, notebooks_dir
from research_lib.store import NotSavedWarning, ResultsStore
from research_lib.store.records import Bundle, bundle_of, failure_bundle
from research_lib.store.schema import LIST_COLUMNS
from research_lib.workflows.grid import (
    WIRING,
    Point,
    SweepPlan,
    as_run_config,
    expand_grid,
    parse_grid,
    plan_sweep,
)
from research_lib.workflows.notebooks import PARAMETERISED, notebook_path, run_notebook
from research_lib.workflows.record import run_backtest, store_of

__all__ = [
    "SweepPlan",
    "SweepResult",
    "as_run_config",
    "ensure_demo_sweep",
    "expand_grid",
    "latest_sweep_id",
    "parse_grid",
    "plan_sweep",
    "rank_column",
    "sweep",
    "sweep_ids",
    "sweep_table",
]

VIAS = ("runner", "papermill")
# Imported once by each worker as it joins, not by each task: Nautilus and the runner.
WORKER_PRELOAD = ("research_lib.engine.runner", "research_lib.workflows.record")
# A local worker is restarted after this long (Nautilus grows memory per engine, #3721).
LIFETIME = "30 minutes"


# -- results ------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """A finished sweep.

    ``runs`` is the sweep's table from the store (one row per run, the grid parameters as
    columns); ``skipped`` the invalid points and why; ``failed`` the points whose run failed
    and the error; ``finished`` the points that completed and ``kept`` the pending files of
    runs that could not be written to the store (they join it on its next write).
    """

    sweep_id: str
    runs: pd.DataFrame
    grid: dict[str, list[Any]]
    skipped: list[tuple[Point, str]] = field(default_factory=list)
    failed: list[tuple[Point, str]] = field(default_factory=list)
    results: Path | None = None
    duration_seconds: float = 0.0
    finished: int | None = None
    kept: list[str] = field(default_factory=list)

    @property
    def completed(self) -> pd.DataFrame:
        """The runs that completed."""
        return self.runs[self.runs["status"] == "completed"].reset_index(drop=True)

    @classmethod
    def load(cls, store: ResultsStore, sweep_id: str) -> SweepResult:
        """A sweep read back from the store; its grid is the parameters that vary."""
        runs, params = _sweep_frame(store, sweep_id, None)
        if runs.empty:
            raise ConfigError(f"no runs with sweep id {sweep_id} in {store.path}")
        grid = {p: sorted(runs[p].dropna().unique().tolist()) for p in params}
        bad = runs[runs["status"] == "failed"]
        failed = [({p: row[p] for p in params}, row["error"]) for _, row in bad.iterrows()]
        return cls(sweep_id, runs, grid, failed=failed, results=store.path)

    def ranked(self, by: str = "sharpe", descending: bool = True) -> pd.DataFrame:
        """Completed runs best first by ``by`` (a metric column or a grid parameter), ranked."""
        column = rank_column(by, self.grid)
        table = self.completed.sort_values(
            column, ascending=not descending, na_position="last", kind="stable"
        )
        table = table.reset_index(drop=True)
        table.insert(0, "rank", range(1, len(table) + 1))
        return table


def rank_column(by: str, params: Iterable[str] = ()) -> str:
    """The column ``by`` names for ranking a sweep: a metric (``return`` and ``trades`` are
    aliases), the run time, or a grid parameter; raises :class:`ConfigError` otherwise."""
    column = METRIC_ALIASES.get(by, by)
    choices = [*COMPARE_METRICS, "duration_seconds", *params]
    if column not in choices:
        raise ConfigError(
            f"cannot rank by '{by}';{did_you_mean(by, choices)} use one of {', '.join(choices)}"
        )
    return column


def sweep_table(
    store: ResultsStore, sweep_id: str, params: Iterable[str] | None = None
) -> pd.DataFrame:
    """The runs of one sweep, ordered by their parameters, which are added as columns.

    ``params`` are the columns to add (default: the config values that differ between runs).
    """
    return _sweep_frame(store, sweep_id, params)[0]


def _sweep_frame(
    store: ResultsStore, sweep_id: str, params: Iterable[str] | None
) -> tuple[pd.DataFrame, list[str]]:
    """The sweep's runs (one query: the configs come with the listing) and its parameters."""
    runs = store.list(sweep_id=sweep_id, order_by="created_at", descending=False, limit=None)
    configs = [_config(text) for text in runs["config"]]
    params = varying(configs) if params is None else list(params)
    values = pd.DataFrame([{k: c.get(k) for k in params} for c in configs], columns=params)
    at = runs.columns.get_loc("status") + 1
    table = pd.concat([runs.iloc[:, :at], values.set_index(runs.index), runs.iloc[:, at:]], axis=1)
    if params and len(table):
        table = table.sort_values(params, kind="stable", na_position="last")
    return table.reset_index(drop=True), params


def varying(configs: list[dict[str, Any]]) -> list[str]:
    """The config values that differ between runs (in order of appearance; no wiring)."""
    keys = list(dict.fromkeys(k for c in configs for k in c if k not in WIRING))
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def sweep_ids(store: ResultsStore) -> list[str]:
    """The store's sweep ids, newest first."""
    return [str(s) for s in store.sweeps()["sweep_id"]]


def latest_sweep_id(store: ResultsStore, min_params: int = 1) -> str | None:
    """The newest sweep varying at least ``min_params`` parameters, or None (one query)."""
    for sweep_id, configs in store.sweeps()[["sweep_id", "configs"]].itertuples(index=False):
        if min_params <= 1 or len(varying(configs)) >= min_params:
            return str(sweep_id)
    return None


def ensure_demo_sweep(results: ResultsStore | str | Path | None = None) -> str:
    """The newest sweep in the store that varies two parameters (so it has a heatmap), after
    running a small one if there is none: SMA crossover, fast 5/10 x slow 20/40, on three days
    of mock bars (a few seconds)."""
    store = store_of(results)
    found = latest_sweep_id(store, min_params=2)
    if found is not None:
        return found
    done = sweep(
        "sma_crossover",
        {"fast_period": [5, 10], "slow_period": [20, 40]},
        start="2024-01-02",
        end="2024-01-04",
        data="mock",
        results=store,
        progress=False,
        tags=["demo"],
    )
    return done.sweep_id


def _config(value: Any) -> dict[str, Any]:
    """A listed run's config (JSON text, or None when none was stored) as a dict."""
    return (json.loads(value) if isinstance(value, str) else value) or {}


# -- running (the workers' side, then the client's) ----------------------------------------


@dataclass(frozen=True)
class _Task:
    """One point to run, with everything a worker needs (picklable)."""

    index: int
    point: Point
    via: str
    run_config: RunConfig
    options: dict[str, Any]
    notebook: str | None = None  # papermill: the notebook, and where its output goes
    output: str | None = None


@dataclass
class _Outcome:
    """A point's runs (for the client to save), its error, its executed notebook."""

    index: int
    bundles: list[Bundle]
    error: str | None = None
    notebook: bytes | None = None


class _Kept(ResultsStore):
    """Keeps runs for the client; runs on bars sent along get their asked-for settings back."""

    def __init__(self, market: MarketData | None, asked: dict[str, Any]) -> None:
        super().__init__(os.devnull)
        self.market, self.bundles = market, []
        self.asked = {"data": asked.get("data"), "catalog": asked.get("catalog")}
        self.bar_spec = asked.get("bar_spec")

    def save_or_keep(self, result: BacktestResult) -> str:
        if self.market is not None:
            settings = {k: v for k, v in result.settings.items() if k != "instrument"}
            result = result.replace(  # the instrument last, where a run on its own has it
                settings={**settings, **self.asked, "instrument": result.settings["instrument"]},
                data_source=self.market.source,
                warnings=(*self.market.warnings, *result.warnings),
            )
        self.bundles.append(bundle_of(result))
        return "client"

    def save_failure_or_keep(self, record: RunRecord) -> str:
        if self.market is not None:
            settings = {k: v for k, v in record.settings.items() if k != "instrument"}
            source = self.market.source if record.data_source == "dataframe" else None
            settings = {**settings, **self.asked, "bar_spec": self.bar_spec}
            record = replace(record, settings=settings, data_source=source or record.data_source)
        self.bundles.append(failure_bundle(record))
        return "client"


def _run_point(task: _Task, market: MarketData | None) -> _Outcome:
    """Run one point (on a worker, or here with one worker); nothing is written."""
    if task.via == "papermill":
        return _run_notebook_point(task)
    arguments = task.run_config.arguments(params=task.point, **task.options)
    asked = {k: arguments.get(k) for k in ("data", "catalog", "bar_spec")}
    if market is not None:  # the bars sent once to this worker
        arguments.pop("catalog", None)
        arguments.update(data=market.bars, instrument=market.spec, bar_spec=market.bar_spec)
    kept = _Kept(market, asked)
    try:
        run_backtest(**arguments, results=kept)
    except Exception as exc:  # recorded failed by run_backtest, or here if it could not be
        why = f"{type(exc).__name__}: {exc}"
        return _Outcome(task.index, kept.bundles, why) if kept.bundles else _lost_point(task, why)
    return _Outcome(task.index, kept.bundles)


def _run_notebook_point(task: _Task) -> _Outcome:
    """Execute the notebook of one point into a store of its own, returned with it."""
    with tempfile.TemporaryDirectory(prefix="research-lib-") as folder:
        results, output = Path(folder) / "results.duckdb", Path(folder) / "out.ipynb"
        error = None
        try:
            run_notebook(
                task.notebook, {**task.options, "results": str(results)}, output,
                record_as=task.output,
            )  # fmt: skip
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        notebook = output.read_bytes() if output.exists() else None
        return _Outcome(task.index, ResultsStore(results).bundles(), error, notebook)


def _lost_point(task: _Task, reason: str) -> _Outcome:
    """A point no worker could finish, as a failed run (recorded by the client)."""
    opts, config = task.options, task.run_config
    record = RunRecord.failed(
        reason, strategy=config.strategy_name, strategy_path=config.strategy_path,
        config_path=config.config_path, config={**config.params, **task.point},
        settings=settings_from(opts), source=opts.get("source", "sweep"),
        tags=opts.get("tags", []), sweep_id=opts.get("sweep_id"), notebook_path=task.output,
    )  # fmt: skip
    return _Outcome(task.index, [failure_bundle(record)], reason)


@dataclass
class _Saver:
    """The client's side: saves every run as it arrives (the only writer of the store)."""

    store: ResultsStore
    saved: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # pending files: the store was not writable

    def __call__(self, task: _Task, outcome: _Outcome) -> None:
        with warnings.catch_warnings(record=True):  # one summary instead of a warning per run
            warnings.simplefilter("always", NotSavedWarning)
            for bundle in outcome.bundles:
                where = self.store.save_bundle_or_keep(bundle)
                (self.saved if where == str(self.store.path) else self.kept).append(where)
        if outcome.notebook is not None and task.output:
            write_atomic(task.output, outcome.notebook)


def _bars_of(tasks: list[_Task], ship: bool) -> MarketData | None:
    """The bars every runner point uses, loaded once here to be sent to the workers."""
    if not ship or not tasks or tasks[0].via != "runner":
        return None
    arguments = tasks[0].run_config.arguments(**tasks[0].options)
    if not isinstance(arguments.get("data"), str):
        return None  # a DataFrame is sent as it is
    return load_market_data(
        arguments["data"], arguments.get("symbol"), arguments.get("start"),
        arguments.get("end"), arguments.get("catalog"), arguments.get("seed", DEFAULT_SEED),
        bar_spec=arguments.get("bar_spec"),
    )  # fmt: skip


def sweep(
    config: Any,
    grid: dict[str, Any],
    symbol: str | None = None,
    start: Any = None,
    end: Any = None,
    workers: int | None = 1,
    via: str = "runner",
    data: str | pd.DataFrame | None = None,
    catalog: Any = None,
    results: Any = None,
    progress: bool = True,
    *,
    seed: int = DEFAULT_SEED,
    tags: Iterable[str] = (),
    output_dir: str | Path | None = None,
    execution: dict[str, Any] | None = None,
    bar_spec: str | None = None,
    scheduler: str | None = None,
    ship_bars: bool = True,
    worker_lifetime: str | None = LIFETIME,
    worker_memory: str | None = None,
    status: Callable[[str], None] = lambda text: None,
) -> SweepResult:
    """Run ``config`` (YAML path, ``RunConfig`` or strategy name) at every valid grid point.

    Arguments left None come from the config's ``backtest:`` section. ``workers=1`` runs the
    points here; ``workers=N`` (None: one per core) on a local Dask cluster of N processes;
    ``scheduler="tcp://host:8786"`` (or ``$RESEARCH_LIB_SCHEDULER``) on that cluster. This
    process saves every run (``SweepResult.kept``: pending files, if the store could not be
    written). ``ship_bars=False`` lets workers read the catalog themselves (same path there).
    ``worker_lifetime``/``worker_memory`` restart a local worker after that long or past that
    memory. ``via="papermill"`` executes the parameterised notebook per point (into
    ``output_dir``, default ``notebooks/output/sweep-<id>/``). ``execution``: ``run_backtest``
    fill and cost keywords over the config's (papermill: from the config file only).
    ``status`` gets one-line notices.
    """
    from research_lib.workflows import executor  # heavy: Dask distributed

    execution = {k: v for k, v in (execution or {}).items() if v not in (None, {})}
    if via not in VIAS:
        raise ConfigError(f"via must be one of {', '.join(VIAS)}, was {via!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a whole number of at least 1, was {workers!r}")
    started = time.perf_counter()
    plan = plan_sweep(config, grid)
    store = store_of(results)
    sweep_id = str(uuid.uuid4())
    options = _options(plan, symbol, bar_spec, start, end, data, catalog, tags, seed)
    settings_from({**options, **execution})  # seed, balance...: one line before any point runs
    tasks = _tasks(plan, via, sweep_id, options, execution, output_dir)
    address = executor.scheduler_address(scheduler, plan.run_config.backtest.scheduler)
    saver = _Saver(store)
    try:
        outcomes = executor.run_tasks(
            _run_point,
            tasks,
            workers=workers,
            scheduler=address,
            shared=_bars_of(tasks, ship_bars),
            on_result=saver,
            on_lost=_lost_point,
            failed=lambda outcome: outcome.error is not None,
            progress=progress,
            desc=f"sweep {sweep_id[:8]}",
            preload=WORKER_PRELOAD,
            lifetime=worker_lifetime,
            memory_limit=worker_memory,
            status=status,
        )
    except KeyboardInterrupt:
        status(
            f"interrupted: {len(saver.saved)} runs of sweep {sweep_id[:8]} saved to "
            f"{store.path}, {len(saver.kept)} kept pending; the other points were cancelled"
        )
        raise
    failed = [(tasks[o.index].point, o.error) for o in sorted(outcomes, key=lambda o: o.index)]
    failed = [(point, error) for point, error in failed if error is not None]
    return SweepResult(
        sweep_id=sweep_id,
        runs=_saved_runs(store, sweep_id, list(plan.grid), bool(saver.saved)),
        grid=plan.grid,
        skipped=plan.skipped,
        failed=failed,
        results=store.path.resolve(),
        duration_seconds=time.perf_counter() - started,
        finished=len(outcomes) - len(failed),
        kept=saver.kept,
    )


def _saved_runs(store: ResultsStore, sweep_id: str, params: list[str], any_saved: bool):
    """The sweep's table, empty (with its columns) when no run reached the store."""
    at = LIST_COLUMNS.index("status") + 1
    if any_saved:
        return sweep_table(store, sweep_id, params)
    return pd.DataFrame(columns=[*LIST_COLUMNS[:at], *params, *LIST_COLUMNS[at:]])


def _options(
    plan: SweepPlan, symbol: Any, bar_spec: Any, start: Any, end: Any, data: Any,
    catalog: Any, tags: Iterable[str], seed: int,
) -> dict[str, Any]:  # fmt: skip
    """The run options every point shares, from :func:`sweep`'s arguments."""
    backtest = plan.run_config.backtest
    data = data if data is not None else backtest.data
    options: dict[str, Any] = {
        "symbol": symbol or backtest.symbol,
        "bar_spec": bar_spec,
        "start": when_text(start),
        "end": when_text(end),
        "data": data,
        "source": "sweep",
        "tags": list(tags),
        "seed": seed,
    }
    if isinstance(data, str) and data == "catalog":
        options["catalog"] = str(catalog_root(catalog).resolve())
    return options


def _tasks(
    plan: SweepPlan,
    via: str,
    sweep_id: str,
    options: dict[str, Any],
    execution: dict[str, Any],
    output_dir: str | Path | None,
) -> list[_Task]:
    """One task per valid point."""
    run_config, backtest = plan.run_config, plan.run_config.backtest
    options["sweep_id"] = sweep_id
    if via == "runner":
        options.update(execution)
        return [_Task(i, p, via, run_config, options) for i, p in enumerate(plan.points)]
    data = options["data"]
    if not isinstance(data, str):
        raise ConfigError("via='papermill' needs data='mock' or 'catalog', not a DataFrame")
    if execution:
        raise ConfigError(
            f"via='papermill' takes fills and costs from the config file: set "
            f"{', '.join(sorted(execution))} in its backtest: and costs: sections"
        )
    notebook = str(notebook_path(PARAMETERISED))
    folder = Path(output_dir or notebooks_dir() / "output" / f"sweep-{sweep_id[:8]}").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    base = {
        **options,
        "strategy": run_config.strategy_path,
        "config": run_config.source_file,
        "start": options["start"] or backtest.start,
        "end": options["end"] or backtest.end,
    }
    tasks = []
    for i, point in enumerate(plan.points):
        params = {**run_config.params, **point}
        output = folder / f"{Path(notebook).stem}-{sweep_id[:8]}-{i:03d}.ipynb"
        tasks.append(
            _Task(i, point, via, run_config, {**base, "params": params}, notebook, str(output))
        )
    return tasks
