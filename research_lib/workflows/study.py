"""Studies: a strategy, a search space and a validation scheme, run as one unit.

:func:`run_study` splits the bars into folds (:mod:`research_lib.model.folds`: one
train/test split, or walk-forward, rolling or anchored). On each fold the search
(:mod:`research_lib.workflows.search`: grid, seeded random, Optuna TPE) runs on the train
window; the best point by the chosen metric is then backtested in Nautilus on the test
window. The test windows are stitched into one out-of-sample equity curve with its own
metrics. Every trial and test run carries the study's ``study_id``; the ``studies`` table
keeps the spec, the folds and the summary (:mod:`research_lib.store.studies`), written after
each fold, so :func:`resume_study` goes on after an interruption without rerunning what
was stored.

The summary says how much the winner owes to selection (:mod:`research_lib.model.selection`):
every distinct point tried is also evaluated over the whole span, and that trial matrix (one
column of per-session returns per point) gives the deflated Sharpe ratio of the best point
(with the study's own number of trials and the variance of their Sharpe ratios) and the
probability of backtest overfitting by combinatorially symmetric cross-validation. In-sample
against out-of-sample Sharpe per fold gives the degradation. Each comes with a reading.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from research_lib.engine import vector
from research_lib.engine.market import MarketData, load_market_data
from research_lib.engine.run_config import BacktestSection, RunConfig
from research_lib.engine.runner import settings_from, warmup_bars
from research_lib.errors import ConfigError, did_you_mean
from research_lib.files import write_atomic
from research_lib.model.defaults import DEFAULT_SEED, DEFAULT_TRADE_SIZE
from research_lib.model.execution import Costs, execution_of
from research_lib.model.folds import Fold, parse_walk_forward, split_fold, walk_forward_folds
from research_lib.model.metrics import GOALS, LOWER_IS_BETTER, METRIC_ALIASES
from research_lib.store import ResultsStore
from research_lib.store.studies import get_study, save_study
from research_lib.strategies.registry import build_config
from research_lib.workflows import executor
from research_lib.workflows.grid import SweepPlan, plan_sweep
from research_lib.workflows.record import run_backtest, store_of
from research_lib.workflows.screen import params_of
from research_lib.workflows.search import SEARCHES, Window, forget, search_window
from research_lib.workflows.study_summary import Setting, stitch, summarise
from research_lib.workflows.sweep import run_options

__all__ = ["StudyResult", "resume_study", "run_study"]


@dataclass
class StudyResult:
    """A study as stored: ``spec`` (what reproduces it), ``folds`` (one dict per fold: its
    windows, trials, chosen point, in- and out-of-sample metrics and runs), ``summary`` (the
    out-of-sample metrics, deflated Sharpe, PBO, degradation and their ``readings``) and the
    stitched out-of-sample equity curve."""

    study_id: str
    status: str
    spec: dict[str, Any]
    folds: list[dict[str, Any]]
    summary: dict[str, Any]
    oos_equity: pd.Series
    results: Path | None = None

    @classmethod
    def load(cls, store: ResultsStore | str | Path | None, study_id: str) -> StudyResult:
        """A stored study; its out-of-sample curve stitched from its test runs' curves."""
        store = store_of(store)
        row = get_study(store, study_id)
        ids = [f["oos_run_id"] for f in row["folds"] if f.get("oos_run_id")]
        curves = [store.get(run_id).equity for run_id in ids]
        balance = float(row["spec"].get("starting_balance") or 0) or None
        curve = stitch(curves, balance) if curves and balance else pd.Series(dtype=float)
        return cls(row["id"], row["status"], row["spec"], row["folds"], row["summary"] or {},
                   curve, store.path.resolve())  # fmt: skip

    @property
    def folds_table(self) -> pd.DataFrame:
        """One row per fold: windows, bars, chosen parameters, in/out-of-sample metric."""
        metric = self.spec.get("metric", "sharpe")
        rows = []
        for fold in self.folds:
            rows.append({
                "fold": fold["number"],
                "train": f"{fold['train_start'][:10]}..{fold['train_end'][:10]}",
                "test": f"{fold['test_start'][:10]}..{fold['test_end'][:10]}",
                "trials": fold.get("trials"), **(fold.get("chosen") or {}),
                f"is_{metric}": fold.get("is_value"),
                f"oos_{metric}": (fold.get("oos_metrics") or {}).get(metric),
                "oos_return": (fold.get("oos_metrics") or {}).get("total_return"),
                "oos_run": (fold.get("oos_run_id") or "")[:8],
            })  # fmt: skip
        return pd.DataFrame(rows)

    @property
    def readings(self) -> list[str]:
        return list(self.summary.get("readings") or [])


