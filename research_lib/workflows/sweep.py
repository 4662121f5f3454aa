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

import contextlib
import itertools
import math
import multiprocessing
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from concurrent import futures
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from research_lib.errors import ConfigError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from research_lib.engine.run_config import RunConfig
    from research_lib.store.results import ResultsStore

__all__ = [
    "SweepPlan",
    "SweepResult",
    "as_run_config",
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
DEFAULT_TRADE_SIZE = 100
# Config values that say which data a run used, not which parameters: not sweep columns.
WIRING = ("instrument_id", "bar_type")

Point = dict[str, Any]
Outcome = tuple[int, list[str], str | None]  # (task index, run ids, error or None)


# -- grids --------------------------------------------------------------------------------


def parse_grid(items: Iterable[str]) -> dict[str, list[Any]]:
    """``["fast_period=5,10,20", "slow_period=30:60:10"]`` -> a grid.

    ``a,b,c`` is a list (values read as YAML scalars: ints, floats, text); ``start:stop`` or
    ``start:stop:step`` is a range with the stop included (ints, or floats if any part is a
    float; step 1 by default).
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name.isidentifier():
            raise ConfigError(f"--grid expects name=a,b,c or name=start:stop:step, got {item!r}")
        if name in grid:
            raise ConfigError(f"--grid {name} is given twice; put all its values in one --grid")
        if not text:
            raise ConfigError(f"--grid {name} has no values, e.g. {name}=5,10,20")
        grid[name] = _range(name, text) if ":" in text else _values(name, text)
    if not grid:
        raise ConfigError("no grid: give at least one --grid name=a,b,c")
    return grid


def _values(name: str, text: str) -> list[Any]:
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ConfigError(f"--grid {name}: empty value in {text!r}")
        try:
            values.append(yaml.safe_load(part))
        except yaml.YAMLError as exc:
            raise ConfigError(f"--grid {name}: cannot read value {part!r}") from exc
    return values


def _range(name: str, text: str) -> list[Any]:
    parts = [part.strip() for part in text.split(":")]
    usage = f"--grid {name}: a range is start:stop or start:stop:step, e.g. 30:60:10; got {text!r}"
    if len(parts) not in (2, 3):
        raise ConfigError(usage)
    numbers = []
    for part in parts:
        value = yaml.safe_load(part) if part else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(usage)
        numbers.append(value)
    start, stop, step = (*numbers, 1) if len(numbers) == 2 else numbers
    if step == 0 or not all(math.isfinite(n) for n in (start, stop, step)):
        raise ConfigError(f"--grid {name}: the step must be a finite non-zero number, got {text!r}")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count < 1:
        order = "start > stop" if step > 0 else "start < stop"
        raise ConfigError(f"--grid {name}: the range {text!r} is empty ({order})")
    if all(isinstance(n, int) for n in (start, stop, step)):
        return [start + i * step for i in range(count)]
    return [round(start + i * step, 10) for i in range(count)]


def _grid_lists(grid: dict[str, Any]) -> dict[str, list[Any]]:
    """A grid with every value list materialised (ranges, tuples; a scalar is one value)."""
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("the grid must be a non-empty dict of parameter -> list of values")
    lists = {}
    for name, values in grid.items():
        values = list(values) if isinstance(values, (list, tuple, range)) else [values]
        if not values:
            raise ConfigError(f"grid parameter {name} has no values")
        lists[str(name)] = values
    return lists


def expand_grid(grid: dict[str, Any]) -> list[Point]:
    """Every point of the grid (the cartesian product), the last parameter varying fastest."""
    lists = _grid_lists(grid)
    return [dict(zip(lists, combo, strict=True)) for combo in itertools.product(*lists.values())]


# -- configs and plans --------------------------------------------------------------------


def as_run_config(config: Any) -> RunConfig:
    """A :class:`~research_lib.engine.run_config.RunConfig` from a YAML path, a ``RunConfig``, or a
    strategy (registered name or ``module:Class``) with its default parameters."""
    from research_lib.engine.run_config import RunConfig, load_run_config
    from research_lib.strategies.registry import find_by_path, resolve_paths

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
    import msgspec

    from research_lib.strategies.registry import build_config, config_class

    run_config = as_run_config(config)
    lists = _grid_lists(grid)
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
    from research_lib.store.results import COMPARE_METRICS, SORT_ALIASES

    column = SORT_ALIASES.get(by, by)
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
    runs = store.list(sweep_id=sweep_id, order_by="created_at", descending=False, limit=None)
    configs = [store.get(rid).config or {} for rid in runs["id"]]
    if params is None:
        keys = list(dict.fromkeys(k for c in configs for k in c if k not in WIRING))
        params = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
    params = list(params)
    values = pd.DataFrame([{k: c.get(k) for k in params} for c in configs], columns=params)
    at = runs.columns.get_loc("status") + 1
    table = pd.concat([runs.iloc[:, :at], values.set_index(runs.index), runs.iloc[:, at:]], axis=1)
    if params and len(table):
        table = table.sort_values(params, kind="stable", na_position="last")
    return table.reset_index(drop=True), params


def sweep_ids(store: ResultsStore) -> list[str]:
    """The store's sweep ids, newest first."""
    runs = store.list(order_by="created_at", limit=None)
    return list(dict.fromkeys(str(s) for s in runs["sweep_id"].dropna()))


def latest_sweep_id(store: ResultsStore, min_params: int = 1) -> str | None:
    """The newest sweep varying at least ``min_params`` parameters, or None."""
    for sweep_id in sweep_ids(store):
        if min_params <= 1 or len(_sweep_frame(store, sweep_id, None)[1]) >= min_params:
            return sweep_id
    return None


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
            result = task.run_config.run(params=task.point, **task.options)
            return task.index, [result.run_id], None
        from research_lib.workflows.notebooks import run_notebook

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
    seed: int = 42,
    tags: Iterable[str] = (),
    output_dir: str | Path | None = None,
) -> SweepResult:
    """Run ``config`` (YAML path, ``RunConfig`` or strategy name) at every valid grid point.

    Arguments left None come from the config's ``backtest:`` section. ``workers`` is the
    number of processes running points: this one plus ``workers - 1`` spawned ones;
    ``via="papermill"`` executes the parameterised notebook per point (output notebooks in
    ``output_dir``, default ``notebooks/output/sweep-<id>/``). Returns the
    :class:`SweepResult`.
    """
    from research_lib.store.results import ResultsStore
    from research_lib.workflows.notebooks import (
        PARAMETERISED,
        _path_of,
        catalog_root,
        notebook_path,
        project_root,
    )

    if via not in VIAS:
        raise ConfigError(f"via must be one of {', '.join(VIAS)}, was {via!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a whole number of at least 1, was {workers!r}")
    started = time.perf_counter()
    plan = plan_sweep(config, grid)
    run_config = plan.run_config
    store = results if isinstance(results, ResultsStore) else ResultsStore(results)
    store_path = store.path.resolve()
    sweep_id = str(uuid.uuid4())
    backtest = run_config.backtest
    data = data if data is not None else backtest.data
    options: dict[str, Any] = {
        "symbol": symbol or backtest.symbol,
        "start": None if start is None else str(start),
        "end": None if end is None else str(end),
        "data": data,
        "results": str(store_path),
        "source": "sweep",
        "sweep_id": sweep_id,
        "tags": list(tags),
        "seed": seed,
    }
    if isinstance(data, str) and data == "catalog":
        options["catalog"] = str(catalog_root(_path_of(catalog)).resolve())
    tasks = []
    if via == "runner":
        tasks = [_Task(i, p, via, run_config, options) for i, p in enumerate(plan.points)]
    else:
        if not isinstance(data, str):
            raise ConfigError("via='papermill' needs data='mock' or 'catalog', not a DataFrame")
        notebook = str(notebook_path(PARAMETERISED))
        folder = Path(
            output_dir or project_root() / "notebooks" / "output" / f"sweep-{sweep_id[:8]}"
        )
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


