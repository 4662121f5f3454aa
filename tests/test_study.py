"""Studies end to end (:mod:`research_lib.workflows.study`): real runs on seeded bars.

The statistics themselves (DSR, PBO, folds) are tested in ``test_selection.py`` and
``test_folds.py``; here a whole study must tell noise from a planted edge, keep its
``studies`` row and runs consistent, and go on after a ``kill -9``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research_lib.data.catalog import Catalog
from research_lib.data.synthetic import generate_bars, session_timestamps, write_csv
from research_lib.errors import ConfigError
from research_lib.model.defaults import DEFAULT_SEED
from research_lib.store import ResultsStore
from research_lib.store.studies import get_study, list_studies
from research_lib.workflows.study import StudyResult, resume_study, run_study

ROOT = Path(__file__).resolve().parent.parent

# 5-minute NASDAQ session bars, 2024-01-02..2024-09-30: 189 sessions, 14,742 bars. Walk-forward
# train=3M,test=1M gives 6 folds whose test windows cover 2024-04-02..2024-09-30.
STAMPS = session_timestamps("2024-01-02", "2024-09-30", freq="5min")
GRID = {"fast_period": [5, 10, 15, 20, 25], "slow_period": [30, 60, 90, 120, 150, 180]}  # 30
SCHEME = "train=3M,test=1M"
VOLATILITY = 0.002  # per 5-minute bar


def _bars(log_returns: np.ndarray, seed: int) -> pd.DataFrame:
    """Valid OHLCV bars at STAMPS whose closes follow ``log_returns`` (open = last close)."""
    rng = np.random.default_rng(seed + 10_000)
    closes = np.round(100.0 * np.exp(np.cumsum(log_returns)), 2)
    opens = np.concatenate(([100.0], closes[:-1]))
    wiggle = np.abs(rng.normal(0.0, VOLATILITY / 4, (2, len(closes))))
    top, bottom = np.maximum(opens, closes), np.minimum(opens, closes)
    highs = np.maximum(np.round(top * (1 + wiggle[0]), 2), top)
    lows = np.minimum(np.round(bottom * (1 - wiggle[1]), 2), bottom)
    volumes = rng.integers(1_000, 10_000, len(closes))
    return pd.DataFrame({"timestamp": STAMPS, "open": opens, "high": highs, "low": lows,
                         "close": closes, "volume": volumes})  # fmt: skip


def noise_bars(seed: int) -> pd.DataFrame:
    """A geometric random walk: no strategy has an edge on it."""
    return _bars(np.random.default_rng(seed).normal(0.0, VOLATILITY, len(STAMPS)), seed)


def trend_bars(seed: int, drift: float = 0.0006, mean_regime: int = 300) -> pd.DataFrame:
    """Regimes of constant drift +-``drift`` per bar (0.3 of the bar's noise) whose sign flips
    with probability 1/``mean_regime`` each bar (regimes of ~300 bars, ~4 sessions): a
    trend-following edge that a fast crossover of short averages catches early in each regime,
    and that averages much longer than a regime (slow 120-180 bars) give back in lag."""
    rng = np.random.default_rng(seed)
    flips = rng.random(len(STAMPS)) < 1.0 / mean_regime
    sign = np.where(np.cumsum(flips) % 2 == 0, 1.0, -1.0)
    return _bars(rng.normal(0.0, VOLATILITY, len(STAMPS)) + drift * sign, seed)


def catalog_of(root: Path, bars: pd.DataFrame) -> Path:
    """A catalog at ``root`` holding ``bars`` as AAPL 5-MINUTE-LAST (through the CSV import,
    as a user would build one), checked to read back bar for bar."""
    root.parent.mkdir(parents=True, exist_ok=True)
    csv = root.with_suffix(".csv")
    write_csv(bars, str(csv))
    cat = Catalog(root)
    cat.import_csv(csv, "AAPL", bar_spec="5-MINUTE-LAST")
    back = cat.bars("AAPL", bar_spec="5-MINUTE-LAST")
    assert len(back) == len(bars)
    assert (pd.to_datetime(back["timestamp"], utc=True).to_numpy() == STAMPS.to_numpy()).all()
    return root


def catalog_study(catalog: Path, results: Path, **options) -> StudyResult:
    return run_study(
        "sma_crossover", GRID, walk_forward=SCHEME, data="catalog", catalog=catalog,
        symbol="AAPL", bar_spec="5-MINUTE-LAST", results=results, progress=False, **options,
    )  # fmt: skip


def oos_sessions(result: StudyResult) -> int:
    """How many sessions the stitched out-of-sample curve spans."""
    stamps = pd.DatetimeIndex(result.oos_equity.index)
    return int(stamps.tz_convert("UTC").normalize().nunique())


def runs_of(path: Path, study_id: str | None = None) -> pd.DataFrame:
    """The stored runs (every one, or a study's), read only."""
    if not Path(path).exists():
        return pd.DataFrame(columns=["id", "tags", "engine", "study_id"])
    runs = ResultsStore(path).list(limit=None, extra_columns=("study_id",))
    return runs if study_id is None else runs[runs["study_id"] == study_id]


def tagged(runs: pd.DataFrame, *tags: str) -> pd.DataFrame:
    keep = [all(t in list(have) for t in tags) for have in runs["tags"]]
    return runs[np.array(keep, dtype=bool)] if len(runs) else runs


# -- what a study finds --------------------------------------------------------------------


def test_no_edge_on_a_random_walk(tmp_path):
    """Four seeded random walks: nothing to find, and the study says so.

    Bounds. Out of sample the test windows span N ~ 126 sessions; with no edge the annualised
    Sharpe of N session returns is ~ normal(0, sqrt(252 / N)) ~ 1.4: each seed within 3
    standard errors, the mean of four within 3 standard errors of a mean (3 x 1.4 / 2).
    PBO: pure noise gives 0.5 on average (a trial that wins in sample is as likely as not to
    be in the bottom half out of sample); single matrices spread widely (~0.2-0.3 here, the
    trials are correlated crossovers), so the mean of four must be >= 0.3 (about two of its
    standard errors below 0.5) and none may look like a real edge (a PBO near 0).
    DSR: luck alone must not be significant at 95% for any seed.
    """
    seeds = (1, 2, 3, 4)
    found = []
    for seed in seeds:
        catalog = catalog_of(tmp_path / f"noise{seed}" / "cat", noise_bars(seed))
        result = catalog_study(catalog, tmp_path / f"noise{seed}" / "r.duckdb")
        assert result.status == "completed"
        assert len(result.folds) == 6
        found.append(result)
    sharpes = np.array([r.summary["oos"]["sharpe"] for r in found])
    sessions = np.array([oos_sessions(r) for r in found])
    assert ((sessions > 110) & (sessions < 140)).all(), sessions
    error = np.sqrt(252 / sessions)
    assert (np.abs(sharpes) < 3 * error).all(), (sharpes, error)
    assert abs(sharpes.mean()) < 3 * error.mean() / np.sqrt(len(seeds)), sharpes
    pbos = np.array([r.summary["pbo"]["pbo"] for r in found])
    assert pbos.mean() >= 0.3, pbos
    assert (pbos > 0.1).all(), pbos
    dsrs = np.array([r.summary["dsr"]["dsr"] for r in found])
    assert (dsrs < 0.95).all(), dsrs
    for result in found:
        assert result.summary["trials"] == 30  # every grid point, over the whole span
        assert result.summary["periods"] == 189
        assert any("not significant" in line for line in result.readings), result.readings


def test_a_planted_trend_edge_is_found_out_of_sample(tmp_path):
    """Regime drifts that a fast crossover exploits: the study finds the edge out of sample,
    on every fold, with a low PBO, a significant DSR and the same short averages each fold."""
    catalog = catalog_of(tmp_path / "cat", trend_bars(3))
    result = catalog_study(catalog, tmp_path / "r.duckdb")
    assert result.status == "completed"
    assert len(result.folds) == 6
    oos = result.summary["oos"]
    error = np.sqrt(252 / oos_sessions(result))
    assert oos["sharpe"] > 3 * error, oos["sharpe"]  # far beyond what luck gives (~1.4)
    assert oos["total_return"] > 0
    assert all(f["oos_metrics"]["sharpe"] > 0 for f in result.folds)  # every test window
    assert result.summary["pbo"]["pbo"] < 0.2, result.summary["pbo"]
    assert result.summary["dsr"]["dsr"] > 0.95, result.summary["dsr"]
    chosen = [(f["chosen"]["fast_period"], f["chosen"]["slow_period"]) for f in result.folds]
    # the construction: averages well inside a ~300-bar regime react in time, long ones lag
    assert all(slow <= 90 for _, slow in chosen), chosen
    assert all(fast <= 10 for fast, _ in chosen), chosen
    modal = max(set(chosen), key=chosen.count)
    assert chosen.count(modal) >= 4, chosen  # stable across folds
    assert result.summary["degradation"]["reading"] in result.readings
    # the test runs record the catalog they read, so a rerun finds the same bars
    tested = ResultsStore(tmp_path / "r.duckdb").get(result.folds[0]["oos_run_id"])
    assert tested.settings["catalog"] == str(catalog.resolve())


# -- resume after kill -9 -------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from research_lib.workflows.study import run_study

    run_study(
        "sma_crossover", {"fast_period": list(range(5, 55, 5)),
         "slow_period": list(range(20, 220, 20))},
        walk_forward="train=1M,test=1M", search="optuna", trials=6, data="mock",
        start="2024-01-02", end="2024-03-29", results=sys.argv[1], progress=False,
    )
    """
)


def _optuna_runs(path: Path) -> pd.DataFrame:
    runs = runs_of(path)
    return tagged(runs, "optuna") if len(runs) else runs


def _journal_run_ids(path: Path, study_id: str) -> dict[int, list[str]]:
    """Each fold's Optuna trials' stored run ids, from the study's journal."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = path.with_name(path.name + ".studies") / f"{study_id}.log"
    storage = JournalStorage(JournalFileBackend(str(journal)))
    found = {}
    for number in (1, 2):
        study = storage.get_study_id_from_name(f"{study_id}-fold-{number}")
        trials = storage.get_all_trials(study, deepcopy=False)
        found[number] = [t.user_attrs["run_id"] for t in trials if "run_id" in t.user_attrs]
    return found


def kill_when(code: str, path: Path, ready, what: str) -> None:
    """Run ``code`` (a study) in a child process; ``kill -9`` it once ``ready()`` holds
    (only reading the store while the child writes); fail naming ``what`` if it never does."""
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            if child.poll() is not None:
                pytest.fail(f"the study ended before it was killed: {child.stderr.read()!r}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what} within 180 s")
            if path.exists() and ready():
                break
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stderr.close()


def test_an_optuna_study_killed_midway_resumes_to_the_requested_trials(tmp_path):
    path = tmp_path / "r.duckdb"
    kill_when(CHILD, path, lambda: len(_optuna_runs(path)) >= 3, "no 3 trials stored")
    before = _optuna_runs(path)
    assert len(before) >= 3
    (row,) = list_studies(ResultsStore(path)).to_dict("records")
    assert row["status"] == "running"  # killed: never marked failed or completed
    study_id = row["id"]
    assert set(before["study_id"]) == {study_id}

    result = resume_study(study_id, results=path, progress=False)

    assert result.status == "completed"
    assert get_study(ResultsStore(path), study_id)["status"] == "completed"
    assert [f["trials"] for f in result.folds] == [6, 6]
    runs = runs_of(path, study_id)
    assert len(runs) == len(runs_of(path))  # nothing without the study's id
    after = tagged(runs, "optuna")
    assert set(before["id"]) <= set(after["id"])  # stored before the kill: still there
    assert after["id"].is_unique
    journal = _journal_run_ids(path, study_id)
    for fold in result.folds:
        number = fold["number"]
        stored = tagged(after, f"fold {number}")
        assert len(stored) == 6, (number, stored[["id", "tags"]])  # exactly the requested
        assert len(journal[number]) == 6
        assert len(set(journal[number])) == 6  # an Optuna trial's run appears once
        assert set(journal[number]) == set(stored["id"])
        assert (stored["engine"] == "vector").all()
        tests = tagged(runs, f"fold {number}", "test")
        assert list(tests["id"]) == [fold["oos_run_id"]]  # one test run per fold
    assert fold["best_trial_run_id"] in set(after["id"])

    again = resume_study(study_id, results=path, progress=False)  # completed: as it was
    assert again.folds == result.folds
    assert again.summary == result.summary
    assert sorted(runs_of(path)["id"]) == sorted(runs["id"])


# -- the studies row and the runs -----------------------------------------------------------


def test_the_studies_row_tracks_each_fold_and_the_runs_carry_the_study(tmp_path):
    path = tmp_path / "r.duckdb"
    seen: list[tuple[str, str, int]] = []

    def status(text: str) -> None:  # reads the row as the study goes (this process: no race)
        if text.startswith("fold ") or text.startswith("trial matrix"):
            studies = list_studies(ResultsStore(path))
            if len(studies):
                row = get_study(ResultsStore(path), studies["id"].iloc[0])
                seen.append((text.split(":")[0], row["status"], len(row["folds"])))

    grid = {"fast_period": [5, 10, 15], "slow_period": [30, 60]}
    result = run_study(
        "sma_crossover", grid, walk_forward="train=1M,test=2W", data="mock",
        start="2024-01-02", end="2024-03-15", results=path, progress=False, status=status,
    )  # fmt: skip
    folds = len(result.folds)
    assert folds >= 3
    assert seen == [(f"fold {n}", "running", n - 1) for n in range(1, folds + 1)] + [
        ("trial matrix", "running", folds)
    ]
    row = get_study(ResultsStore(path), result.study_id)
    assert row["status"] == result.status == "completed"
    assert row["strategy"] == "sma_crossover"
    assert row["spec"]["grid"] == grid
    assert row["spec"]["walk_forward"] == "train=1M,test=2W"
    assert get_study(ResultsStore(path), result.study_id[:8])["id"] == result.study_id

    loaded = StudyResult.load(path, result.study_id)
    assert loaded.folds == result.folds
    assert loaded.summary == result.summary
    assert loaded.spec == result.spec
    pd.testing.assert_series_equal(loaded.oos_equity, result.oos_equity)
    assert set(result.summary) >= {"oos", "dsr", "pbo", "degradation", "readings"}
    # the stored curves stitch to what the summary measured on the runs as they ran
    oos = result.summary["oos"]
    chained = np.prod([1 + f["oos_metrics"]["total_return"] for f in result.folds]) - 1
    assert oos["total_return"] == pytest.approx(chained, rel=1e-9, abs=1e-12)
    assert loaded.oos_equity.iloc[-1] == pytest.approx(oos["final_capital"], rel=1e-9)
    assert oos["start"] == result.folds[0]["test_start"]
    assert oos["end"] == result.folds[-1]["test_end"]
    assert oos["trade_count"] == sum(f["oos_metrics"]["trade_count"] for f in result.folds)
    assert len(result.readings) == 4

    runs = runs_of(path)
    assert (runs["study_id"] == result.study_id).all()
    tests, trials = tagged(runs, "test"), tagged(runs, "train")
    assert len(tests) + len(trials) == len(runs)
    assert sorted(tests["id"]) == sorted(f["oos_run_id"] for f in result.folds)
    assert (tests["engine"] == "nautilus").all()
    assert (trials["engine"] == "vector").all()
    for fold in result.folds:
        mine = tagged(trials, f"fold {fold['number']}")
        assert len(mine) == fold["trials"] == 6
        assert fold["best_trial_run_id"] in set(mine["id"])
        assert (mine["start"] >= pd.Timestamp(fold["train_start"])).all()
        assert (mine["end"] <= pd.Timestamp(fold["train_end"])).all()
        test = tagged(tests, f"fold {fold['number']}").iloc[0]
        assert test["start"] >= pd.Timestamp(fold["test_start"])
        assert test["end"] <= pd.Timestamp(fold["test_end"])
    assert result.oos_equity.index.min() >= pd.Timestamp(result.folds[0]["test_start"])
    assert result.oos_equity.index.max() <= pd.Timestamp(result.folds[-1]["test_end"])


# -- one split, random search ----------------------------------------------------------------

SPLIT = {"train": "2024-01-02:2024-03-29", "test": "2024-04-01:2024-05-31"}
SPLIT_GRID = {"fast_period": list(range(5, 55, 5)), "slow_period": list(range(20, 220, 20))}


def _split_study(path: Path, **options) -> StudyResult:
    return run_study(
        "sma_crossover", SPLIT_GRID, **SPLIT, data="mock", start="2024-01-02",
        end="2024-05-31", results=path, progress=False, **options,
    )  # fmt: skip


def test_a_split_study_has_one_fold_with_exactly_its_windows(tmp_path):
    result = _split_study(tmp_path / "r.duckdb", search="random", trials=5)
    (fold,) = result.folds
    bars = generate_bars("2024-01-02", "2024-05-31", seed=DEFAULT_SEED)  # the mock bars
    stamps = pd.to_datetime(bars["timestamp"], utc=True)
    train = (stamps >= pd.Timestamp("2024-01-02", tz="UTC")) & (
        stamps < pd.Timestamp("2024-03-30", tz="UTC")
    )
    test = (stamps >= pd.Timestamp("2024-04-01", tz="UTC")) & (
        stamps < pd.Timestamp("2024-06-01", tz="UTC")
    )
    assert fold["train_bars"] == int(train.sum()) > 0
    assert fold["test_bars"] == int(test.sum()) > 0
    assert pd.Timestamp(fold["train_start"]) == pd.Timestamp("2024-01-02", tz="UTC")
    assert pd.Timestamp(fold["test_start"]) == pd.Timestamp("2024-04-01", tz="UTC")
    assert pd.Timestamp(fold["train_end"]) < pd.Timestamp("2024-03-30", tz="UTC")
    assert pd.Timestamp(fold["train_end"]) >= stamps[train].max()
    assert pd.Timestamp(fold["test_end"]) < pd.Timestamp("2024-06-01", tz="UTC")
    assert pd.Timestamp(fold["test_end"]) >= stamps[test].max()
    assert not fold["partial"]
    assert result.spec["train"] == SPLIT["train"] and result.spec["test"] == SPLIT["test"]

    runs = runs_of(tmp_path / "r.duckdb", result.study_id)
    trials = tagged(runs, "train")
    assert len(trials) == fold["trials"] == len(fold["trial_points"]) == 5
    assert (trials["start"] == stamps[train].min()).all()
    assert (trials["end"] == stamps[train].max()).all()
    (test_run,) = tagged(runs, "test").to_dict("records")
    assert test_run["start"] == stamps[test].min() and test_run["end"] == stamps[test].max()
    assert fold["chosen"] in fold["trial_points"]
    points = [tuple(sorted(p.items())) for p in fold["trial_points"]]
    assert len(set(points)) == 5  # drawn without replacement

    again = _split_study(tmp_path / "again.duckdb", search="random", trials=5)
    assert again.folds[0]["trial_points"] == fold["trial_points"]  # same seed, same points
    assert again.folds[0]["chosen"] == fold["chosen"]
    assert again.study_id != result.study_id


# -- a study of your own DataFrame ----------------------------------------------------------


def test_a_study_of_a_dataframe_resumes_or_is_refused_up_front(tmp_path):
    """A study's spec is stored as JSON so that ``resume_study`` can rebuild it; a DataFrame
    as ``data`` must therefore either survive that (the study resumes) or be refused before
    any work with one line. Interrupted after fold 1 (Ctrl-C), it must go on."""
    path = tmp_path / "r.duckdb"
    bars = generate_bars("2024-01-02", "2024-03-29", seed=3)

    def stop(text: str) -> None:
        if text.startswith("fold 2"):
            raise KeyboardInterrupt

    try:
        run_study(
            "sma_crossover", {"fast_period": [5, 10]}, walk_forward="train=1M,test=1M",
            data=bars, results=path, progress=False, status=stop,
        )  # fmt: skip
    except ConfigError as exc:  # refused: one line, nothing stored
        assert "\n" not in str(exc)
        assert runs_of(path).empty and list_studies(ResultsStore(path)).empty
        return
    except KeyboardInterrupt:
        pass
    (study_id,) = list_studies(ResultsStore(path))["id"]
    assert get_study(ResultsStore(path), study_id)["status"] == "running"
    result = resume_study(study_id, results=path, progress=False)
    assert result.status == "completed"
    assert len(result.folds) == 2


GRID_CHILD = textwrap.dedent(
    """
    import sys
    from research_lib.workflows.study import run_study

    run_study(
        "sma_crossover", {"fast_period": [5, 10, 15], "slow_period": [30, 60]},
        walk_forward="train=1M,test=1M", data="mock", start="2024-01-02", end="2024-03-29",
        results=sys.argv[1], progress=False,
    )
    """
)


def test_a_grid_study_killed_during_a_fold_resumes_without_storing_its_trials_twice(tmp_path):
    """Killed after fold 2's screened trials were stored but before its test run finished:
    the resumed study must not store fold 2's six trials a second time ("without rerunning
    what was stored", as the module says)."""
    path = tmp_path / "r.duckdb"

    def fold_2_trained() -> bool:
        runs = runs_of(path)
        return bool(len(runs) and len(tagged(runs, "fold 2", "train")))

    kill_when(GRID_CHILD, path, fold_2_trained, "fold 2's trials were not stored")
    before = runs_of(path)
    if len(tagged(before, "fold 2", "test")):
        pytest.fail("killed too late: fold 2's test run was already stored")
    assert len(tagged(before, "fold 2", "train")) == 6
    (study_id,) = list_studies(ResultsStore(path))["id"]
    row = get_study(ResultsStore(path), study_id)
    assert row["status"] == "running" and len(row["folds"]) == 1

    result = resume_study(study_id, results=path, progress=False)

    assert result.status == "completed"
    assert [f["number"] for f in result.folds] == [1, 2]
    runs = runs_of(path, study_id)
    assert set(before["id"]) <= set(runs["id"])
    for fold in result.folds:
        assert len(tagged(runs, f"fold {fold['number']}", "train")) == fold["trials"] == 6
        assert list(tagged(runs, f"fold {fold['number']}", "test")["id"]) == [fold["oos_run_id"]]


def test_a_metric_where_lower_is_better_picks_the_lowest_or_is_refused(tmp_path):
    """``metric`` picks each fold's best trial by its largest value. For a metric where less
    is better (the longest drawdown in days, the volatility) that is the worst trial: such a
    metric must either pick the trial with the smallest value or be refused up front."""
    path = tmp_path / "r.duckdb"
    try:
        result = run_study(
            "sma_crossover", {"fast_period": [5, 10, 15], "slow_period": [30, 60]},
            walk_forward="train=1M,test=1M", data="mock", start="2024-01-02",
            end="2024-03-29", metric="max_drawdown_days", results=path, progress=False,
        )  # fmt: skip
    except ConfigError as exc:
        assert "\n" not in str(exc)
        assert runs_of(path).empty
        return
    for fold in result.folds:
        values = fold["trial_values"]
        assert len(set(values)) > 1  # the trials differ: a real choice
        lowest = fold["trial_points"][int(np.argmin(values))]
        assert fold["chosen"] == lowest, (fold["chosen"], values)


def test_a_strategy_without_a_rule_is_searched_in_nautilus(tmp_path, monkeypatch):
    """A user's strategy with no vectorized rule: its trials run in Nautilus (stored as
    nautilus runs of the study), and the trial matrix too."""
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "user_strategies"))
    config = tmp_path / "breakout.yaml"
    config.write_text(
        'strategy_path: "breakout:Breakout"\nconfig_path: "breakout:BreakoutConfig"\n'
        "config:\n  lookback: 10\n"
    )
    path = tmp_path / "r.duckdb"
    result = run_study(
        config, {"lookback": [10, 30]}, train="2024-01-02:2024-01-05",
        test="2024-01-08:2024-01-10", data="mock", start="2024-01-02", end="2024-01-10",
        results=path, progress=False,
    )  # fmt: skip
    runs = runs_of(path, result.study_id)
    assert set(runs["engine"]) == {"nautilus"} and len(runs) == 3  # 2 trials + 1 test
    [fold] = result.folds
    assert fold["trials"] == 2 and fold["chosen"]["lookback"] in (10, 30)
    trials = tagged(runs, "fold 1", "train")
    best = trials.sort_values("sharpe", ascending=False).iloc[0]
    assert fold["chosen"]["lookback"] == json.loads(best["config"])["lookback"]
    assert result.summary["trials"] == 2 and "reading" in result.summary["pbo"]