def run_study(
    config: Any,
    grid: dict[str, Any],
    *,
    walk_forward: str | None = None,
    train: str | None = None,
    test: str | None = None,
    search: str = "grid",
    trials: int | None = None,
    metric: str = "sharpe",
    seed: int = DEFAULT_SEED,
    symbol: str | None = None,
    start: Any = None,
    end: Any = None,
    data: str | None = None,
    catalog: Any = None,
    bar_spec: str | None = None,
    execution: dict[str, Any] | None = None,
    results: Any = None,
    workers: int | None = 1,
    scheduler: str | None = None,
    progress: bool = True,
    tags: Any = (),
    min_bars: int | None = None,
    status: Callable[[str], None] = lambda text: None,
) -> StudyResult:
    """Run a study of ``config`` over ``grid`` (see the module doc).

    The scheme: ``walk_forward="train=12M,test=3M,step=3M"`` (``anchored=true`` keeps every
    train window starting at the first bar), or one split ``train="2024-01-02:2024-06-28"``
    with ``test="2024-07-01:2024-12-31"``. ``search``: ``grid`` (every point; screened on the
    vector engine when the strategy has a rule), ``random`` or ``optuna`` (``trials`` points,
    seeded). The best trial by ``metric`` on each train window is tested out of sample.
    """
    if search not in SEARCHES:
        raise ConfigError(f"unknown search '{search}': use one of {', '.join(SEARCHES)}")
    if walk_forward is not None and (train is not None or test is not None):
        raise ConfigError("give one validation scheme: --walk-forward, or --train and --test")
    if walk_forward is None and train is None and test is None:
        raise ConfigError("give a validation scheme: --walk-forward, or --train and --test")
    if walk_forward is None and (train is None or test is None):
        raise ConfigError("a split needs both --train START:END and --test START:END")
    if walk_forward is not None:
        parse_walk_forward(walk_forward)  # one line for a bad spec before any work
    if search != "grid" and (trials is None or trials < 1):
        raise ConfigError(f"a {search} search needs --trials N (at least 1)")
    if search == "grid" and trials is not None:
        status(f"a grid search tries every point: --trials {trials} is for random and optuna")
        trials = None
    metric = METRIC_ALIASES.get(metric, metric)
    if metric not in GOALS:
        raise ConfigError(
            f"cannot choose points by '{metric}';{did_you_mean(metric, GOALS)} use one of "
            f"{', '.join(GOALS)}"
        )
    plan = plan_sweep(config, grid)
    run_config = plan.run_config
    spec = {
        "run_config": _config_spec(run_config), "grid": plan.grid, "walk_forward": walk_forward,
        "train": train, "test": test, "search": search, "trials": trials, "metric": metric,
        "seed": seed, "symbol": symbol, "start": _text(start), "end": _text(end), "data": data,
        "catalog": None if catalog is None else str(catalog), "bar_spec": bar_spec,
        "execution": {k: v for k, v in (execution or {}).items() if v not in (None, {})},
        "tags": list(tags), "min_bars": min_bars,
    }  # fmt: skip
    study_id, store = str(uuid.uuid4()), store_of(results)
    if isinstance(data, pd.DataFrame):  # kept next to the store, so the study can resume
        bars = studies_folder(store) / f"{study_id}.bars.parquet"
        bars.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(bars, data.to_parquet(index=False))
        spec.update(data="dataframe", bars_file=str(bars))
    return _execute(study_id, spec, [], store, workers, scheduler, progress, status)


def studies_folder(store: ResultsStore) -> Path:
    """Where a store's studies keep their files (Optuna journals, a DataFrame's bars)."""
    return store.path.with_name(store.path.name + ".studies")


def resume_study(
    study_id: str,
    *,
    results: Any = None,
    workers: int | None = 1,
    scheduler: str | None = None,
    progress: bool = True,
    status: Callable[[str], None] = lambda text: None,
) -> StudyResult:
    """Go on with a stored study from its first unfinished fold (an Optuna search from its
    last stored trial); a completed study is returned as it is."""
    store = store_of(results)
    row = get_study(store, study_id)
    if row["status"] == "completed":
        status(f"study {row['id'][:8]} is already completed")
        return StudyResult.load(store, row["id"])
    done = [f for f in row["folds"] if f.get("oos_run_id")]
    status(f"resuming study {row['id'][:8]}: {len(done)} folds done")
    return _execute(row["id"], row["spec"], done, store, workers, scheduler, progress, status,
                    created=row.get("created_at"))  # fmt: skip


