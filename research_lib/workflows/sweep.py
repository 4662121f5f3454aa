"""Parameter sweeps: one backtest per point of a grid, in parallel processes, one sweep id.

``grid`` maps parameter names to values (lists or ranges); the points are their cartesian
product. Each point is first checked by the strategy's config class
(:func:`research_lib.strategies.registry.build_config`), so invalid points (``fast_period >=
slow_period``) are reported and skipped up front. With ``workers=N`` the valid points are
shared by N processes: this one and N - 1 started with the ``spawn`` context (one engine per
process at a time: Nautilus must not run two engines at once in one process). Each process
takes the next point as soon as it is free, so this one works while the others start up.
Every run is saved to the results store with the sweep's ``sweep_id`` and source ``sweep``; a
failed point is recorded as failed and the others carry on. ``via="papermill"`` executes
``notebooks/03_parameterised_backtest.ipynb`` per point.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd

from research_lib.engine.run_config import RunConfig, load_run_config
from research_lib.engine.runner import settings_from
from research_lib.errors import ConfigError, did_you_mean
from research_lib.model.dates import when_text
from research_lib.model.defaults import DEFAULT_SEED, DEFAULT_TRADE_SIZE
from research_lib.model.metrics import COMPARE_METRICS, METRIC_ALIASES
from research_lib.model.run import RunRecord
from research_lib.settings import catalog_root, notebooks_dir
from research_lib.store import ResultsStore
from research_lib.strategies.registry import build_config, config_class, find_by_path, resolve_paths
from research_lib.workflows.grid import Point, expand_grid, grid_lists, parse_grid
from research_lib.workflows.notebooks import PARAMETERISED, notebook_path, run_notebook
from research_lib.workflows.parallel import Outcome, run_all
from research_lib.workflows.record import record_failure, run_from_config, store_of

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
# Placeholder wiring for validating points: the instrument does not change a config's rules.
PLACEHOLDER_INSTRUMENT = "AAPL.SIM"
PLACEHOLDER_BAR_TYPE = f"{PLACEHOLDER_INSTRUMENT}-1-MINUTE-LAST-EXTERNAL"
# Config values that say which data a run used, not which parameters: not sweep columns.
WIRING = ("instrument_id", "bar_type")


# -- configs and plans --------------------------------------------------------------------


def as_run_config(config: Any) -> RunConfig:
    """A :class:`~research_lib.engine.run_config.RunConfig` from a YAML path, a ``RunConfig``, or a
    strategy (registered name or ``module:Class``) with its default parameters."""
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, Path) or (
        isinstance(config, str) and (config.endswith((".yaml", ".yml")) or Path(config).is_file())
    ):
        return load_run_config(config)
    if not isinstance(config, str):
        raise ConfigError(
            f"config must be a YAML path, a RunConfig or a strategy name, was {config!r}"
        )
    strategy_path, config_path = resolve_paths(config)
    info = find_by_path(strategy_path)
    return RunConfig(
        strategy_path=strategy_path,
        config_path=config_path,
        strategy_name=info.name if info else strategy_path,
        params={},
    )


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: the run config, the grid, the valid points and the skipped ones."""

    run_config: RunConfig
    grid: dict[str, list[Any]]
    points: list[Point]
    skipped: list[tuple[Point, str]]

    @property
    def size(self) -> int:
        """Points in the grid, valid or not."""
        return len(self.points) + len(self.skipped)


def plan_sweep(config: Any, grid: dict[str, Any]) -> SweepPlan:
    """Check every point of ``grid`` with the strategy's config class.

    Raises :class:`ConfigError` for a grid parameter the strategy does not have, or when no
    point is valid; invalid points are otherwise listed in ``skipped`` with the reason.
    """
    run_config = as_run_config(config)
    lists = grid_lists(grid)
    known = [f.name for f in msgspec.structs.fields(config_class(run_config.config_path))]
    for name in lists:
        if name not in known or name in WIRING:
            choices = [k for k in known if k not in WIRING]
            raise ConfigError(
                f"{run_config.strategy_name} has no parameter '{name}';"
                f"{did_you_mean(name, choices)} see research-lib strategy show "
                f"{run_config.strategy_name}"
            )
    points, skipped = [], []
    for point in expand_grid(lists):
        values = {"trade_size": DEFAULT_TRADE_SIZE, **run_config.params, **point}
        values.update(instrument_id=PLACEHOLDER_INSTRUMENT, bar_type=PLACEHOLDER_BAR_TYPE)
        try:
            build_config(run_config.config_path, values)
        except ConfigError as exc:
            skipped.append((point, str(exc)))
            continue
        points.append(point)
    if not points:
        raise ConfigError(
            f"none of the {len(skipped)} grid points is valid; {_label(skipped[0][0])}: "
            f"{skipped[0][1]}"
        )
    return SweepPlan(run_config, lists, points, skipped)


