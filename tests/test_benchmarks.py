"""Smoke test of the benchmark suite on tiny sizes: shapes, cross-checks, no timing asserts."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from rich.console import Console

from benchmarks import cli, data, engine, sweeps
from benchmarks.__main__ import main
from benchmarks.machine import machine_info
from benchmarks.raw_engine import run_raw
from benchmarks.report import print_report, targets
from benchmarks.suite import correctness_ok
from research_lib.data.synthetic import mock_bars
from research_lib.workflows.record import run_backtest

TIMING_KEYS = {"seconds", "cpu_seconds", "samples"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def results(workdir):
    """Every benchmark once, at tiny sizes (the engine mostly in-process, one fresh child)."""
    return {
        "machine": machine_info(),
        "engine": engine.bench_engine(
            [1_000, 2_000], ["sma_crossover", "momentum"], repeats=2, runner=engine.measure_run
        ),
        "import": data.bench_import(10_000, workdir, repeats=1),
        "query": data.bench_query(10_000, workdir, repeats=2, start="2024-01-03", end="2024-01-04"),
        "sweep": sweeps.bench_sweep(workdir, sweeps.QUICK_GRID, end="2024-01-03"),
        "startup": cli.bench_startup(repeats=1),
        "list": cli.bench_list(1_000, workdir, repeats=1),
        "readback": sweeps.bench_readback(workdir, runs=200, repeats=1),
    }


@pytest.mark.parametrize("strategy", list(engine.CASES))
def test_raw_script_gives_our_trades(strategy):
    bars = mock_bars(2_000, seed=7)
    params = engine.CASES[strategy]
    ours = run_backtest(strategy, {**params, "trade_size": 100}, data=bars, save=False)
    raw = run_raw(strategy, params, bars)
    raw_trades = pd.DataFrame(
        raw.trades,
        columns=["position_id", "side", "quantity", "entry_ns", "exit_ns", "entry_price",
                 "exit_price", "realized_pnl"],
    )  # fmt: skip
    assert len(ours.trades) == raw.trade_count > 0
    for column in ("position_id", "side", "quantity", "entry_price", "exit_price", "realized_pnl"):
        assert ours.trades[column].tolist() == raw_trades[column].tolist(), column
    assert ours.trades["entry_time"].dt.as_unit("ns").astype("int64").tolist() == (
        raw_trades["entry_ns"].tolist()
    )
    assert ours.trades["exit_time"].dt.as_unit("ns").astype("int64").tolist() == (
        raw_trades["exit_ns"].tolist()
    )
    assert ours.final_capital == raw.final_capital
    for name, value in raw.stats.items():
        mine = ours.stats[name]
        assert mine == value or (mine is None and not math.isfinite(value)), name


def test_engine_runs_in_a_fresh_process_and_reports_memory():
    run = engine.run_case("raw", "momentum", 1_000)
    assert run["path"] == "raw" and run["bars"] == 1_000 and run["trades"] > 0
    assert run["peak_mb"] >= run["before_run_mb"] > 0
    assert run["kb_per_bar"] == pytest.approx(run["peak_mb"] * 1024 / 1_000)


def test_engine_results_shape(results):
    bench = results["engine"]
    assert len(bench["runs"]) == 2 * 2 * 2  # sizes x strategies x paths
    assert {r["path"] for r in bench["runs"]} == {"raw", "ours"}
    assert all(len(r["samples"]) == 2 and r["same_results"] for r in bench["runs"])
    for c in bench["comparisons"]:
        assert c["same_trades"] and c["same_pnl"]
        assert c["ratio"] > 0 and c["cpu_ratio"] > 0
    assert [s["strategy"] for s in bench["scaling"]] == ["sma_crossover", "momentum"]
    # Shapes only: the exponent is a timing figure and may be anything on a noisy machine.
    assert all(s["size_ratio"] == 2 and math.isfinite(s["exponent"]) for s in bench["scaling"])


def test_data_benchmarks_agree_with_duckdb(results):
    imported, query = results["import"], results["query"]
    assert imported["rows_imported"] == 10_000 and imported["same_rows"]
    assert set(imported["ours"]) >= TIMING_KEYS and set(imported["duckdb"]) >= TIMING_KEYS
    assert query["same_rows"] and 0 < query["rows_returned"] < 10_000
    assert len(query["ours"]["samples"]) == 2


def test_sweep_on_one_and_two_workers(results):
    bench = results["sweep"]
    assert bench["points"] == 4 and bench["all_completed"] and bench["same_trades"]
    assert bench["bars_per_point"] == 2 * 390  # 2024-01-02..03, US session
    assert [r["workers"] for r in bench["runs"]] == [1, 2]
    assert bench["speedup"] > 0 and bench["cpu_estimate_speedup"] > 0
    assert bench["runs"][0]["worker_cpu_seconds"] == 0  # one worker runs in the process
    assert bench["runs"][1]["worker_cpu_seconds"] > 0


def test_cli_benchmarks(results):
    assert set(results["startup"]) == {"help", "strategy_list"}
    listed = results["list"]
    assert listed["runs"] == 1_000 and listed["rows_listed"] == 20
    assert set(listed["library"]) >= TIMING_KEYS and set(listed["cli"]) >= TIMING_KEYS


def test_sweep_read_back(results):
    readback = results["readback"]
    assert readback["runs"] == readback["rows_read"] == 200 and readback["same_rows"]
    assert readback["params"] == ["fast_period", "slow_period"]
    assert readback["trades_per_run"] > 0 and readback["equity_points_per_run"] > 0
    assert set(readback["library"]) >= TIMING_KEYS and len(readback["library"]["samples"]) == 1


def test_targets_table_and_json(results):
    found = targets(results)
    names = [t["target"] for t in found]
    assert any("linear" in n for n in names) and any("ours / raw" in n for n in names)
    assert any(n.startswith("SMA(10,20)") for n in names)
    [readback] = [t for t in found if t["target"].startswith("read back a 200-run sweep")]
    assert readback["limit"] == 0.2 and readback["op"] == "<=" and readback["unit"] == "s"
    assert {t["status"] for t in found} <= {"PASS", "MISS", None}
    memory = [t for t in found if t["target"].startswith("peak memory")]
    assert memory and all(t["status"] is None for t in memory)  # tiny sizes are not judged
    assert correctness_ok(results)
    console = Console(record=True, width=200)
    print_report({**results, "targets": found}, console)
    text = console.export_text()
    for title in ("Backtest: ours vs raw", "Scaling", "Data, sweep and CLI", "Targets"):
        assert title in text
    assert "7. read back a 200-run sweep" in text
    assert json.loads(json.dumps(results, default=str))["engine"]["runs"][0]["bars"] == 1_000


def test_entry_point_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["--quick", "--only", "startup", "--sweep-end", "2024-01-05", "--json", str(out),
                 "--workdir", str(tmp_path / "work")])  # fmt: skip
    assert code == 0
    document = json.loads(out.read_text())
    assert set(document) >= {"machine", "settings", "startup", "targets"}
    assert "engine" not in document
    assert document["settings"]["sweep_end"] == "2024-01-05"
    assert document["machine"]["cores"] >= 1
    assert "Targets" in capsys.readouterr().out


def test_entry_point_rejects_unknown_benchmark(capsys):
    with pytest.raises(SystemExit):
        main(["--only", "engine,nope"])
    assert "unknown nope" in capsys.readouterr().err


def test_vector_benchmark_rows(monkeypatch):
    """Benchmark 8 at a tiny size: every row present, the floor and ours agree trade for trade;
    without the bench group the peers are reported as not installed."""
    from benchmarks import vector

    bench = vector.bench_vector(1_000, 3_000, 3_000, 9, repeats=1, peer_repeats=1)
    grid = bench["grid"]
    rows = {(r["case"], r["path"]): r for r in grid["rows"]}
    assert set(rows) == {(c, p) for c in ("grid", "single") for p in vector.CONTENDERS}
    assert len(grid["points"]) == 16 and grid["same_as_floor"]
    for (case, _path), r in rows.items():
        if "missing" in r:
            assert r["missing"] == vector.MISSING
            continue
        assert r["seconds"] > 0 and r["cpu_seconds"] >= 0 and r["samples"] == 1
        assert len(r["trades"]) == len(r["pnl"]) == (16 if case == "grid" else 1)
        assert all(t > 0 for t in r["trades"])
    assert rows[("grid", "ours")]["trades"] == rows[("grid", "numpy floor")]["trades"]
    assert grid["ratios"]["grid: ours/numpy floor"]["ratio"] > 0
    single = bench["single"]["rows"]
    assert [r["strategy"] for r in single] == ["sma_crossover", "mean_reversion", "momentum"]
    for r in single:
        assert r["bars_per_second"] > 0 and r["trades"] > 0
        assert set(r["parts"]) == {"prepare", "signals", "loop", "metrics"}
        assert sum(r["parts"].values()) > 0  # timing relations belong to the benchmark
    screen = bench["screen"]
    assert screen["points"] == 9 and set(screen["strategies"]) == set(vector.SINGLE)
    assert screen["peak_mb"] >= screen["before_mb"] > 0 and screen["seconds"] > 0
    found = targets({"vector": bench})
    assert any(t["target"].startswith("vector: ours / numpy floor") for t in found)
    assert all(t["status"] is None for t in found if t["unit"] == "bars/s")  # not judged
    assert correctness_ok({"vector": bench})
    console = Console(record=True, width=80)
    print_report({"machine": machine_info(), "vector": bench}, console)
    text = console.export_text()
    assert "8. Vector: SMA grid" in text and "Trades and PnL per point" in text
    assert "1-point screen" not in text and "9-point screen" in text

    monkeypatch.setattr(vector, "have", lambda module: False)
    bare = vector.bench_grid(1_000, repeats=1)
    missing = [r for r in bare["rows"] if "missing" in r]
    assert {r["path"] for r in missing} == {"vectorbt", "backtesting.py"}
    assert "grid: ours/vectorbt" not in bare["ratios"] and bare["same_as_floor"]
