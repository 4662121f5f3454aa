"""Searching a parameter space on one window of bars: grid, seeded random, or Optuna TPE.

:func:`search_window` evaluates trial points of a :class:`~research_lib.workflows.grid.
SweepPlan` on a window's bars and returns them as :class:`Trial` (parameters, the metric,
the stored run). Points are evaluated on the vector engine when the strategy has a
vectorized rule (chunks on the Dask executor for a grid or random search), else in Nautilus
on the executor. Every trial is stored as a run with the study's ``study_id``.

Optuna asks for trials in batches of as many points as there are workers and is told each
result (ask-and-tell from this process); its journal file (``<store>.studies/<study>.log``)
lets an interrupted study go on where it stopped: trials already told are not run again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from research_lib.engine import vector
from research_lib.engine.market import MarketData
from research_lib.errors import ConfigError
from research_lib.model.execution import Execution
from research_lib.model.metrics import COMPARE_METRICS, LOWER_IS_BETTER
from research_lib.store import ResultsStore
from research_lib.workflows import executor
from research_lib.workflows.grid import Point, SweepPlan
from research_lib.workflows.points import PointOutcome, PointTask, Saver, lost_point, run_point
from research_lib.workflows.screen import (
    TASKS_PER_WORKER,
    Records,
    ScreenedPoint,
    ScreenOutcome,
    ScreenTask,
    lost_chunk,
    params_of,
    screen_chunk,
)
from research_lib.workflows.sweep import WORKER_PRELOAD

__all__ = ["SEARCHES", "Trial", "search_window"]

SEARCHES = ("grid", "random", "optuna")


@dataclass(frozen=True)
class Trial:
    """One evaluated point: its grid values, the metric (None: n/a or failed), its run."""

    point: Point
    value: float | None
    metrics: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None


@dataclass
class Window:
    """What evaluating points on one window needs."""

    plan: SweepPlan
    market: MarketData
    store: ResultsStore
    execution: Execution
    settings: dict[str, Any]  # run settings of the window's runs (start, end: the window's)
    options: dict[str, Any]  # run options for Nautilus points (study_id, tags, source...)
    metric: str
    run: dict[str, Any]  # executor settings: workers, scheduler, cluster, progress
    label: str = ""


def search_window(
    window: Window,
    method: str,
    trials: int | None,
    seed: int,
    journal: Path | None = None,
    study_name: str = "",
    status: Callable[[str], None] = lambda text: None,
) -> list[Trial]:
    """The trials of ``method`` on ``window`` (see the module doc): ``grid`` every point,
    ``random`` ``trials`` points drawn without replacement (seeded), ``optuna`` ``trials``
    TPE trials (seeded; resumed from ``journal`` when it has some)."""
    points = window.plan.points
    if method == "grid":
        return _resumed(window, points)
    if method == "random":
        count = min(_count(trials, method), len(points))
        chosen = np.random.default_rng(seed).choice(len(points), size=count, replace=False)
        return _resumed(window, [points[i] for i in sorted(chosen)])
    if method == "optuna":
        return _optuna(window, _count(trials, method), seed, journal, study_name, status)
    raise ConfigError(f"unknown search '{method}': use one of {', '.join(SEARCHES)}")


def stored_runs(window: Window) -> pd.DataFrame:
    """The runs already stored for this window of the study (its fold and part tags): what
    an interrupted study left behind."""
    study = window.options.get("study_id")
    if study is None or not window.store.path.exists():
        return pd.DataFrame(columns=["id", "config", "status", window.metric])
    wanted = set(window.options.get("tags") or ())
    runs = window.store.list(limit=None, extra_columns=("study_id",), order_by="created_at",
                             descending=False)  # fmt: skip
    mine = runs[runs["study_id"] == study]
    inside = [wanted <= set(t if t is not None else ()) for t in mine["tags"]]
    return mine[np.array(inside, dtype=bool)].reset_index(drop=True)


def forget(window: Window, keep: set[str] = frozenset()) -> int:
    """Delete the window's stored runs but ``keep``; how many went."""
    gone = [str(r) for r in stored_runs(window)["id"] if str(r) not in keep]
    return window.store.delete(gone) if gone else 0


