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
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from research_lib.engine.runner import settings_from
from research_lib.errors import ConfigError, did_you_mean
from research_lib.model.dates import when_text
from research_lib.model.defaults import DEFAULT_SEED
from research_lib.model.metrics import COMPARE_METRICS, LOWER_IS_BETTER, METRIC_ALIASES
from research_lib.settings import catalog_root, notebooks_dir
from research_lib.store import ResultsStore
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
from research_lib.workflows.notebooks import PARAMETERISED, notebook_path
from research_lib.workflows.points import (
    WORKER_PRELOAD,
    PointTask,
    Saver,
    bars_of,
    lost_point,
    run_point,
)
from research_lib.workflows.record import store_of

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
    screen_seconds: float | None = None  # a screened sweep: time on the vector engine
    confirm_seconds: float | None = None  # and confirming its best points in Nautilus
    note: str | None = None  # why a sweep asked to screen ran event-driven

    @property
    def screened(self) -> bool:
        """Whether the grid was screened on the vector engine (its points are vector runs)."""
        return "engine" in self.runs and bool((self.runs["engine"] == "vector").any())

    @property
    def completed(self) -> pd.DataFrame:
        """The runs that completed: of a screened sweep, its screened points."""
        done = self.runs[self.runs["status"] == "completed"]
        if self.screened:
            done = done[done["engine"] == "vector"]
        return done.reset_index(drop=True)

    @property
    def confirmations(self) -> pd.DataFrame:
        """A screened sweep's Nautilus runs of its best points, one row each: the grid
        values, ``id`` (the Nautilus run), ``twin_id`` (the screened run), ``agrees`` and
        ``detail`` (the first difference, or that they agree), the metrics of both engines
        (``sharpe`` and ``vector_sharpe``...) and ``status``/``error``."""
        columns = ["id", "twin_id", "status", "agrees", "detail", "error", *self.grid]
        if not self.screened or "twin_id" not in self.runs:
            return pd.DataFrame(columns=columns)
        confirming = self.runs[self.runs["twin_id"].notna()].copy()
        found = [_config(text) for text in confirming.get("agreement", [None] * len(confirming))]
        confirming["agrees"] = [f.get("agrees") if f else None for f in found]
        confirming["detail"] = [f.get("detail") if f else None for f in found]
        metrics = [c for c in COMPARE_METRICS if c in self.runs]
        twins = self.runs.set_index("id")[metrics].add_prefix("vector_")
        joined = confirming.join(twins, on="twin_id")
        return joined[[*columns, *metrics, *twins.columns]].reset_index(drop=True)

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

    def ranked(self, by: str = "sharpe", descending: bool | None = None) -> pd.DataFrame:
        """Completed runs best first by ``by`` (a metric column or a grid parameter), ranked:
        highest first, lowest for a metric where lower is better (``volatility``,
        ``max_drawdown_days``), unless ``descending`` says."""
        column = rank_column(by, self.grid)
        if descending is None:
            descending = column not in LOWER_IS_BETTER
        table = self.completed.sort_values(
            column, ascending=not descending, na_position="last", kind="stable"
        )
        table = table.reset_index(drop=True)
        table.insert(0, "rank", range(1, len(table) + 1))
        if self.screened:  # which points Nautilus confirmed, and whether it agrees
            confirmations = self.confirmations.set_index("twin_id")
            table["confirmed_by"] = table["id"].map(confirmations["id"])
            table["agrees"] = table["id"].map(confirmations["agrees"])
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
    runs = store.list(
        sweep_id=sweep_id, order_by="created_at", descending=False, limit=None,
        extra_columns=("agreement",),
    )  # fmt: skip
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


def latest_sweep_id(
    store: ResultsStore, min_params: int = 1, screened: bool | None = False
) -> str | None:
    """The newest sweep varying at least ``min_params`` parameters, or None (one query);
    ``screened``: only ordinary sweeps (False), only screened ones (True), either (None)."""
    sweeps = store.sweeps()
    for sweep_id, configs, count in sweeps[["sweep_id", "configs", "screened"]].itertuples(
        index=False
    ):
        if screened is not None and bool(count) != screened:
            continue
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
    options = run_options(plan, symbol, bar_spec, start, end, data, catalog, tags, seed)
    settings_from({**options, **execution})  # seed, balance...: one line before any point runs
    tasks = _tasks(plan, via, sweep_id, options, execution, output_dir)
    address = executor.scheduler_address(scheduler, plan.run_config.backtest.scheduler)
    saver = Saver(store)
    try:
        outcomes = executor.run_tasks(
            run_point,
            tasks,
            workers=workers,
            scheduler=address,
            shared=bars_of(tasks, ship_bars),
            on_result=saver,
            on_lost=lost_point,
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


def run_options(
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
) -> list[PointTask]:
    """One task per valid point."""
    run_config, backtest = plan.run_config, plan.run_config.backtest
    options["sweep_id"] = sweep_id
    if via == "runner":
        options.update(execution)
        return [PointTask(i, p, via, run_config, options) for i, p in enumerate(plan.points)]
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
            PointTask(i, point, via, run_config, {**base, "params": params}, notebook, str(output))
        )
    return tasks