# -- results ------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """A finished sweep.

    ``runs`` is the sweep's table from the store (one row per run, the grid parameters as
    columns); ``skipped`` the invalid points and why; ``failed`` the points whose run failed
    and the error.
    """

    sweep_id: str
    runs: pd.DataFrame
    grid: dict[str, list[Any]]
    skipped: list[tuple[Point, str]] = field(default_factory=list)
    failed: list[tuple[Point, str]] = field(default_factory=list)
    results: Path | None = None
    duration_seconds: float = 0.0

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


# -- running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    """One point to run, with everything a worker process needs (picklable)."""

    index: int
    point: Point
    via: str
    run_config: RunConfig
    options: dict[str, Any]
    notebook: str | None = None
    output: str | None = None


def _run_point(task: _Task) -> Outcome:
    """Run one point (in a worker process): (index, run ids, error or None)."""
    try:
        if task.via == "runner":
            result = run_from_config(task.run_config, params=task.point, **task.options)
            return task.index, [result.run_id], None
        run = run_notebook(task.notebook, task.options, task.output)
        return task.index, run.run_ids, None
    except Exception as exc:
        return task.index, list(getattr(exc, "run_ids", [])), f"{type(exc).__name__}: {exc}"


def sweep(
    config: Any,
    grid: dict[str, Any],
    symbol: str | None = None,
    start: Any = None,
    end: Any = None,
    workers: int = 1,
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
) -> SweepResult:
    """Run ``config`` (YAML path, ``RunConfig`` or strategy name) at every valid grid point.

    Arguments left None come from the config's ``backtest:`` section (``bar_spec``: else the
    spec of the config's ``bar_type``); ``start``/``end`` are checked up front
    (:func:`research_lib.model.dates.when_text`). ``workers`` is the number of processes
    running points: this one plus ``workers - 1`` spawned ones;
    ``via="papermill"`` executes the parameterised notebook per point (output notebooks in
    ``output_dir``, default ``notebooks/output/sweep-<id>/``). Returns the
    :class:`SweepResult`. ``execution`` holds ``run_backtest`` keywords for how every point's
    orders fill (``fill_timing``, ``fill_volume``, ``costs``, ``periods_per_year``) on top of
    the config's; the papermill path takes them from the config file only.
    """
    execution = {k: v for k, v in (execution or {}).items() if v not in (None, {})}
    if via not in VIAS:
        raise ConfigError(f"via must be one of {', '.join(VIAS)}, was {via!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a whole number of at least 1, was {workers!r}")
    started = time.perf_counter()
    plan = plan_sweep(config, grid)
    run_config = plan.run_config
    store = store_of(results)
    store_path = store.path.resolve()
    sweep_id = str(uuid.uuid4())
    backtest = run_config.backtest
    data = data if data is not None else backtest.data
    options: dict[str, Any] = {
        "symbol": symbol or backtest.symbol,
        "bar_spec": bar_spec,
        "start": when_text(start),
        "end": when_text(end),
        "data": data,
        "results": str(store_path),
        "source": "sweep",
        "sweep_id": sweep_id,
        "tags": list(tags),
        "seed": seed,
    }
    if isinstance(data, str) and data == "catalog":
        options["catalog"] = str(catalog_root(catalog).resolve())
    tasks = []
    if via == "runner":
        options.update(execution)
        tasks = [_Task(i, p, via, run_config, options) for i, p in enumerate(plan.points)]
    else:
        if not isinstance(data, str):
            raise ConfigError("via='papermill' needs data='mock' or 'catalog', not a DataFrame")
        if execution:
            raise ConfigError(
                f"via='papermill' takes fills and costs from the config file: set "
                f"{', '.join(sorted(execution))} in its backtest: and costs: sections"
            )
        notebook = str(notebook_path(PARAMETERISED))
        folder = Path(output_dir or notebooks_dir() / "output" / f"sweep-{sweep_id[:8]}")
        folder.mkdir(parents=True, exist_ok=True)
        base = {
            **options,
            "strategy": run_config.strategy_path,
            "config": run_config.source_file,
            "start": options["start"] or backtest.start,
            "end": options["end"] or backtest.end,
        }
        for i, point in enumerate(plan.points):
            params = {**run_config.params, **point}
            output = folder / f"{Path(notebook).stem}-{sweep_id[:8]}-{i:03d}.ipynb"
            tasks.append(
                _Task(i, point, via, run_config, {**base, "params": params}, notebook, str(output))
            )
    outcomes = _execute(tasks, workers, progress, sweep_id)
    failed = [(tasks[i].point, error) for i, _, error in sorted(outcomes) if error is not None]
    return SweepResult(
        sweep_id=sweep_id,
        runs=sweep_table(store, sweep_id, list(plan.grid)),
        grid=plan.grid,
        skipped=plan.skipped,
        failed=failed,
        results=store_path,
        duration_seconds=time.perf_counter() - started,
    )


def _execute(tasks: list[_Task], workers: int, progress: bool, sweep_id: str) -> list[Outcome]:
    """Run the tasks in this process and ``workers - 1`` spawned ones (see
    :mod:`research_lib.workflows.parallel`), with a progress bar."""
    return run_all(
        tasks, workers, _run_point, _crashed, progress=progress, desc=f"sweep {sweep_id[:8]}"
    )


def _crashed(task: _Task, exc: BaseException) -> Outcome:
    """The outcome of a point whose worker process died: recorded as a failed run."""
    return task.index, [_record_crash(task, exc)], f"{type(exc).__name__}: {exc}"


def _record_crash(task: _Task, exc: BaseException) -> str:
    """Record a point whose worker process died as a failed run; returns its id."""
    opts = task.options
    record = RunRecord.failed(
        f"worker process died: {type(exc).__name__}: {exc}",
        strategy=task.run_config.strategy_name,
        strategy_path=task.run_config.strategy_path,
        config_path=task.run_config.config_path,
        config={**task.run_config.params, **task.point},
        settings=settings_from(opts),
        source=opts.get("source", "sweep"),
        tags=opts.get("tags", []),
        sweep_id=opts.get("sweep_id"),
        notebook_path=task.output,
    )
    record_failure(opts["results"], record)
    return record.id


def _label(point: Point) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())