def _resumed(window: Window, points: Sequence[Point]) -> list[Trial]:
    """``points`` evaluated, reusing the runs an interrupted study stored for them."""
    stored: dict[tuple, Trial] = {}
    for _, row in stored_runs(window).iterrows():
        config = json.loads(row["config"]) if isinstance(row["config"], str) else {}
        point = {name: config.get(name) for name in window.plan.grid}
        if row["status"] == "completed" and point_key(point) not in stored:
            metrics = {k: row[k] for k in COMPARE_METRICS if k in row}
            stored[point_key(point)] = Trial(point, _metric(metrics, window.metric), metrics,
                                        str(row["id"]))  # fmt: skip
    forget(window, keep={t.run_id for t in stored.values() if t.run_id})  # failed, twice
    missing = [p for p in points if point_key(p) not in stored]
    fresh = {point_key(t.point): t for t in evaluate(window, missing)}
    return [stored.get(point_key(p)) or fresh[point_key(p)] for p in points]


def _count(trials: int | None, method: str) -> int:
    if trials is None or trials < 1:
        raise ConfigError(f"a {method} search needs --trials N (at least 1)")
    return int(trials)


def evaluate(window: Window, points: Sequence[Point], tags: Sequence[str] = ()) -> list[Trial]:
    """Evaluate ``points`` on the window, store each as a run, return them in order."""
    if not points:
        return []
    if vector.supports(window.plan.run_config.strategy_name):
        return _vector_trials(window, points, tags)
    return _nautilus_trials(window, points, tags)


def _vector_trials(window: Window, points: Sequence[Point], tags: Sequence[str]) -> list[Trial]:
    plan, balance = window.plan, float(window.settings["starting_balance"])
    workers = window.run.get("workers") or 2
    size = max(1, math.ceil(len(points) / (TASKS_PER_WORKER * workers)))
    params = [params_of(p, plan) for p in points]
    tasks = [
        ScreenTask(i, at, plan.run_config.strategy_name, plan.run_config.config_path,
                   params[at : at + size], window.execution, balance,
                   window.settings.get("periods_per_year"))
        for i, at in enumerate(range(0, len(params), size))
    ]  # fmt: skip
    run = {**window.run, "progress": window.run.get("progress") and len(tasks) > 1}
    outcomes: list[ScreenOutcome] = executor.run_tasks(
        screen_chunk, tasks, shared=window.market, on_lost=lost_chunk,
        failed=lambda o: o.error is not None, desc=f"trials {window.label}".strip(),
        preload=("research_lib.engine.vector",), **run,
    )  # fmt: skip
    outcomes.sort(key=lambda o: o.index)
    found: list[ScreenedPoint] = []
    for task, outcome in zip(tasks, outcomes, strict=True):
        each = outcome.seconds / max(1, len(task.points))
        grid = points[task.first : task.first + len(task.points)]
        runs = outcome.runs if outcome.error is None else [None] * len(grid)
        found += [ScreenedPoint(g, r, each, outcome.error) for g, r in zip(grid, runs, strict=True)]
    options = {**window.options, "tags": [*window.options.get("tags", ()), *tags]}
    records = Records(plan, window.market, window.settings, options)
    bundles = [records.bundle(point, None) for point in found]
    window.store.save_bundles_or_keep(bundles)
    return [
        Trial(p.grid, _metric(p.run.metrics if p.run else {}, window.metric),
              dict(p.run.metrics) if p.run else {}, b.id)
        for p, b in zip(found, bundles, strict=True)
    ]  # fmt: skip