class _Points:
    """The points not started yet, taken one at a time by whichever process is free."""

    def __init__(self, tasks: list[_Task]) -> None:
        self._tasks = deque(tasks)
        self._lock = threading.Lock()
        self.stopped = False

    def take(self) -> _Task | None:
        """The next point, or None when there are none left (or the sweep was stopped)."""
        with self._lock:
            return None if self.stopped or not self._tasks else self._tasks.popleft()

    def give_back(self, task: _Task) -> None:
        """Return a point that could not be started, to be taken next."""
        with self._lock:
            self._tasks.appendleft(task)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True


def _execute(tasks: list[_Task], workers: int, progress: bool, sweep_id: str) -> list[Outcome]:
    """Run the tasks with a progress bar, in this process and ``workers - 1`` spawned ones.

    This process runs points itself: it has its imports done, so it starts at once while the
    spawned processes import Nautilus. Each spawned process has a pool of its own (a crash
    breaks only that one) and a thread that hands it one point at a time, so every process
    takes the next point when it is free.
    """
    from tqdm.auto import tqdm

    outcomes: list[Outcome] = []
    finished: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
    points = _Points(tasks)
    helpers = min(workers, len(tasks)) - 1
    bar = tqdm(total=len(tasks), desc=f"sweep {sweep_id[:8]}", unit="run", disable=not progress)
    context = multiprocessing.get_context("spawn")
    with bar, contextlib.ExitStack() as stack:
        pools = [
            stack.enter_context(ProcessPoolExecutor(max_workers=1, mp_context=context))
            for _ in range(helpers)
        ]
        for pool in pools:
            threading.Thread(target=_hand_out, args=(pool, points, finished), daemon=True).start()
        try:
            while len(outcomes) < len(tasks):
                task = points.take()
                if task is not None:
                    finished.put(_run_point(task))
                # With no point left to take, wait for the other processes' outcomes.
                _collect(finished, bar, outcomes, wait=task is None)
        except BaseException:  # Ctrl-C: start no more points
            points.stop()
            for pool in pools:
                pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes


