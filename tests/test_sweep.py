"""Parameter sweeps: grids, up-front validation, runs in this process with one sweep id
(the Dask cluster runs are in tests/test_dask_sweep.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from factories import make_failure, make_result

from research_lib.data.catalog import Catalog
from research_lib.engine.market import load_market_data
from research_lib.engine.run_config import RunConfig, load_run_config
from research_lib.errors import ConfigError, UnknownStrategyError
from research_lib.store import ResultsStore, db
from research_lib.workflows.points import PointTask, Saver, lost_point, run_point
from research_lib.workflows.sweep import (
    SweepResult,
    as_run_config,
    expand_grid,
    latest_sweep_id,
    parse_grid,
    plan_sweep,
    rank_column,
    sweep,
    sweep_ids,
    sweep_table,
)

ROOT = Path(__file__).resolve().parent.parent
SMA_YAML = ROOT / "configs" / "examples" / "sma_config.yaml"
USER_STRATEGIES = Path(__file__).parent / "user_strategies"
TWO_DAYS = {"start": "2024-01-02", "end": "2024-01-03", "data": "mock"}

# -- parse_grid -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "grid"),
    [
        (["fast_period=5,10,20"], {"fast_period": [5, 10, 20]}),
        (["slow_period=30:60:10"], {"slow_period": [30, 40, 50, 60]}),
        (["slow_period=30:55:10"], {"slow_period": [30, 40, 50]}),
        (["p=1:3"], {"p": [1, 2, 3]}),
        (["p=5:1:-2"], {"p": [5, 3, 1]}),
        (["k=1.5:2.5:0.5"], {"k": [1.5, 2.0, 2.5]}),
        (["k=0.1:0.3:0.1"], {"k": [0.1, 0.2, 0.3]}),
        (["k=1:2:0.25"], {"k": [1.0, 1.25, 1.5, 1.75, 2.0]}),
        (["k=2.5, 3 ,x"], {"k": [2.5, 3, "x"]}),
        (["a=1", " b = 2,3 "], {"a": [1], "b": [2, 3]}),
    ],
)
def test_parse_grid(items, grid):
    assert parse_grid(items) == grid


def test_parse_grid_keeps_int_and_float_types():
    grid = parse_grid(["n=1:3", "x=1:2:0.5"])
    assert all(type(v) is int for v in grid["n"])
    assert all(type(v) is float for v in grid["x"])


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "no grid"),
        (["fast_period"], "expects name=a,b,c"),
        (["=5,10"], "expects name=a,b,c"),
        (["fast period=5"], "expects name=a,b,c"),
        (["p=1", "p=2"], "given twice"),
        (["p="], "p has no values"),
        (["p=5,,10"], "empty value"),
        (["p=[1"], "cannot read value"),
        (["p=1:2:3:4"], "a range is start:stop or start:stop:step"),
        (["p=a:b"], "a range is start:stop"),
        (["p=1:"], "a range is start:stop"),
        (["p=true:3"], "a range is start:stop"),
        (["p=1:5:0"], "finite non-zero"),
        (["p=5:1"], "is empty (start > stop)"),
        (["p=1:5:-1"], "is empty (start < stop)"),
    ],
)
def test_parse_grid_errors(items, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_grid(items)


def test_expand_grid_is_the_cartesian_product():
    points = expand_grid({"a": range(1, 3), "b": (10, 20), "c": "x"})
    assert points == [
        {"a": 1, "b": 10, "c": "x"},
        {"a": 1, "b": 20, "c": "x"},
        {"a": 2, "b": 10, "c": "x"},
        {"a": 2, "b": 20, "c": "x"},
    ]
    with pytest.raises(ConfigError, match="a has no values"):
        expand_grid({"a": []})
    with pytest.raises(ConfigError, match="non-empty dict"):
        expand_grid([("a", [1])])


# -- configs and plans ----------------------------------------------------------------------


def test_as_run_config_from_a_name_a_yaml_file_or_a_run_config():
    by_name = as_run_config("sma")
    assert by_name.strategy_name == "sma_crossover" and by_name.params == {}
    from_file = as_run_config(str(SMA_YAML))
    assert from_file.params["fast_period"] == 10 and from_file.source_file == str(SMA_YAML)
    assert as_run_config(SMA_YAML).params == from_file.params
    assert as_run_config(from_file) is from_file
    with pytest.raises(UnknownStrategyError):
        as_run_config("smaa_crossover")
    with pytest.raises(ConfigError, match="no such file"):
        as_run_config("missing.yaml")
    with pytest.raises(ConfigError, match="config must be a YAML path"):
        as_run_config(42)


def test_plan_skips_invalid_points_up_front():
    plan = plan_sweep("sma_crossover", {"fast_period": [5, 20], "slow_period": [10, 20, 30]})
    assert plan.points == [
        {"fast_period": 5, "slow_period": 10},
        {"fast_period": 5, "slow_period": 20},
        {"fast_period": 5, "slow_period": 30},
        {"fast_period": 20, "slow_period": 30},
    ]
    assert plan.skipped == [
        (
            {"fast_period": 20, "slow_period": 10},
            "slow_period: must be greater than fast_period (20), was 10",
        ),
        (
            {"fast_period": 20, "slow_period": 20},
            "slow_period: must be greater than fast_period (20), was 20",
        ),
    ]
    assert plan.size == 6


def test_plan_checks_points_against_the_config_file_values():
    # The file has fast_period 10: slow_period 10 is invalid with it, 30 is fine.
    plan = plan_sweep(str(SMA_YAML), {"slow_period": [10, 30]})
    assert plan.points == [{"slow_period": 30}]
    assert plan.skipped[0][0] == {"slow_period": 10}


def test_plan_refuses_unknown_parameters_and_all_invalid_grids():
    with pytest.raises(ConfigError, match="no parameter 'fast_perod'; did you mean 'fast_period'"):
        plan_sweep("sma_crossover", {"fast_perod": [5]})
    with pytest.raises(ConfigError, match="no parameter 'instrument_id'"):
        plan_sweep("sma_crossover", {"instrument_id": ["AAPL.SIM"]})
    with pytest.raises(ConfigError, match="none of the 2 grid points is valid; fast_period=30"):
        plan_sweep("sma_crossover", {"fast_period": [30, 40], "slow_period": [20]})


def test_rank_column():
    assert rank_column("return") == "total_return"
    assert rank_column("fast_period", ["fast_period"]) == "fast_period"
    with pytest.raises(ConfigError, match="did you mean 'sharpe'"):
        rank_column("sharp")


# -- running --------------------------------------------------------------------------------


def test_parallel_sweep_stores_every_point_with_one_sweep_id(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    grid = {"fast_period": [5, 10, 40], "slow_period": [20, 30, 40]}
    done = sweep("sma_crossover", grid, workers=2, results=store, progress=False, **TWO_DAYS)
    assert [p for p, _ in done.skipped] == [
        {"fast_period": 40, "slow_period": s} for s in (20, 30, 40)
    ]
    assert done.failed == []
    runs = store.list(limit=None)
    assert len(runs) == 6
    assert set(runs["sweep_id"]) == {done.sweep_id}
    assert set(runs["source"]) == {"sweep"} and set(runs["status"]) == {"completed"}
    table = done.runs
    assert list(table.columns[:4]) == ["id", "created_at", "status", "fast_period"]
    assert "slow_period" in table.columns
    got = sorted(zip(table["fast_period"], table["slow_period"], strict=True))
    want = sorted((p["fast_period"], p["slow_period"]) for p in plan_sweep("sma", grid).points)
    assert got == want
    ranked = done.ranked("total_return")
    assert list(ranked["rank"]) == list(range(1, 7))
    assert ranked["total_return"].is_monotonic_decreasing
    assert done.results == store.path.resolve()
    assert latest_sweep_id(store) == done.sweep_id == sweep_ids(store)[0]


def test_failed_points_are_recorded_and_the_rest_continue(tmp_path):
    store = tmp_path / "results.duckdb"
    # One day is 390 bars: slow_period 500 cannot warm up, so that point fails at run time.
    done = sweep(
        "sma_crossover",
        {"fast_period": [5], "slow_period": [20, 500]},
        start="2024-01-02",
        end="2024-01-02",
        data="mock",
        results=store,
        progress=True,
        tags=["t"],
    )
    assert [p for p, _ in done.failed] == [{"fast_period": 5, "slow_period": 500}]
    assert "DataRangeError" in done.failed[0][1] and "needs at least 501" in done.failed[0][1]
    assert sorted(done.runs["status"]) == ["completed", "failed"]
    failed_row = done.runs[done.runs["status"] == "failed"].iloc[0]
    assert failed_row["slow_period"] == 500 and "needs at least 501" in failed_row["error"]
    assert len(done.completed) == 1 and len(done.ranked()) == 1
    loaded = SweepResult.load(ResultsStore(store), done.sweep_id)
    assert loaded.grid == {"slow_period": [20, 500]}
    assert loaded.failed[0][0] == {"slow_period": 500}


def test_sweep_on_catalog_bars_from_a_yaml_config(tmp_path):
    catalog = Catalog(tmp_path / "catalog")
    catalog.import_csv(ROOT / "data" / "sample_AAPL.csv", symbol="AAPL")
    store = tmp_path / "results.duckdb"
    done = sweep(
        load_run_config(SMA_YAML),
        {"slow_period": [20, 30]},
        start="2024-01-02",
        end="2024-01-02",
        catalog=catalog,
        results=store,
        progress=False,
    )
    assert done.failed == [] and len(done.runs) == 2
    stored = ResultsStore(store).get(done.runs["id"].iloc[0])
    assert stored.settings["data"] == "catalog"
    assert stored.settings["catalog"] == str(catalog.root.resolve())
    assert stored.config["fast_period"] == 10  # from the YAML file


def test_sweep_via_papermill_records_the_notebooks(tmp_path):
    store = tmp_path / "results.duckdb"
    done = sweep(
        "sma_crossover",
        {"fast_period": [5, 30], "slow_period": [20]},
        results=store,
        via="papermill",
        output_dir=tmp_path / "out",
        progress=False,
        **TWO_DAYS,
    )
    assert len(done.skipped) == 1 and done.failed == []
    stored = ResultsStore(store).get(done.runs["id"].iloc[0])
    assert stored.run["source"] == "sweep" and stored.run["sweep_id"] == done.sweep_id
    notebook = Path(stored.run["notebook_path"])
    assert notebook.parent == tmp_path / "out" and notebook.exists()
    assert stored.config["fast_period"] == 5


def test_sweep_argument_errors(tmp_path):
    import pandas as pd

    grid = {"fast_period": [5]}
    with pytest.raises(ConfigError, match="via must be one of runner, papermill"):
        sweep("sma", grid, via="nbclient")
    with pytest.raises(ConfigError, match="workers must be"):
        sweep("sma", grid, workers=0)
    with pytest.raises(ConfigError, match="needs data='mock' or 'catalog'"):
        sweep("sma", grid, via="papermill", data=pd.DataFrame(), results=tmp_path / "r.duckdb")


def test_a_point_no_worker_could_finish_is_recorded_as_failed(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    options = {
        "sweep_id": "s-dead", "source": "sweep", "data": "mock",
        "seed": 7, "start": "2024-01-02", "end": "2024-01-03",
    }  # fmt: skip
    task = PointTask(3, {"fast_period": 5}, "runner", as_run_config("sma"), options)
    outcome = lost_point(task, "worker process died twice running it")
    assert (outcome.index, outcome.error) == (3, "worker process died twice running it")
    saver = Saver(store)
    saver(task, outcome)
    assert saver.saved == [str(store.path)] and saver.kept == []
    stored = ResultsStore(store.path).get(outcome.bundles[0].id)
    assert stored.status == "failed" and stored.run["sweep_id"] == "s-dead"
    assert stored.run["error"] == "worker process died twice running it"
    # Recorded with the settings a rerun needs, like every other run.
    assert stored.settings["seed"] == 7 and stored.settings["end"] == "2024-01-03"
    assert stored.settings["starting_balance"] == 100_000.0
    assert stored.config == {"fast_period": 5}


def _comparable(bundle):
    row = dict(bundle.row)
    for key in ("id", "created_at", "duration_seconds"):
        row.pop(key)
    return row, bundle.trades.drop_columns("run_id"), bundle.equity.drop_columns("run_id")


@pytest.mark.parametrize("params", [{"fast_period": 5, "slow_period": 20}, {"slow_period": 9000}])
def test_bars_sent_to_a_worker_give_the_run_a_direct_run_gives(tmp_path, params):
    # The worker gets the bars once (a DataFrame inside) but records the run as asked.
    catalog = Catalog(tmp_path / "catalog")
    catalog.import_csv(ROOT / "data" / "sample_AAPL.csv", symbol="AAPL")
    options = {
        "data": "catalog", "catalog": str(catalog.root), "symbol": "AAPL", "start": "2024-01-02",
        "end": "2024-02-09", "seed": 42, "source": "sweep", "sweep_id": "s", "tags": ["t"],
        "bar_spec": None,
    }  # fmt: skip
    task = PointTask(0, params, "runner", as_run_config("sma"), options)
    market = load_market_data("catalog", "AAPL", "2024-01-02", "2024-02-09", catalog.root)
    assert market.warnings  # the range asked for ends after the data: a warning to keep
    direct, sent = run_point(task, None), run_point(task, market)
    assert (direct.error is None) == (sent.error is None) == ("fast_period" in params)
    assert len(direct.bundles) == len(sent.bundles) == 1
    want, got = _comparable(direct.bundles[0]), _comparable(sent.bundles[0])
    assert got[0] == want[0]
    assert got[1].equals(want[1]) and got[2].equals(want[2])


def test_runs_kept_pending_when_the_store_cannot_be_written(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "results.duckdb")
    store.save(make_result())  # the file exists; from now on it cannot be written
    real_open = db.open_file

    def read_only(path: str, read_only: bool):
        if not read_only:
            raise duckdb.IOException("IO Error: Cannot open file: Permission denied")
        return real_open(path, read_only)

    monkeypatch.setattr(db, "open_file", read_only)
    done = sweep("sma", {"fast_period": [5, 10]}, results=store, progress=False, **TWO_DAYS)
    assert done.finished == 2 and done.failed == [] and len(done.kept) == 2
    assert all(Path(kept).exists() for kept in done.kept) and done.runs.empty
    monkeypatch.undo()
    assert len(ResultsStore(store.path).list(sweep_id=done.sweep_id)) == 2  # joined on read


def test_sweep_tables_of_an_empty_or_unknown_sweep(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    assert latest_sweep_id(store) is None
    assert sweep_table(store, "nope").empty
    with pytest.raises(ConfigError, match="no runs with sweep id nope"):
        SweepResult.load(store, "nope")


def test_run_config_objects_are_accepted(tmp_path):
    config = RunConfig(
        strategy_path="research_lib.strategies.sma_crossover:SMACrossover",
        config_path="research_lib.strategies.sma_crossover:SMAConfig",
        strategy_name="sma_crossover",
        params={"fast_period": 3},
    )
    done = sweep(
        config, {"slow_period": [8]}, results=tmp_path / "r.duckdb", progress=False, **TWO_DAYS
    )
    assert done.runs["slow_period"].tolist() == [8]


def test_sweep_tables_are_read_without_a_query_per_run(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "r.duckdb")
    for fast, slow in ((5, 20), (10, 20), (5, 30)):  # two parameters vary
        store.save(make_result(sweep_id="two", config={"fast_period": fast, "slow_period": slow}))
    store.save_failure(make_failure(sweep_id="two", config={"fast_period": 10, "slow_period": 30}))
    for fast in (5, 10):  # the newest sweep: one parameter varies
        store.save(make_result(sweep_id="one", config={"fast_period": fast, "slow_period": 20}))
    store.save(make_result())  # no sweep

    def no_get(self, run_id):
        raise AssertionError("sweep tables must not read runs one by one")

    monkeypatch.setattr(ResultsStore, "get", no_get)
    assert sweep_ids(store) == ["one", "two"]
    assert latest_sweep_id(store) == "one"
    assert latest_sweep_id(store, min_params=2) == "two"
    assert latest_sweep_id(store, min_params=3) is None
    loaded = SweepResult.load(store, "two")
    assert loaded.grid == {"fast_period": [5, 10], "slow_period": [20, 30]}
    assert loaded.failed == [({"fast_period": 10, "slow_period": 30}, "ValueError: boom")]
    table = sweep_table(store, "two")
    assert list(table.columns[:5]) == ["id", "created_at", "status", "fast_period", "slow_period"]
    assert table[["fast_period", "slow_period"]].values.tolist() == [
        [5, 20], [5, 30], [10, 20], [10, 30]
    ]  # fmt: skip
    assert sweep_table(store, "one", ["slow_period"])["slow_period"].tolist() == [20, 20]