def _nautilus_trials(window: Window, points: Sequence[Point], tags: Sequence[str]) -> list[Trial]:
    options = {**window.options, "tags": [*window.options.get("tags", ()), *tags]}
    tasks = [
        PointTask(i, p, "runner", window.plan.run_config, options) for i, p in enumerate(points)
    ]
    saver = Saver(window.store)
    found: dict[int, Trial] = {}

    def keep(task: PointTask, outcome: PointOutcome) -> None:
        for bundle in outcome.bundles:
            bundle.row["study_id"] = window.options.get("study_id")
            metrics = bundle.row if bundle.row["status"] == "completed" else {}
            found[task.index] = Trial(task.point, _metric(metrics, window.metric),
                                      _row_metrics(metrics), bundle.id)  # fmt: skip
        saver(task, outcome)

    executor.run_tasks(
        run_point, tasks, shared=window.market, on_result=keep, on_lost=lost_point,
        failed=lambda o: o.error is not None, desc=f"trials {window.label}".strip(),
        preload=WORKER_PRELOAD, **window.run,
    )  # fmt: skip
    return [found.get(i, Trial(p, None)) for i, p in enumerate(points)]


def _row_metrics(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in COMPARE_METRICS if k in row}


def _metric(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# -- Optuna ---------------------------------------------------------------------------------


def _suggest(trial: Any, grid: dict[str, list[Any]]) -> Point:
    """A point of the grid: integer steps and float steps as ordered ranges (TPE models
    their order), anything else as a choice."""
    point: Point = {}
    for name, values in grid.items():
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        steps = np.diff(sorted(values)) if numbers and len(values) > 2 else []
        even = len(steps) and np.allclose(steps, steps[0]) and steps[0] > 0
        if even and all(isinstance(v, int) for v in values):
            point[name] = trial.suggest_int(name, min(values), max(values), step=int(steps[0]))
        elif even:  # the index of an evenly spaced float value
            ordered = sorted(values)
            point[name] = ordered[trial.suggest_int(f"{name}#", 0, len(ordered) - 1)]
        else:
            point[name] = trial.suggest_categorical(name, list(values))
    return point


def _optuna(
    window: Window, count: int, seed: int, journal: Path | None, name: str, status: Callable
) -> list[Trial]:
    import optuna  # heavy: Optuna and its samplers
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = None
    if journal is not None:
        journal.parent.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(
        study_name=name or "research-lib", storage=storage, load_if_exists=True,
        direction="minimize" if window.metric in LOWER_IS_BETTER else "maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )  # fmt: skip
    valid = {point_key(p) for p in window.plan.points}
    done: list[Trial] = []
    for old in study.get_trials(deepcopy=False):
        if "run_id" in old.user_attrs:  # evaluated and stored (completed, or n/a)
            done.append(Trial(old.user_attrs["point"], old.value, {}, old.user_attrs["run_id"]))
        elif old.state == TrialState.RUNNING:  # interrupted before it was told: not stored
            study.tell(old.number, state=TrialState.FAIL)
    forget(window, keep={t.run_id for t in done if t.run_id})  # stored, but never told
    if done:
        status(f"{window.label}: {len(done)} of {count} trials already stored, going on")
    batch = max(1, int(window.run.get("workers") or 1))
    invalid = 0
    while len(done) < count:
        asked, points = [], []
        while len(asked) < min(batch, count - len(done)):
            trial = study.ask()
            point = _suggest(trial, window.plan.grid)
            if point_key(point) not in valid:  # an invalid combination (fast >= slow): pruned
                study.tell(trial, state=TrialState.PRUNED)
                invalid += 1
                if invalid > 50 * count:
                    raise ConfigError("Optuna keeps proposing invalid points: use --search grid")
                continue
            asked.append(trial)
            points.append(point)
        for trial, found in zip(asked, evaluate(window, points, ("optuna",)), strict=True):
            trial.set_user_attr("point", found.point)
            trial.set_user_attr("run_id", found.run_id)
            if found.value is None:
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, found.value)
            done.append(replace(found))
    return done


def point_key(point: Point) -> tuple:
    """A point as a hashable key (values by their repr: 5 and 5.0 differ)."""
    return tuple(sorted((k, repr(v)) for k, v in point.items()))
