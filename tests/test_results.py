"""The results store, on hand-built results and records (no Nautilus runs here)."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import shutil
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from factories import V1_STORE, execution_settings, make_failure, make_result
from servers import wait_until

import research_lib.store.db as db_module
import research_lib.store.pending as pending_module
from research_lib.errors import ResultsError
from research_lib.model.metrics import PERFORMANCE_NAMES
from research_lib.model.run import TRADE_COLUMNS, RunRecord
from research_lib.model.series import MAX_EQUITY_POINTS, downsample_equity
from research_lib.settings import results_path
from research_lib.store import NotSavedWarning, ResultsStore, StoreUnavailableError
from research_lib.store.migrations import MIGRATIONS, schema_version
from research_lib.store.records import bundle_of, config_hash
from research_lib.store.schema import (
    RUN_COLUMNS,
    RUN_COLUMNS_V1,
    RUN_COLUMNS_V3,
    RUN_COLUMNS_V4,
    SCHEMA_VERSION,
)
from research_lib.store.store import default_path
from research_lib.workflows.export import export_run
from research_lib.workflows.reproduce import rerun_arguments

START = pd.Timestamp("2024-01-02 14:30", tz="UTC")


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "results" / "r.duckdb", lock_timeout=2.0)


def _count(path: Path, table: str, run_id: str | None = None) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        if run_id is None:
            return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        column = "id" if table == "runs" else "run_id"
        sql = f"SELECT count(*) FROM {table} WHERE {column} = ?"
        return con.execute(sql, [run_id]).fetchone()[0]


# -- round trips ---------------------------------------------------------------------------


def test_save_and_get_round_trip_exact_values(store: ResultsStore) -> None:
    result = make_result(tags=["baseline"], sweep_id="sw1")

    run_id = store.save(result)
    got = store.get(run_id)

    assert run_id == result.run_id
    row = got.run
    assert row["status"] == "completed" and row["error"] is None
    assert (row["strategy"], row["symbol"], row["source"]) == ("sma_crossover", "AAPL", "python")
    assert row["tags"] == ["baseline"] and row["sweep_id"] == "sw1"
    assert row["start"] == START and row["end"] == START + pd.Timedelta(minutes=9)
    assert row["initial_capital"] == 100_000.0 and row["final_capital"] == 101_000.0
    assert row["total_return"] == pytest.approx(0.01, abs=0) or row["total_return"] == (
        101_000.0 / 100_000.0 - 1
    )
    assert row["trade_count"] == 3 and row["bar_count"] == 10
    for name, value in result.metrics.items():
        assert row[name] == value
    assert row["config_hash"] == config_hash(result.config)
    assert row["data_fingerprint"] == "f" * 64 and row["data_source"] == "mock"
    assert row["settings"] == result.settings
    assert row["research_lib_version"] == "0.1.0"
    assert row["nautilus_trader_version"] == "1.231.0"
    assert row["warnings"] == ["2 orders were refused"]
    assert row["equity_length"] == 10
    assert got.config == result.config
    assert got.stats == result.stats
    pd.testing.assert_frame_equal(got.trades, result.trades, check_dtype=False)
    assert list(got.trades.columns) == TRADE_COLUMNS
    pd.testing.assert_series_equal(got.equity, result.equity, check_freq=False)
    assert got.metrics["sharpe"] == 1.5 and got.id == run_id and got.status == "completed"
    assert got.performance == result.performance and got.metric_notes == {}
    assert row["periods_per_year"] == 252.0 == got.periods_per_year
    assert row["performance"] == result.performance  # a JSON column, read back decoded
    for name in PERFORMANCE_NAMES:  # every metric a DOUBLE column of its own
        assert row[name] == result.performance["values"][name]
    assert row["benchmark_return"] == pytest.approx(1.2)  # 12th of PERFORMANCE_NAMES


def test_config_hash_is_canonical() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    execution = {"fill_timing": "close", "costs": {"commission_rate": 0.0}}
    # settings without an execution (runs from before fills were configurable) hash as before
    assert (
        config_hash({"a": 1}, {"seed": 3}) == config_hash({"a": 1}) == config_hash({"a": 1}, None)
    )
    with_execution = config_hash({"a": 1}, {"execution": execution, "seed": 3})
    assert with_execution != config_hash({"a": 1})
    assert with_execution == config_hash({"a": 1}, {"execution": execution, "seed": 4})  # only it
    costly = {**execution, "costs": {"commission_rate": 0.0005}}
    assert config_hash({"a": 1}, {"execution": costly}) != with_execution


def test_default_path_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RESEARCH_LIB_RESULTS", raising=False)
    assert default_path() == results_path()
    assert default_path().parts[-2:] == ("results", "results.duckdb")
    monkeypatch.setenv("RESEARCH_LIB_RESULTS", str(tmp_path / "x.duckdb"))
    assert ResultsStore().path == tmp_path / "x.duckdb"


def test_save_creates_parent_dirs_and_refuses_duplicates(store: ResultsStore) -> None:
    result = make_result()
    store.save(result)
    assert store.path.exists()
    with pytest.raises(ResultsError, match="already stored"):
        store.save(result)


def test_result_with_no_trades_and_nan_stats(store: ResultsStore) -> None:
    result = make_result(sharpe=float("nan"), trades=pd.DataFrame(columns=TRADE_COLUMNS))
    store.save(result)
    got = store.get(result.run_id)
    assert got.trades.empty and got.run["trade_count"] == 0 and got.run["sharpe"] is None
    assert got.metrics["sharpe"] is None and got.performance["values"]["sharpe"] is None
    assert got.trades_summary() == {"count": 0}


def test_trades_summary(store: ResultsStore) -> None:
    store.save(result := make_result())
    summary = store.get(result.run_id).trades_summary()
    assert (summary["count"], summary["long"], summary["short"]) == (3, 2, 1)
    assert (summary["winners"], summary["losers"], summary["total_pnl"]) == (2, 1, 125.0)
    assert summary["best"]["position_id"] == "P-1" and summary["worst"]["position_id"] == "P-2"
    assert summary["first"]["position_id"] == "P-1" and summary["last"]["position_id"] == "P-3"


# -- ids -----------------------------------------------------------------------------------


def test_prefix_ids_and_ambiguity(store: ResultsStore) -> None:
    a = "ab12" + str(uuid.uuid4())[4:]
    b = "ab9f" + str(uuid.uuid4())[4:]
    store.save(make_result(a))
    store.save(make_result(b))

    assert store.get("AB12").id == a
    assert store.resolve("ab9") == b
    with pytest.raises(ResultsError) as err:
        store.get("ab")
    assert str(err.value).startswith("run id prefix 'ab' is ambiguous: matches ")
    assert a[:8] + "…" in str(err.value) and b[:8] + "…" in str(err.value)
    with pytest.raises(ResultsError, match=r"no run 'zz' .*research-lib backtest list-results"):
        store.get("zz")
    with pytest.raises(ResultsError, match="empty run id"):
        store.get("  ")


def test_get_on_missing_store_says_unknown(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "none.duckdb")
    with pytest.raises(ResultsError, match="no run 'abc'"):
        store.get("abc")
    assert store.list().empty
    assert not store.path.exists()


# -- list ----------------------------------------------------------------------------------


def _populate(store: ResultsStore) -> dict[str, str]:
    runs = {
        "best": make_result(sharpe=3.0, final_capital=103_000.0, tags=["x"]),
        "mid": make_result(sharpe=1.0, strategy="momentum", symbol="MSFT", sweep_id="s1"),
        "none": make_result(sharpe=None, final_capital=99_000.0, sweep_id="s1"),
    }
    ids = {}
    for name, result in runs.items():
        ids[name] = store.save(result)
        time.sleep(0.002)  # distinct created_at
    ids["failed"] = store.save_failure(
        make_failure("ValueError: boom", strategy="sma_crossover", settings={"symbol": "AAPL"})
    )
    return ids


def test_list_filters_and_ordering(store: ResultsStore) -> None:
    ids = _populate(store)

    newest_first = store.list()
    assert list(newest_first["id"]) == [ids["failed"], ids["none"], ids["mid"], ids["best"]]
    by_sharpe = store.list(order_by="sharpe")
    assert list(by_sharpe["id"][:2]) == [ids["best"], ids["mid"]]  # NULLs last
    assert set(by_sharpe["id"][2:]) == {ids["none"], ids["failed"]}
    ascending = store.list(order_by="sharpe", descending=False, status="completed")
    assert list(ascending["id"]) == [ids["mid"], ids["best"], ids["none"]]
    by_return = store.list(order_by="return", limit=1)
    assert list(by_return["id"]) == [ids["best"]]
    assert by_return["total_return"].iloc[0] == pytest.approx(0.03)

    assert set(store.list(strategy="momentum")["id"]) == {ids["mid"]}
    assert set(store.list(strategy="research_lib.strategies.momentum:Strategy")["id"]) == {
        ids["mid"]
    }
    assert set(store.list(symbol="MSFT")["id"]) == {ids["mid"]}
    assert set(store.list(status="failed")["id"]) == {ids["failed"]}
    assert set(store.list(tag="x")["id"]) == {ids["best"]}
    assert set(store.list(sweep_id="s1")["id"]) == {ids["mid"], ids["none"]}
    assert len(store.list(since="2000-01-01")) == 4
    assert store.list(since=pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).empty
    assert len(store.list(limit=None)) == 4


def test_list_rejects_bad_arguments(store: ResultsStore) -> None:
    _populate(store)
    with pytest.raises(ResultsError, match="cannot sort by 'sharp': did you mean 'sharpe'"):
        store.list(order_by="sharp")
    with pytest.raises(ResultsError, match="cannot sort by 'id; DROP TABLE runs'"):
        store.list(order_by="id; DROP TABLE runs")
    with pytest.raises(ResultsError, match="unknown status 'complete': did you mean 'completed'"):
        store.list(status="complete")
    with pytest.raises(ResultsError, match="since must be a date"):
        store.list(since="yesterday-ish")
    with pytest.raises(ResultsError, match="limit must be at least 1"):
        store.list(limit=0)
    assert store.list(strategy="x' OR '1'='1").empty  # parameters, not string-built SQL


def test_list_100k_runs_is_fast(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "big.duckdb")
    store.save(make_result())
    with duckdb.connect(str(store.path)) as con:
        con.execute(
            """
            INSERT INTO runs (id, created_at, status, strategy, symbol, trade_count,
                              total_return, sharpe, max_drawdown, tags, config)
            SELECT uuid()::VARCHAR, TIMESTAMPTZ '2024-01-01' + to_seconds(i),
                   'completed', 'sma_crossover', 'AAPL', i % 50, (i % 97) / 1000.0,
                   CASE WHEN i % 10 = 0 THEN NULL ELSE (i % 89) / 10.0 END,
                   -(i % 13) / 100.0, ['t' || (i % 5)], '{"fast_period": 10}'
            FROM range(100000) t(i)
            """
        )
    fresh = ResultsStore(store.path)  # includes the first-open schema check
    newest = fresh.list(limit=20)
    best = fresh.list(order_by="sharpe", limit=20, tag="t1")
    assert len(newest) == 20 and len(best) == 20
    assert newest["created_at"].is_monotonic_decreasing
    assert best["sharpe"].iloc[0] == 8.8
    assert best["sharpe"].is_monotonic_decreasing
    assert all("t1" in list(tags) for tags in best["tags"])


# -- compare, equity, delete ---------------------------------------------------------------


def test_compare_metrics_and_config_diff(store: ResultsStore) -> None:
    a = store.save(make_result(config={"fast_period": 10, "slow_period": 20, "size": 1}))
    b = store.save(make_result(sharpe=2.0, config={"fast_period": 5, "slow_period": 20}))

    comparison = store.compare([a[:6], b])

    assert comparison.run_ids == [a, b]
    assert list(comparison.metrics.columns) == [a[:8], b[:8]]
    assert comparison.metrics.loc["sharpe"].tolist() == [1.5, 2.0]
    assert comparison.metrics.loc["trade_count"].tolist() == [3, 3]
    assert comparison.metrics.loc["final_capital"].tolist() == [101_000.0, 101_000.0]
    assert list(comparison.config_diff.index) == ["fast_period", "size"]
    assert comparison.config_diff.loc["fast_period"].tolist() == [10, 5]
    assert comparison.config_diff.loc["size"].tolist() == [1, None]


def test_compare_includes_differing_settings(store: ResultsStore) -> None:
    first = make_result()
    second = make_result().replace(settings={**first.settings, "seed": 8})
    comparison = store.compare([store.save(first), store.save(second)])
    assert list(comparison.config_diff.index) == ["settings.seed"]
    assert comparison.config_diff.loc["settings.seed"].tolist() == [7, 8]


def test_equity_aligns_and_forward_fills(store: ResultsStore) -> None:
    index = pd.date_range("2024-01-02 14:31", periods=4, freq="2min", tz="UTC", name="timestamp")
    a = make_result(equity=pd.Series([1.0, 2.0, 3.0, 4.0], index=index))
    b = make_result(equity=pd.Series([10.0, 20.0], index=index[:2] + pd.Timedelta("1min")))
    ids = [store.save(a), store.save(b)]

    curves = store.equity(ids)

    assert list(curves.columns) == [ids[0][:8], ids[1][:8]]
    assert len(curves) == 6
    assert curves[ids[0][:8]].tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 4.0]
    assert curves[ids[1][:8]].iloc[1:].tolist() == [10.0, 10.0, 20.0, 20.0, 20.0]
    assert np.isnan(curves[ids[1][:8]].iloc[0])


def test_delete_removes_run_trades_and_equity(store: ResultsStore) -> None:
    keep, gone = store.save(make_result()), store.save(make_result())
    assert store.delete([gone[:8], gone]) == 1
    for table in ("runs", "trades", "equity_curves"):
        assert _count(store.path, table, gone) == 0
        assert _count(store.path, table, keep) > 0
    with pytest.raises(ResultsError, match="no run"):
        store.get(gone)
    with pytest.raises(ResultsError, match="no run"):
        store.delete(["nope"])
    assert _count(store.path, "runs") == 1


# -- failures ------------------------------------------------------------------------------


def test_failed_run_is_recorded_with_what_is_known(store: ResultsStore) -> None:
    record = RunRecord.failed(
        "ConfigError: fast >= slow",
        "Traceback...",
        id=str(uuid.uuid4()),
        strategy="sma_crossover",
        strategy_path="research_lib.strategies.sma_crossover:SMACrossover",
        config_path="research_lib.strategies.sma_crossover:SMAConfig",
        config={"fast_period": 30, "slow_period": 20},
        settings={"data": "mock", "symbol": "AAPL", "start": "2024-01-02", "end": "bad"},
        source="notebook",
        tags=["t"],
        sweep_id="s9",
        notebook_path="notebooks/x.ipynb",
        duration_seconds=0.5,
    )
    saved_to = store.save_failure_or_keep(record)
    assert saved_to == str(store.path)

    got = store.get(record.id)
    row = got.run
    assert row["status"] == "failed"
    assert row["error"] == "ConfigError: fast >= slow" and row["traceback"] == "Traceback..."
    assert got.config == {"fast_period": 30, "slow_period": 20}
    assert (row["source"], row["tags"], row["sweep_id"]) == ("notebook", ["t"], "s9")
    assert row["notebook_path"] == "notebooks/x.ipynb" and row["symbol"] == "AAPL"
    assert row["start"] == pd.Timestamp("2024-01-02", tz="UTC") and row["end"] is None
    assert row["duration_seconds"] == 0.5 and row["trade_count"] == 0
    assert got.trades.empty and got.equity.empty
    assert "nautilus_trader" in row["versions"]
    assert store.list(status="failed")["error"].tolist() == ["ConfigError: fast >= slow"]


# -- equity downsampling -------------------------------------------------------------------


def test_downsample_keeps_shape_and_limit() -> None:
    n = 1_000_000
    index = pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC")
    rng = np.random.default_rng(1)
    curve = pd.Series(100_000 + np.cumsum(rng.normal(0, 5, n)), index=index)

    small = downsample_equity(curve)

    assert 4_000 < len(small) <= MAX_EQUITY_POINTS
    assert small.index.is_monotonic_increasing
    assert small.iloc[0] == curve.iloc[0] and small.iloc[-1] == curve.iloc[-1]
    assert small.min() == curve.min() and small.max() == curve.max()
    assert small.index[small.argmin()] == curve.index[curve.argmin()]
    assert downsample_equity(curve.iloc[:100]) is not None
    assert len(downsample_equity(curve.iloc[:100])) == 100


def test_long_equity_is_stored_downsampled(store: ResultsStore) -> None:
    result = make_result(bars=20_000)
    store.save(result)
    got = store.get(result.run_id)
    assert len(got.equity) <= MAX_EQUITY_POINTS and got.run["equity_length"] == 20_000
    assert got.equity.iloc[-1] == result.equity.iloc[-1]


# -- transactions and schema ---------------------------------------------------------------


def test_crash_during_save_leaves_no_partial_run(
    store: ResultsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(make_result())  # the tables exist and hold one run
    original = db_module.insert_arrow

    def failing(con, name, table):
        if name == "equity_curves":
            raise RuntimeError("disk on fire")
        original(con, name, table)

    monkeypatch.setattr(db_module, "insert_arrow", failing)
    result = make_result()
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.save(result)
    for table in ("runs", "trades", "equity_curves"):
        assert _count(store.path, table, result.run_id) == 0
    assert _count(store.path, "runs") == 1


def test_upgrades_an_unversioned_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:  # the layout before the meta table existed
        con.execute(
            "CREATE TABLE runs (id VARCHAR PRIMARY KEY, created_at TIMESTAMPTZ, "
            "status VARCHAR, strategy VARCHAR, symbol VARCHAR, sharpe DOUBLE)"
        )
        con.execute("CREATE TABLE trades (run_id VARCHAR, side VARCHAR)")
        con.execute(
            "INSERT INTO runs VALUES ('0ld00000-0000-0000-0000-000000000000', "
            "TIMESTAMPTZ '2023-06-01 00:00:00+00', 'completed', 'sma_crossover', 'AAPL', 0.7)"
        )
    store = ResultsStore(path)

    listed = store.list()

    assert listed["id"].tolist() == ["0ld00000-0000-0000-0000-000000000000"]
    assert listed["sharpe"].tolist() == [0.7] and listed["total_return"].isna().all()
    with duckdb.connect(str(path), read_only=True) as con:
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)
    run_id = store.save(make_result())
    assert store.get(run_id).trades["position_id"].tolist() == ["P-1", "P-2", "P-3"]
    assert store.get("0ld").run["config"] is None


def test_newer_schema_is_refused_and_the_run_kept(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "r.duckdb")
    store.save(make_result())
    with duckdb.connect(str(store.path)) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    newer = ResultsStore(store.path)
    with pytest.warns(NotSavedWarning, match="newer than this research-lib"):
        kept = newer.save_or_keep(make_result())
    assert Path(kept).parent == newer.pending_dir
    with pytest.raises(ResultsError, match="schema version 99"):
        newer.list()


# -- concurrency ---------------------------------------------------------------------------


def _save_from_process(path: str, run_id: str, barrier) -> None:
    barrier.wait(timeout=60)
    saved_to = ResultsStore(path).save_or_keep(make_result(run_id))
    if saved_to != path:
        raise SystemExit(f"kept pending: {saved_to}")


def test_eight_processes_save_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "r.duckdb")
    ResultsStore(path).save(make_result())  # schema in place; workers race only on the lock
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(8)
    ids = [str(uuid.uuid4()) for _ in range(8)]
    workers = [
        ctx.Process(target=_save_from_process, args=(path, run_id, barrier)) for run_id in ids
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=90)
    assert [w.exitcode for w in workers] == [0] * 8
    stored = set(ResultsStore(path).list(limit=None)["id"])
    assert set(ids) <= stored and len(stored) == 9
    assert _count(Path(path), "trades") == 27


def test_lock_conflicts_are_retried(store: ResultsStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save(make_result())
    calls = {"n": 0}
    real_open = db_module.open_file

    def sometimes_locked(path: str, read_only: bool):
        calls["n"] += 1
        if calls["n"] <= 3:
            raise duckdb.IOException('IO Error: Could not set lock on file "x": Conflicting lock')
        return real_open(path, read_only)

    monkeypatch.setattr(db_module, "open_file", sometimes_locked)
    run_id = store.save(make_result())
    assert calls["n"] == 4
    assert store.get(run_id).id == run_id


def test_real_lock_from_another_process_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    marker = tmp_path / "about-to-release"
    ResultsStore(path).save(make_result())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, pathlib, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('locked', flush=True); time.sleep(0.7); pathlib.Path(sys.argv[2]).touch(); "
            "con.close()",
            str(path),
            str(marker),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    run_id = ResultsStore(path).save(make_result())
    # The save went through only once the other process was about to release its lock.
    assert marker.exists()
    holder.wait(timeout=10)
    holder.stdout.close()
    assert ResultsStore(path).get(run_id).id == run_id


_HOLD_WRITE = (
    "import pathlib, sys, time\n"
    "from research_lib.store import db\n"
    "with db.connect(pathlib.Path(sys.argv[1]), write=True):\n"
    "    print('writing', flush=True)\n"
    "    while not pathlib.Path(sys.argv[2]).exists():\n"
    "        time.sleep(0.01)\n"
)
_SAVE_FAILURE = (
    "import sys\n"
    "from research_lib.model.run import RunRecord\n"
    "from research_lib.store import ResultsStore\n"
    "print('saving', flush=True)\n"
    "ResultsStore(sys.argv[1]).save_failure(RunRecord.failed('x', id=sys.argv[2]))\n"
)


_READERS_WAITING = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR)\n"
    "try:\n"
    "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 1)\n"
    "except OSError:\n"
    "    print('held')\n"
)


def _readers_waiting(store: Path) -> bool:
    """Whether some process holds the readers' byte of ``store``'s turn lock (see db.py)."""
    lock = store.with_name(store.name + ".lock")
    args = [sys.executable, "-c", _READERS_WAITING, str(lock)]
    return subprocess.run(args, capture_output=True, text=True).stdout.strip() == "held"


def test_a_waiting_reader_goes_before_queued_writers(tmp_path: Path) -> None:
    """A reader that asked while a write was under way reads as soon as that write ends,
    before a writer that was queued behind it (readers wait for one write, not a queue)."""
    import threading

    path = tmp_path / "r.duckdb"
    go = tmp_path / "go"
    ResultsStore(path).save(first := make_result())
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITE, str(path), str(go)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "writing"
    queued = subprocess.Popen(
        [sys.executable, "-c", _SAVE_FAILURE, str(path), "queued-writer"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert queued.stdout.readline().strip() == "saving"
    seen: list[set[str]] = []
    reader = threading.Thread(target=lambda: seen.append(set(ResultsStore(path).list()["id"])))
    reader.start()
    wait_until(lambda: _readers_waiting(path), timeout=60, what="the reader to queue up")
    time.sleep(0.2)  # and the queued writer (a late writer would only wait for the reader)
    go.touch()
    reader.join(timeout=60)
    assert holder.wait(timeout=60) == 0 and queued.wait(timeout=60) == 0
    holder.stdout.close()
    queued.stdout.close()
    assert seen == [{first.run_id}]  # read before the queued writer's run was added
    assert set(ResultsStore(path).list()["id"]) == {first.run_id, "queued-writer"}


def test_store_path_problems_are_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    with pytest.raises(StoreUnavailableError, match="is a folder; expected a DuckDB file"):
        ResultsStore(folder).list()
    garbage = tmp_path / "x.duckdb"
    garbage.write_bytes(b"garbage" * 10)
    with pytest.raises(StoreUnavailableError, match="not a DuckDB database file"):
        ResultsStore(garbage).list()
    assert garbage.read_bytes() == b"garbage" * 10


# -- pending files -------------------------------------------------------------------------


def _unwritable(monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    real_open = db_module.open_file

    def refuse(path: str, read_only: bool):
        if not read_only:
            raise duckdb.IOException(message)
        return real_open(path, read_only)

    monkeypatch.setattr(db_module, "open_file", refuse)


def test_unwritable_store_keeps_the_run_and_ingests_it_later(
    store: ResultsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(first := make_result())
    _unwritable(monkeypatch, "IO Error: Cannot open file: Permission denied")
    kept_run = make_result()
    with pytest.warns(NotSavedWarning) as caught:
        kept = store.save_or_keep(kept_run)
    message = str(caught[0].message)
    assert kept == str(store.pending_dir / f"{kept_run.run_id}.json")
    assert "was NOT saved" in message and kept in message and "Permission denied" in message
    assert json.loads(Path(kept).read_text())["row"]["id"] == kept_run.run_id
    with pytest.warns(NotSavedWarning):
        failed_kept = store.save_failure_or_keep(make_failure("boom", "tb", id="f00"))
    assert Path(failed_kept).exists()
    assert _count(store.path, "runs") == 1

    monkeypatch.undo()
    later = ResultsStore(store.path)
    later.save(third := make_result())
    assert set(later.list()["id"]) == {first.run_id, kept_run.run_id, third.run_id, "f00"}
    got = later.get(kept_run.run_id)
    pd.testing.assert_frame_equal(got.trades, kept_run.trades, check_dtype=False)
    pd.testing.assert_series_equal(got.equity, kept_run.equity, check_freq=False)
    assert not store.pending_dir.exists()


def test_pending_runs_are_ingested_on_first_read(
    store: ResultsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(make_result())
    _unwritable(monkeypatch, "IO Error: No space left on device")
    with pytest.warns(NotSavedWarning, match="No space left"):
        store.save_or_keep(kept := make_result())
    monkeypatch.undo()
    assert kept.run_id in set(ResultsStore(store.path).list()["id"])
    assert not list(store.pending_dir.glob("*.json"))


def test_locked_past_the_timeout_keeps_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResultsStore(tmp_path / "r.duckdb", lock_timeout=0.1)
    _unwritable(monkeypatch, 'IO Error: Could not set lock on file "r.duckdb"')
    with pytest.raises(StoreUnavailableError, match="stayed locked"):
        store.save(make_result())
    with pytest.warns(NotSavedWarning, match="stayed locked"):
        kept = store.save_or_keep(make_result())
    assert Path(kept).exists()


def test_pending_falls_back_to_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = ResultsStore(blocker / "r.duckdb")  # cannot create the store nor its .pending
    temp = tmp_path / "tmp-pending"
    monkeypatch.setattr(pending_module, "temp_dir", lambda: temp)
    monkeypatch.setattr(pending_module, "state_dir", lambda: tmp_path / "state")

    with pytest.warns(NotSavedWarning, match="is not writable either"):
        kept = Path(store.save_or_keep(result := make_result()))

    assert kept.parent == temp and kept.exists()
    # once the store can be written (here: the blocking file replaced by a folder), it's ingested
    blocker.unlink()
    blocker.mkdir()
    store.save(make_result())
    assert result.run_id in set(store.list()["id"])
    assert not kept.exists()


def test_nowhere_to_keep_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = ResultsStore(blocker / "r.duckdb")
    monkeypatch.setattr(pending_module, "temp_dir", lambda: blocker / "tmp")
    monkeypatch.setattr(pending_module, "state_dir", lambda: blocker / "state")
    with pytest.raises(ResultsError, match=r"could not be saved .* nor kept"):
        store.save_or_keep(make_result())


def test_unreadable_pending_file_is_skipped(store: ResultsStore) -> None:
    store.pending_dir.mkdir(parents=True)
    bad = store.pending_dir / "broken.json"
    bad.write_text("{not json")
    with pytest.warns(UserWarning, match="skipping unreadable pending run"):
        store.save(make_result())
    assert bad.exists() and _count(store.path, "runs") == 1


def test_already_stored_pending_file_is_just_removed(store: ResultsStore) -> None:
    result = make_result()
    bundle = bundle_of(result)
    store.save(result)
    store.pending_dir.mkdir()
    pending = store.pending_dir / f"{result.run_id}.json"
    pending.write_text(json.dumps(bundle.to_json(str(store.path))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.save(make_result())
    assert not pending.exists() and _count(store.path, "runs") == 2


# -- export and rerun helpers --------------------------------------------------------------


def test_export_json_and_csv(store: ResultsStore, tmp_path: Path) -> None:
    run_id = store.save(make_result())

    [json_file] = export_run(store, run_id[:8], "json", tmp_path / "out" / "run.json")
    doc = json.loads(json_file.read_text())
    assert doc["run"]["id"] == run_id and doc["run"]["config"]["fast_period"] == 10
    assert [t["realized_pnl"] for t in doc["trades"]] == [100.0, -50.0, 75.0]
    assert doc["trades"][0]["entry_time"] == "2024-01-02T14:31:00+00:00"
    assert len(doc["equity"]) == 10 and doc["equity"][-1]["equity"] == 101_000.0

    trades_csv, equity_csv = export_run(store, run_id, "csv", tmp_path / "out" / "x.csv")
    assert (trades_csv.name, equity_csv.name) == ("x_trades.csv", "x_equity.csv")
    assert pd.read_csv(trades_csv)["position_id"].tolist() == ["P-1", "P-2", "P-3"]
    assert pd.read_csv(equity_csv)["equity"].iloc[-1] == 101_000.0

    with pytest.raises(ResultsError, match="unknown export format 'xml'"):
        export_run(store, run_id, "xml", tmp_path / "x")


def test_export_default_output_is_in_cwd(
    store: ResultsStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = store.save(make_result())
    monkeypatch.chdir(tmp_path)
    [path] = export_run(store, run_id)
    assert path == Path(f"run-{run_id[:8]}.json") and path.exists()


def test_rerun_arguments(store: ResultsStore) -> None:
    result = make_result(
        settings={
            "data": "catalog",
            "symbol": "AAPL",
            "start": "2024-01-02",
            "end": "2024-01-05",
            "starting_balance": 50_000.0,
            "seed": 3,
            "catalog": "/cat",
        }
    )
    args = rerun_arguments(store.get(store.save(result)))
    assert args == {
        "strategy": "research_lib.strategies.sma_crossover:Strategy",
        "params": {"fast_period": 10, "slow_period": 20},
        "config_path": "research_lib.strategies.sma_crossover:Config",
        "data": "catalog",
        "symbol": "AAPL",
        "start": "2024-01-02",
        "end": "2024-01-05",
        "starting_balance": 50_000.0,
        "catalog": "/cat",
        "seed": 3,
        "execution": None,  # stored before fills were configurable: run_backtest's defaults
        "periods_per_year": None,
        "bar_spec": "1-MINUTE-LAST",  # the run's recorded bars, chosen again from the catalog
    }
    execution = execution_settings(
        fill_timing="next_open", commission_rate=0.0005, slippage_ticks=1
    )
    costly = make_result(
        settings={"data": "mock", "execution": execution, "periods_per_year": 260.0, "seed": 5}
    )
    args = rerun_arguments(store.get(store.save(costly)))
    assert (args["execution"], args["periods_per_year"]) == (execution, 260.0)
    assert (args["data"], args["seed"], args["starting_balance"]) == ("mock", 5, 100_000.0)
    in_memory = make_result(settings={"data": "dataframe"})
    with pytest.raises(ResultsError, match="bars passed in memory"):
        rerun_arguments(store.get(store.save(in_memory)))
    failed = store.save_failure(make_failure("boom", strategy="sma"))
    with pytest.raises(ResultsError, match="no stored strategy path"):
        rerun_arguments(store.get(failed))


def test_the_same_run_hashes_the_same_however_it_was_started(
    store: ResultsStore, tmp_path: Path
) -> None:
    # The one test here that runs Nautilus: the config hash is only canonical if the runner
    # records the same config and execution for every way of starting a run.
    from research_lib.engine.run_config import load_run_config
    from research_lib.workflows.record import run_backtest, run_from_config

    def stored_hash(result) -> str:
        return store.get(store.save(result)).run["config_hash"]

    defaults = run_backtest("momentum", {}, data="mock", save=False)
    spelled_out = run_backtest(
        "momentum",
        {"rsi_period": 14, "oversold_threshold": 30.0, "overbought_threshold": 70.0,
         "trade_size": 100, "sizing": "quantity"},
        data="mock",
        save=False,
    )  # fmt: skip
    yaml_file = tmp_path / "momentum.yaml"
    yaml_file.write_text("strategy: momentum\nbacktest:\n  data: mock\n", encoding="utf-8")
    from_yaml = run_from_config(load_run_config(yaml_file), save=False)

    expected_config = {
        "instrument_id": "AAPL.NASDAQ",
        "bar_type": "AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL",
        "rsi_period": 14,
        "oversold_threshold": 30.0,
        "overbought_threshold": 70.0,
        "trade_size": 100.0,
        "sizing": "quantity",
    }
    assert defaults.config == spelled_out.config == from_yaml.config == expected_config
    hashes = {stored_hash(r) for r in (defaults, spelled_out, from_yaml)}
    assert len(hashes) == 1
    [same] = hashes
    assert same == config_hash(expected_config, defaults.settings)
    assert same != config_hash(expected_config)  # the execution is part of it

    commission = run_backtest(
        "momentum", {}, data="mock", costs={"commission_rate": 0.0005}, save=False
    )
    costly_file = tmp_path / "costly.yaml"
    costly_file.write_text(
        "strategy: momentum\nbacktest:\n  data: mock\ncosts:\n  commission_rate: 0.0005\n",
        encoding="utf-8",
    )
    costly_yaml = run_from_config(load_run_config(costly_file), save=False)
    assert commission.config == costly_yaml.config == expected_config  # the parameters are equal
    assert commission.settings["execution"]["costs"]["commission_rate"] == 0.0005
    costly_hashes = {stored_hash(commission), stored_hash(costly_yaml)}
    assert len(costly_hashes) == 1 and same not in costly_hashes
    assert len(store.list()) == 5


def test_import_does_not_load_nautilus() -> None:
    code = "import sys, research_lib.store; print(any('nautilus' in m for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the run record -------------------------------------------------------------------------


def test_results_read_their_record_and_keep_it_consistent() -> None:
    result = make_result(tags=["a"])
    record = result.record
    assert (result.run_id, result.id) == (record.id, record.id)
    assert (result.strategy, result.symbol, result.currency) == ("sma_crossover", "AAPL", "USD")
    assert result.tags == ("a",) and result.warnings == ("2 orders were refused",)
    assert result.total_return == pytest.approx(0.01) == record.total_return
    assert result.metrics == record.metrics and set(result.metrics) == set(PERFORMANCE_NAMES)
    assert result.summary() == record.summary()
    assert result.summary()["trades"] == 3 == result.trade_count == record.trade_count
    assert "bar_spec" in dir(result)  # record fields complete in notebooks
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = result.nope
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.saved_to = "x"  # type: ignore[misc]
    empty = result.replace(trades=result.trades.iloc[0:0], run_id="other")
    assert (empty.trade_count, empty.record.trade_count, empty.id) == (0, 0, "other")
    assert result.trade_count == 3  # the original is unchanged


def test_failed_record_reads_what_is_known_from_the_settings() -> None:
    settings = {"data": "catalog", "symbol": "MSFT", "start": "2024-01-02", "end": "never",
                "starting_balance": 5_000}  # fmt: skip
    record = RunRecord.failed("ValueError: x", "", settings=settings, tags=["t"], source=None)
    assert record.status == "failed" and record.error == "ValueError: x"
    assert record.traceback is None and record.source == "python" and record.tags == ("t",)
    assert uuid.UUID(record.id)
    assert (record.symbol, record.data_source, record.initial_capital) == ("MSFT", "catalog", 5e3)
    assert record.start == START.normalize() and record.end is None
    assert record.total_return is None and record.config is None
    assert record.summary()["period"] == "2024-01-02 00:00 .. ? UTC"
    with pytest.raises(ValueError, match="status must be one of"):
        RunRecord(id="x", status="running")


def test_stored_run_reads_its_record_and_row(store: ResultsStore) -> None:
    stored = store.get(store.save(make_result(tags=["t"])))
    assert stored.record.created_at is not None and stored.created_at == stored.run["created_at"]
    assert (stored.strategy, stored.bar_spec) == ("sma_crossover", "1-MINUTE-LAST")
    assert stored.tags == ("t",)
    assert stored.metrics["trade_count"] == 3 and stored.metrics["sharpe"] == 1.5
    with pytest.raises(TypeError):
        stored.run["status"] = "failed"  # type: ignore[index]
    failed = store.get(store.save_failure(make_failure(strategy="sma")))
    assert failed.config == {} and failed.run["config"] is None


def test_save_failure_takes_failed_records_only(store: ResultsStore) -> None:
    with pytest.raises(ResultsError, match="is completed: save it with save"):
        store.save_failure(make_result().record)


# -- queries without a read per run ---------------------------------------------------------


def test_list_filters_by_notebook_path(store: ResultsStore) -> None:
    store.save(make_result())
    kept = store.save_failure(make_failure(notebook_path="/out/a.ipynb"))
    store.save_failure(make_failure(notebook_path="/out/b.ipynb"))
    assert store.list(notebook_path="/out/a.ipynb")["id"].tolist() == [kept]
    assert store.list(notebook_path=Path("/out/a.ipynb"))["id"].tolist() == [kept]
    assert store.list(notebook_path="/out/c.ipynb").empty


def test_sweeps_lists_each_sweep_with_its_configs(store: ResultsStore) -> None:
    assert store.sweeps().empty  # no store file yet
    older = store.save(make_result(sweep_id="s1", config={"fast_period": 5}))
    time.sleep(0.002)
    store.save(make_result(sweep_id="s2", config={"fast_period": 7}))
    time.sleep(0.002)
    store.save(make_result(sweep_id="s1", config={"fast_period": 9}))
    store.save(make_result())  # not in a sweep
    store.save_failure(make_failure(sweep_id="s2"))  # no config stored
    sweeps = store.sweeps()
    assert sweeps["sweep_id"].tolist() == ["s2", "s1"]  # newest run first
    assert sweeps["runs"].tolist() == [2, 2]
    s2, s1 = sweeps["configs"].tolist()
    assert s2 == [{"fast_period": 7}, {}] and s1 == [{"fast_period": 5}, {"fast_period": 9}]
    assert older in set(store.list(sweep_id="s1")["id"])


# -- schema versions and the saved version-1 file -------------------------------------------


def test_migrations_are_numbered_steps_up_to_the_schema_version() -> None:
    assert [version for version, _ in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    assert SCHEMA_VERSION == 4
    assert list(RUN_COLUMNS)[: len(RUN_COLUMNS_V1)] == list(RUN_COLUMNS_V1)
    assert list(RUN_COLUMNS)[len(RUN_COLUMNS_V1) :] == [  # added by steps 2 to 4, in order
        "bar_spec",
        "volatility",
        "max_drawdown_days",
        "expectancy",
        "avg_trade_return",
        "exposure",
        "benchmark_return",
        "periods_per_year",
        "performance",
        "engine",
        "twin_id",
        "agreement",
        "study_id",
    ]
    assert RUN_COLUMNS_V3 == {
        "volatility": "DOUBLE",
        "max_drawdown_days": "DOUBLE",
        "expectancy": "DOUBLE",
        "avg_trade_return": "DOUBLE",
        "exposure": "DOUBLE",
        "benchmark_return": "DOUBLE",
        "periods_per_year": "DOUBLE",
        "performance": "JSON",
    }
    assert RUN_COLUMNS["bar_spec"] == "VARCHAR"
    # every performance metric is a column: the headline ones since v1, the others since v3
    assert set(PERFORMANCE_NAMES) <= set(RUN_COLUMNS)
    assert {"sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor", "cagr"} <= set(
        RUN_COLUMNS_V1
    )


def test_a_new_store_is_created_at_the_current_version(store: ResultsStore) -> None:
    store.save(make_result())
    with duckdb.connect(str(store.path), read_only=True) as con:
        assert schema_version(con) == SCHEMA_VERSION
        columns = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'runs'"
        ).fetchall()]  # fmt: skip
    assert columns == list(RUN_COLUMNS)


def test_the_saved_version_1_store_is_upgraded_and_stays_usable(tmp_path: Path) -> None:
    before = V1_STORE.read_bytes()
    path = tmp_path / "results-v1.duckdb"
    shutil.copyfile(V1_STORE, path)
    store = ResultsStore(path)

    listed = store.list()

    assert sorted(listed["status"]) == ["completed", "failed"]
    with duckdb.connect(str(path), read_only=True) as con:
        assert schema_version(con) == SCHEMA_VERSION == 4
        columns = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'runs'"
        ).fetchall()]  # fmt: skip
        new_columns = ", ".join(["bar_spec", *RUN_COLUMNS_V3, *RUN_COLUMNS_V4])
        upgraded = con.execute(
            f"SELECT status, {new_columns} FROM runs ORDER BY status"
        ).fetchall()  # fmt: skip
    assert columns == list(RUN_COLUMNS)
    # bar_spec filled in from bar_type for the completed run; every v3 column NULL; both
    # runs were computed by Nautilus, and confirm no screened point
    assert upgraded == [
        ("completed", "1-MINUTE-LAST", *[None] * len(RUN_COLUMNS_V3), "nautilus", None, None, None),
        ("failed", None, *[None] * len(RUN_COLUMNS_V3), "nautilus", None, None, None),
    ]
    [completed_id] = listed.loc[listed["status"] == "completed", "id"]
    [failed_id] = listed.loc[listed["status"] == "failed", "id"]
    completed = store.get(completed_id[:8])
    assert completed.tags == ("v1-fixture",) and completed.strategy == "sma_crossover"
    assert completed.bar_spec == "1-MINUTE-LAST" == completed.run["bar_spec"]
    assert completed.bar_type == "AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL"
    assert len(completed.trades) == completed.run["trade_count"] == completed.trade_count == 44
    assert list(completed.trades.columns) == TRADE_COLUMNS
    assert len(completed.equity) == completed.run["equity_length"] > 0
    assert completed.start == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert completed.end.normalize() == pd.Timestamp("2024-01-03", tz="UTC")
    # its headline columns keep the analyzer's figures it was stored with; no performance
    assert completed.run["performance"] is None and completed.performance == {}
    assert completed.periods_per_year is None and completed.metric_notes == {}
    headline_names = ("sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor", "cagr")
    headline = {name: completed.run[name] for name in headline_names}
    assert headline == {
        "sharpe": None,
        "sortino": pytest.approx(-15.874507866387544),
        "max_drawdown": pytest.approx(-0.0008111031002162594),
        "win_rate": pytest.approx(13 / 44),
        "profit_factor": 0.0,
        "cagr": pytest.approx(-0.18492970670888742),
    }
    assert headline["sortino"] == completed.stats["Sortino Ratio (252 days)"]
    assert headline["cagr"] == completed.stats["CAGR (252 days)"]
    assert {name: completed.metrics[name] for name in headline} == headline
    assert all(completed.run[name] is None for name in RUN_COLUMNS_V3)
    assert listed.loc[listed["id"] == completed_id, "sortino"].item() == headline["sortino"]
    assert listed.loc[listed["id"] == completed_id, "volatility"].isna().all()
    failed = store.get(failed_id)
    assert failed.status == "failed" and failed.error and failed.bar_spec is None
    comparison = store.compare([completed_id, failed_id])
    assert comparison.metrics.loc["trade_count"].tolist() == [44, 0]
    assert store.list(tag="v1-fixture")["id"].tolist() == [completed_id]

    new = store.save(make_result())
    assert store.get(new).bar_spec == "1-MINUTE-LAST"
    assert store.get(new).performance == make_result().performance  # v3 columns in use
    assert store.get(new).run["exposure"] == pytest.approx(1.1)
    assert len(store.list()) == 3
    assert ResultsStore(path).get(completed_id).trade_count == 44  # a fresh open: no upgrade
    assert V1_STORE.read_bytes() == before  # the fixture itself is never touched


def test_a_failing_schema_step_leaves_the_file_at_the_version_before(tmp_path, monkeypatch):
    import research_lib.store.migrations as migrations

    def broken(con):
        con.execute("ALTER TABLE runs ADD COLUMN half_done VARCHAR")
        raise RuntimeError("step 2 broke")

    monkeypatch.setattr(migrations, "MIGRATIONS", [migrations.MIGRATIONS[0], (2, broken)])
    store = ResultsStore(tmp_path / "r.duckdb")
    with pytest.raises(RuntimeError, match="step 2 broke"):
        store.save(make_result())
    with duckdb.connect(str(store.path), read_only=True) as con:
        assert schema_version(con) == 1
        columns = {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'runs'"
        ).fetchall()}  # fmt: skip
    assert "half_done" not in columns and "bar_spec" not in columns
    monkeypatch.undo()
    run_id = ResultsStore(store.path).save(make_result())  # the next open finishes the upgrade
    assert ResultsStore(store.path).get(run_id).bar_spec == "1-MINUTE-LAST"