def _hand_out(pool: ProcessPoolExecutor, points: _Points, finished: queue.SimpleQueue) -> None:
    """Feed one spawned process a point at a time until none are left.

    Every point taken ends as one outcome in ``finished``, or is given back (with a ``None``
    in ``finished`` to wake this process) when the pool cannot take it: if the worker died,
    its point is recorded as failed and the rest run elsewhere. After a Ctrl-C (the sweep
    is stopped) nothing more is recorded.
    """
    while (task := points.take()) is not None:
        try:
            future = pool.submit(_run_point, task)
        except Exception:  # broken, shut down, or no process could be started
            points.give_back(task)
            finished.put(None)
            return
        futures.wait([future])
        if points.stopped:
            return
        try:
            outcome = _outcome(future, task)
        except BaseException as exc:  # recording the dead worker's point failed as well
            outcome = (task.index, [], f"{type(exc).__name__}: {exc}")
        finished.put(outcome)


def _collect(finished: queue.SimpleQueue, bar: Any, outcomes: list[Outcome], wait: bool) -> None:
    """Move finished outcomes to ``outcomes`` (waiting for one if ``wait``), advancing the bar.

    A ``None`` in the queue only wakes this process to look for points given back.
    """
    try:
        item = finished.get(block=wait)
        while True:
            if item is not None:
                outcomes.append(item)
                _advance(bar, outcomes)
            item = finished.get_nowait()
    except queue.Empty:
        pass


def _outcome(future: Future, task: _Task) -> Outcome:
    """A task's outcome; a worker that died (not a failed run) is recorded as failed here."""
    try:
        return future.result()
    except BaseException as exc:  # BrokenProcessPool, or SystemExit raised in the worker
        return task.index, [_record_crash(task, exc)], f"{type(exc).__name__}: {exc}"


def _record_crash(task: _Task, exc: Exception) -> str:
    """Record a point whose worker process died as a failed run; returns its id."""
    from research_lib.store.results import ResultsStore

    opts = task.options
    context = {
        "run_id": str(uuid.uuid4()),
        "strategy": task.run_config.strategy_name,
        "strategy_path": task.run_config.strategy_path,
        "config_path": task.run_config.config_path,
        "params": {**task.run_config.params, **task.point},
        "settings": {k: opts.get(k) for k in ("data", "symbol", "start", "end", "catalog")},
        "source": opts.get("source", "sweep"),
        "tags": opts.get("tags", []),
        "sweep_id": opts.get("sweep_id"),
        "notebook_path": task.output,
    }
    store = ResultsStore(opts["results"])
    store.save_failure_or_keep(context, f"worker process died: {type(exc).__name__}: {exc}", "")
    return context["run_id"]


def _advance(bar: Any, outcomes: list[Outcome]) -> None:
    bar.set_postfix(failed=sum(1 for *_, error in outcomes if error is not None), refresh=False)
    bar.update(1)


def _label(point: Point) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())