def test_the_trial_matrix_uses_the_configs_fixed_values(tmp_path):
    """Two configs that differ only in a value the grid does not vary: different trial
    matrices, so a different deflated Sharpe (the fixed value is not dropped)."""
    found = []
    for width in (1.0, 3.0):
        config = tmp_path / f"mr_{width}.yaml"
        config.write_text(f"strategy: mean_reversion\nconfig:\n  num_std_dev: {width}\n")
        result = run_study(
            config, {"lookback_period": [10, 20, 30]}, walk_forward="train=1M,test=1M",
            data="mock", start="2024-01-02", end="2024-03-29", results=tmp_path / "r.duckdb",
            progress=False,
        )  # fmt: skip
        found.append(result.summary["dsr"]["sr"])
        assert all(f["chosen"].keys() == {"lookback_period"} for f in result.folds)
    assert found[0] != found[1]


def test_volatility_picks_the_calmest_trial(tmp_path):
    result = run_study(
        "sma_crossover", {"fast_period": [5, 10, 15], "slow_period": [30, 60]},
        walk_forward="train=1M,test=1M", data="mock", start="2024-01-02", end="2024-03-29",
        metric="volatility", results=tmp_path / "r.duckdb", progress=False,
    )  # fmt: skip
    for fold in result.folds:
        assert fold["is_value"] == min(v for v in fold["trial_values"] if v is not None)
    assert result.summary["degradation"]["reading"] in result.readings  # on Sharpe, always