def _config_spec(run_config: RunConfig) -> dict[str, Any]:
    return {
        "strategy_path": run_config.strategy_path, "config_path": run_config.config_path,
        "strategy_name": run_config.strategy_name, "params": run_config.params,
        "backtest": run_config.backtest.model_dump(), "costs": run_config.costs.model_dump(),
        "source_file": run_config.source_file,
    }  # fmt: skip


def _run_config(spec: dict[str, Any]) -> RunConfig:
    given = spec["run_config"]
    return RunConfig(
        given["strategy_path"], given["config_path"], given["strategy_name"],
        dict(given["params"]), BacktestSection(**given["backtest"]), Costs(**given["costs"]),
        given.get("source_file"),
    )  # fmt: skip


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _execute(
    study_id: str, spec: dict[str, Any], done: list[dict[str, Any]], store: ResultsStore,
    workers: int | None, scheduler: str | None, progress: bool, status: Callable[[str], None],
    created: Any = None,
) -> StudyResult:  # fmt: skip
    run_config = _run_config(spec)
    plan = plan_sweep(run_config, spec["grid"])
    data = spec["data"]
    if data == "dataframe":
        try:
            data = pd.read_parquet(spec["bars_file"])
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"study {study_id[:8]}: its bars file {spec['bars_file']} cannot be read "
                f"({type(exc).__name__}); the study ran on a DataFrame kept there"
            ) from exc
    options = run_options(plan, spec["symbol"], spec["bar_spec"], spec["start"], spec["end"],
                          data, spec["catalog"], spec["tags"], spec["seed"])  # fmt: skip
    options.update(source="study", study_id=study_id, **spec["execution"])
    arguments = run_config.arguments(**options)
    chosen = execution_of(
        arguments.get("execution"), fill_timing=arguments.get("fill_timing"),
        fill_volume=arguments.get("fill_volume"), costs=arguments.get("costs"),
    )  # fmt: skip
    settings = settings_from({**arguments, "execution": chosen})  # as the points fill
    if vector.supports(run_config.strategy_name) and chosen.fill_volume != "unlimited":
        raise ConfigError("a study screens on the vector engine: use fill_volume unlimited")
    market = load_market_data(
        arguments["data"], arguments.get("symbol"), arguments.get("start"), arguments.get("end"),
        arguments.get("catalog"), arguments.get("seed", DEFAULT_SEED),
        bar_spec=arguments.get("bar_spec"),
    )  # fmt: skip
    spec = {**spec, "starting_balance": float(settings["starting_balance"])}
    folds = _folds(spec, market, plan)
    searched = (f"{spec['trials']} of {len(plan.points)} valid points" if spec["search"] !=
                "grid" else f"all {len(plan.points)} valid points")  # fmt: skip
    status(f"study {study_id[:8]}: {len(folds)} fold{'s' if len(folds) > 1 else ''}, "
           f"{spec['search']} search: {searched}")  # fmt: skip
    row = {"id": study_id, "created_at": created, "status": "running",
           "strategy": run_config.strategy_name, "spec": spec, "folds": list(done),
           "summary": None}  # fmt: skip
    save_study(store, row)
    address = executor.scheduler_address(scheduler, run_config.backtest.scheduler)
    with contextlib.ExitStack() as stack:
        cluster = None
        if address or workers is None or workers > 1:
            cluster = stack.enter_context(
                executor.connect(workers or executor.cpu_count(), address)
            )
        run = {"workers": workers, "scheduler": address, "cluster": cluster, "progress": progress}
        setting = Setting(study_id, spec, plan, market, store, chosen, settings, options, run)
        try:
            outcomes = {f["number"]: f for f in done}
            tested: dict[int, Any] = {}
            for fold in folds:
                if fold.number in outcomes:
                    continue
                outcomes[fold.number], tested[fold.number] = _run_fold(setting, fold, status)
                row["folds"] = [outcomes[n] for n in sorted(outcomes)]
                save_study(store, row)
            for fold in folds:  # a resumed study's earlier test runs, again (not stored twice)
                if fold.number not in tested:
                    point = outcomes[fold.number]["chosen"]
                    tested[fold.number] = _test_run(setting, setting.window(fold, "test"), point,
                                                    save=False)  # fmt: skip
            row["summary"] = summarise(setting, row["folds"],
                                       [tested[n] for n in sorted(tested)], status)  # fmt: skip
            row["status"] = "completed"
        except KeyboardInterrupt:
            status(f"interrupted: research-lib study resume {study_id[:8]} goes on from here")
            raise
        except Exception as exc:
            row["status"], row["summary"] = "failed", {"error": f"{type(exc).__name__}: {exc}"}
            save_study(store, row)
            raise
        save_study(store, row)
    return StudyResult.load(store, study_id)


