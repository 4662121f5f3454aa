"""Running grid points: the workers' side of a sweep, and the client's saver.

A :class:`PointTask` is one point with everything a worker needs; :func:`run_point` runs it
(on a worker, or here) and returns its runs as bundles without writing anything; the
client's :class:`Saver` saves each as it arrives. :func:`lost_point` records a point no
worker could finish as failed; :func:`bars_of` loads the bars every point uses once, to be
sent to each worker.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from research_lib.engine.market import MarketData, load_market_data
from research_lib.engine.run_config import RunConfig
from research_lib.engine.runner import settings_from
from research_lib.files import write_atomic
from research_lib.model.defaults import DEFAULT_SEED
from research_lib.model.run import BacktestResult, RunRecord
from research_lib.store import NotSavedWarning, ResultsStore
from research_lib.store.records import Bundle, bundle_of, failure_bundle
from research_lib.workflows.grid import Point
from research_lib.workflows.notebooks import run_notebook
from research_lib.workflows.record import run_backtest

__all__ = ["Kept", "PointOutcome", "PointTask", "Saver", "bars_of", "lost_point", "run_point"]

# Imported once by each worker as it joins, not by each task: Nautilus and the runner.
WORKER_PRELOAD = ("research_lib.engine.runner", "research_lib.workflows.record")


@dataclass(frozen=True)
class PointTask:
    """One point to run, with everything a worker needs (picklable)."""

    index: int
    point: Point
    via: str
    run_config: RunConfig
    options: dict[str, Any]
    notebook: str | None = None  # papermill: the notebook, and where its output goes
    output: str | None = None


@dataclass
class PointOutcome:
    """A point's runs (for the client to save), its error, its executed notebook."""

    index: int
    bundles: list[Bundle]
    error: str | None = None
    notebook: bytes | None = None


class Kept(ResultsStore):
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


def run_point(task: PointTask, market: MarketData | None) -> PointOutcome:
    """Run one point (on a worker, or here with one worker); nothing is written."""
    if task.via == "papermill":
        return _run_notebook_point(task)
    arguments = task.run_config.arguments(params=task.point, **task.options)
    asked = {k: arguments.get(k) for k in ("data", "catalog", "bar_spec")}
    if market is not None:  # the bars sent once to this worker
        arguments.pop("catalog", None)
        arguments.update(data=market.bars, instrument=market.spec, bar_spec=market.bar_spec)
    kept = Kept(market, asked)
    try:
        run_backtest(**arguments, results=kept)
    except Exception as exc:  # recorded failed by run_backtest, or here if it could not be
        why = f"{type(exc).__name__}: {exc}"
        return (
            PointOutcome(task.index, kept.bundles, why) if kept.bundles else lost_point(task, why)
        )
    return PointOutcome(task.index, kept.bundles)


def _run_notebook_point(task: PointTask) -> PointOutcome:
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
        return PointOutcome(task.index, ResultsStore(results).bundles(), error, notebook)


def lost_point(task: PointTask, reason: str) -> PointOutcome:
    """A point no worker could finish, as a failed run (recorded by the client)."""
    opts, config = task.options, task.run_config
    record = RunRecord.failed(
        reason, strategy=config.strategy_name, strategy_path=config.strategy_path,
        config_path=config.config_path, config={**config.params, **task.point},
        settings=settings_from(opts), source=opts.get("source", "sweep"),
        tags=opts.get("tags", []), sweep_id=opts.get("sweep_id"), notebook_path=task.output,
    )  # fmt: skip
    return PointOutcome(task.index, [failure_bundle(record)], reason)


@dataclass
class Saver:
    """The client's side: saves every run as it arrives (the only writer of the store)."""

    store: ResultsStore
    saved: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # pending files: the store was not writable

    def __call__(self, task: PointTask, outcome: PointOutcome) -> None:
        with warnings.catch_warnings(record=True):  # one summary instead of a warning per run
            warnings.simplefilter("always", NotSavedWarning)
            for bundle in outcome.bundles:
                where = self.store.save_bundle_or_keep(bundle)
                (self.saved if where == str(self.store.path) else self.kept).append(where)
        if outcome.notebook is not None and task.output:
            write_atomic(task.output, outcome.notebook)


def bars_of(tasks: list[PointTask], ship: bool) -> MarketData | None:
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