def _folds(spec: dict[str, Any], market: MarketData, plan: SweepPlan) -> list[Fold]:
    stamps = pd.DatetimeIndex(pd.to_datetime(market.bars["timestamp"], utc=True))
    minimum = spec.get("min_bars") or _warmup(plan) + 2
    if spec["walk_forward"]:
        return walk_forward_folds(stamps, parse_walk_forward(spec["walk_forward"]), minimum)
    return [split_fold(stamps, spec["train"], spec["test"], minimum)]


def _warmup(plan: SweepPlan) -> int:
    """The most bars any point needs to warm up (its config's ``warmup_bars()``)."""
    config = plan.run_config
    values = {"instrument_id": "AAPL.SIM", "bar_type": "AAPL.SIM-1-MINUTE-LAST-EXTERNAL",
              "trade_size": DEFAULT_TRADE_SIZE}  # fmt: skip
    needed = [
        warmup_bars(build_config(config.config_path, {**values, **config.params, **point}))
        for point in plan.points
    ]
    return max(needed, default=1)


def _run_fold(
    setting: Setting, fold: Fold, status: Callable[[str], None]
) -> tuple[dict[str, Any], Any]:
    """Search the train window, test the best point on the test window: the fold's entry
    and its test run."""
    spec = setting.spec
    status(_fold_line(fold))
    journal = studies_folder(setting.store)
    found = search_window(
        setting.window(fold, "train"), spec["search"], spec["trials"], spec["seed"] + fold.number,
        journal=journal / f"{setting.study_id}.log",
        study_name=f"{setting.study_id}-fold-{fold.number}", status=status,
    )  # fmt: skip
    sign = -1.0 if spec["metric"] in LOWER_IS_BETTER else 1.0
    scored = [(sign * t.value, -i) for i, t in enumerate(found) if t.value is not None]
    if not scored:
        raise ConfigError(
            f"fold {fold.number}: no trial has a {spec['metric']} on its train window"
        )
    best = found[-max(scored)[1]]
    test = setting.window(fold, "test")
    forget(test)  # a test run stored before an interruption, not yet in the studies row
    result = _test_run(setting, test, best.point)
    metrics = {**result.metrics, "total_return": result.total_return,
               "trade_count": result.trade_count}  # fmt: skip
    entry = {
        "number": fold.number, "train_start": fold.train_start.isoformat(),
        "train_end": fold.train_end.isoformat(), "test_start": fold.test_start.isoformat(),
        "test_end": fold.test_end.isoformat(), "train_bars": fold.train_bars,
        "test_bars": fold.test_bars, "partial": fold.partial, "trials": len(found),
        "trial_points": [t.point for t in found], "trial_values": [t.value for t in found],
        "chosen": best.point, "is_value": best.value, "best_trial_run_id": best.run_id,
        "is_sharpe": _sharpe_of(setting, best),
        "oos_run_id": result.run_id, "oos_metrics": metrics,
    }  # fmt: skip
    return entry, result


def _test_run(setting: Setting, window: Window, point: dict[str, Any], save: bool = True) -> Any:
    """The best point on the test window, in Nautilus, stored as a run of the study (the
    result with its whole equity curve)."""
    config = setting.plan.run_config
    arguments = config.arguments(params=params_of(point), **window.options)
    asked = {k: arguments.get(k) for k in ("data", "catalog", "start", "end")}
    arguments.pop("catalog", None)
    market = window.market
    arguments.update(data=market.bars, instrument=market.spec, bar_spec=market.bar_spec,
                     save=False)  # fmt: skip
    result = run_backtest(**arguments)
    result = result.replace(
        settings={**result.settings, **asked}, data_source=setting.market.source
    )  # fmt: skip
    if not save:
        return result
    return dataclasses.replace(result, saved_to=setting.store.save_or_keep(result))


def _sharpe_of(setting: Setting, trial: Any) -> float | None:
    """A trial's Sharpe on its train window (read back when an Optuna resume lacks it)."""
    value = (trial.metrics or {}).get("sharpe")
    if value is None and trial.run_id:
        value = setting.store.get(trial.run_id).metrics.get("sharpe")
    return None if value is None or value != value else float(value)


def _fold_line(fold: Fold) -> str:
    """A fold in one line of at most 80 columns."""
    cut = ", test cut at the data end" if fold.partial else ""
    return (
        f"fold {fold.number}: train {fold.train_start:%Y-%m-%d}..{fold.train_end:%m-%d}, "
        f"test {fold.test_start:%Y-%m-%d}..{fold.test_end:%m-%d} "
        f"({fold.train_bars:,} + {fold.test_bars:,} bars{cut})"
    )
