"""``research-lib backtest list-results | show | compare | rerun | export``."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from factories import V1_STORE, execution_settings, make_bars, make_failure, make_result

from research_lib.cli import cli
from research_lib.store import ResultsStore

ENV = {"COLUMNS": "200"}  # wide rich tables, so values are not elided


def invoke(path: Path, *args: str):
    return CliRunner(env=ENV).invoke(cli, ["--results", str(path), "backtest", *args])


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A store with two completed runs and one failed run."""
    path = tmp_path / "r.duckdb"
    store = ResultsStore(path)
    ids = {
        "a": store.save(make_result(sharpe=2.5, tags=["keep"])),
        "b": store.save(
            make_result(sharpe=0.5, config={"fast_period": 5, "slow_period": 20}, symbol="MSFT")
        ),
        "failed": store.save_failure(
            make_failure(
                "ConfigError: fast_period must be less than slow_period (20), was 30",
                "Traceback (most recent call last):\n  ...",
                strategy="sma_crossover",
                config={"fast_period": 30},
            )
        ),
    }
    return path, ids


# -- list-results --------------------------------------------------------------------------


def test_list_results_table(stored) -> None:
    path, ids = stored
    result = invoke(path, "list-results", "--sort", "sharpe")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "3 runs in" in lines[0]
    order = [next(i for i, line in enumerate(lines) if ids[k][:8] in line) for k in ids]
    assert order[0] < order[1] < order[2]  # sharpe 2.5, 0.5, then the failed run (NULL)
    row_a = lines[order[0]]
    assert "sma_crossover" in row_a and "AAPL" in row_a and "+1.00%" in row_a
    assert "2.50" in row_a and "keep" in row_a  # formats: research_lib.model.metrics
    assert "failed" in lines[order[2]]


def test_list_results_filters(stored) -> None:
    path, ids = stored
    result = invoke(path, "list-results", "--status", "failed", "--since", "2000-01-01")
    assert result.exit_code == 0
    assert ids["failed"][:8] in result.output and ids["a"][:8] not in result.output
    result = invoke(path, "list-results", "--symbol", "MSFT", "--ascending", "--limit", "5")
    assert ids["b"][:8] in result.output and ids["a"][:8] not in result.output
    result = invoke(path, "list-results", "--tag", "nope", "--strategy", "x")
    assert result.exit_code == 0 and "no stored runs match" in result.output
    result = invoke(path, "list-results", "--sweep", "s")  # an unknown sweep (prefix)
    assert result.exit_code == 1 and "Error: no sweep 's' in" in result.output


def test_list_results_errors(stored) -> None:
    path, _ = stored
    result = invoke(path, "list-results", "--sort", "sharp")
    assert result.exit_code == 1
    assert "Error: cannot sort by 'sharp': did you mean 'sharpe'?" in result.output
    result = invoke(path, "list-results", "--since", "last tuesday")
    assert result.exit_code == 1 and "since must be a date" in result.output


def test_list_results_on_empty_store(tmp_path: Path) -> None:
    result = invoke(tmp_path / "none.duckdb", "list-results")
    assert result.exit_code == 0 and "no stored runs match" in result.output


# -- show ----------------------------------------------------------------------------------


def test_show_completed_run(stored) -> None:
    path, ids = stored
    result = invoke(path, "show", ids["a"][:6])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Run {ids['a']}" in out and "completed" in out
    assert "fast_period" in out and "slow_period" in out
    cells = _rows(out)
    assert cells["Sharpe ratio (252/yr)"] == "2.50" and cells["CAGR"] == "60.00%"
    assert cells["Final capital"] == "101,000.00 USD"
    assert cells["Volatility (252/yr)"] == "70.00%"  # detail metrics follow the headline ones
    assert cells["Buy and hold return"] == "+120.00%"
    assert list(cells)[-6:] == [
        "Volatility (252/yr)",
        "Max drawdown duration (days)",
        "Expectancy (per trade)",
        "Average trade return",
        "Exposure (time in market)",
        "Buy and hold return",
    ]
    assert "ratios annualised with 252 sessions/yr (no weekend bars)" in out
    assert cells["Fills"] == "close, no costs (stored before v3)"  # no execution in settings
    assert "Trades: 3 (2 long, 1 short; 2 winners, 1 losers), total P&L 125.00" in out
    assert "best  LONG  100 @ 100.00 → 101.00" in out
    assert "worst SHORT 100 @ 101.50 → 102.00" in out
    assert "warning: 2 orders were refused" in out


def test_show_says_how_orders_filled_and_why_a_metric_is_missing(tmp_path: Path) -> None:
    execution = execution_settings(
        fill_timing="next_open", commission_rate=0.0005, slippage_ticks=1
    )
    path = tmp_path / "r.duckdb"
    run = make_result(sharpe=None, settings={"data": "mock", "seed": 7, "execution": execution})
    ResultsStore(path).save(run)
    result = invoke(path, "show", run.run_id)
    assert result.exit_code == 0, result.output
    cells = _rows(result.output)
    assert cells["Fills"] == "next open; 5 bps of notional + 1 tick slippage"
    assert cells["Sharpe ratio (252/yr)"] == "n/a: needs 2 periods, has 1"
    assert cells["Sortino ratio (252/yr)"] == "0.20"


def test_show_a_run_stored_before_version_3(tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    shutil.copyfile(V1_STORE, path)
    listed = ResultsStore(path).list(status="completed")
    result = invoke(path, "show", listed["id"].iloc[0])
    assert result.exit_code == 0, result.output
    cells = _rows(result.output)
    # the headline columns it was stored with, unannualised labels, the new metrics missing
    assert cells["Sortino ratio"] == "-15.87" and cells["Sharpe ratio"] == "—"
    assert cells["Win rate"] == "29.5%" and cells["Volatility"] == "—"
    assert cells["Fills"] == "close, no costs (stored before v3)"
    assert "stored before schema version 3" in result.output
    assert "ratios annualised" not in result.output


def _rows(output: str) -> dict[str, str]:
    """The (label, value) rows of the rich tables ``show`` prints."""
    rows = {}
    for line in output.splitlines():
        parts = [part.strip() for part in line.strip().strip("│").split("│")]
        if len(parts) == 2 and parts[0]:
            rows[parts[0]] = parts[1]
    return rows


def test_show_failed_run(stored) -> None:
    path, ids = stored
    result = invoke(path, "show", ids["failed"])
    assert result.exit_code == 0
    assert "failed" in result.output
    assert "error: ConfigError: fast_period must be less than slow_period (20), was 30" in (
        result.output
    )
    assert "Traceback (most recent call last)" in result.output


def test_show_run_without_trades(tmp_path: Path) -> None:
    run = make_result()
    run = run.replace(trades=run.trades.iloc[0:0])
    ResultsStore(tmp_path / "r.duckdb").save(run)
    result = invoke(tmp_path / "r.duckdb", "show", run.run_id)
    assert result.exit_code == 0 and "no trades" in result.output


def test_show_unknown_and_ambiguous_ids(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    store = ResultsStore(path)
    store.save(make_result("abc11111-0000-0000-0000-000000000000"))
    store.save(make_result("abc22222-0000-0000-0000-000000000000"))
    result = invoke(path, "show", "abc")
    assert result.exit_code == 1
    assert "Error: run id prefix 'abc' is ambiguous: matches abc11111…, abc22222…" in (
        result.output
    )
    result = invoke(path, "show", "fff")
    assert result.exit_code == 1
    assert "no run 'fff'" in result.output and "research-lib backtest list-results" in (
        result.output
    )


# -- compare -------------------------------------------------------------------------------


def test_compare_two_runs(stored) -> None:
    path, ids = stored
    result = invoke(path, "compare", ids["a"], ids["b"][:8])
    assert result.exit_code == 0, result.output
    out = result.output
    assert ids["a"][:8] in out and ids["b"][:8] in out
    sharpe = next(line for line in out.splitlines() if "Sharpe ratio" in line)
    assert "2.50" in sharpe and "0.50" in sharpe
    fast = next(line for line in out.splitlines() if "fast_period" in line)
    assert "10" in fast and "5" in fast
    assert "Configuration differences" in out
    assert "slow_period" not in out  # same value in both runs


def test_compare_identical_configs(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    store = ResultsStore(path)
    a, b = store.save(make_result()), store.save(make_result())
    result = invoke(path, "compare", a, b)
    assert result.exit_code == 0 and "configurations are identical" in result.output


def test_compare_errors(stored) -> None:
    path, ids = stored
    result = invoke(path, "compare", ids["a"])
    assert result.exit_code == 1 and "compare needs at least two run ids" in result.output
    result = invoke(path, "compare", ids["a"], "zzz")
    assert result.exit_code == 1 and "no run 'zzz'" in result.output
    result = invoke(path, "compare")
    assert result.exit_code == 2 and "Missing argument" in result.output


# -- export --------------------------------------------------------------------------------


def test_export_csv_and_json(stored, tmp_path: Path) -> None:
    path, ids = stored
    result = invoke(
        path, "export", ids["a"][:8], "--format", "csv", "--output", str(tmp_path / "x")
    )
    assert result.exit_code == 0, result.output
    assert "x_trades.csv" in result.output and "x_equity.csv" in result.output
    trades = pd.read_csv(tmp_path / "x_trades.csv")
    assert trades["realized_pnl"].tolist() == [100.0, -50.0, 75.0]
    assert len(pd.read_csv(tmp_path / "x_equity.csv")) == 10

    out = tmp_path / "run.json"
    result = invoke(path, "export", ids["a"], "--format", "json", "-o", str(out))
    assert result.exit_code == 0
    doc = json.loads(out.read_text())
    assert doc["run"]["id"] == ids["a"] and len(doc["trades"]) == 3 and len(doc["equity"]) == 10


def test_export_errors(stored, tmp_path: Path) -> None:
    path, ids = stored
    result = invoke(path, "export", ids["a"], "--format", "xml")
    assert result.exit_code == 2 and "'xml' is not one of 'csv', 'json'" in result.output
    result = invoke(path, "export", "nope", "-o", str(tmp_path / "y.json"))
    assert result.exit_code == 1 and "no run 'nope'" in result.output


# -- rerun (real Nautilus runs) ------------------------------------------------------------


def test_rerun_of_mock_run_is_identical(tmp_path: Path) -> None:
    from research_lib.workflows.record import run_backtest

    path = tmp_path / "r.duckdb"
    store = ResultsStore(path)
    original = run_backtest(
        "sma_crossover",
        {"fast_period": 5, "slow_period": 12},
        data="mock",
        start="2024-01-02",
        end="2024-01-03",
        results=store,
    )
    assert original.saved_to == str(path)

    result = invoke(path, "rerun", original.run_id[:8])

    assert result.exit_code == 0, result.output
    assert "trades and metrics are identical" in result.output
    reruns = store.list(tag=f"rerun-of:{original.run_id}")
    assert len(reruns) == 1 and reruns["source"].tolist() == ["cli"]
    again = store.get(reruns["id"].iloc[0])
    assert again.config == store.get(original.run_id).config


def _write_csv(path: Path, closes: list[float]) -> Path:
    bars = make_bars(closes)
    bars.to_csv(path, index=False)
    return path


def test_rerun_when_the_data_changed(tmp_path: Path) -> None:
    from research_lib.data.catalog import Catalog
    from research_lib.workflows.record import run_backtest

    catalog = Catalog(tmp_path / "cat")
    closes = [100 + 3 * math.sin(i / 7) for i in range(120)]
    catalog.import_csv(_write_csv(tmp_path / "a.csv", closes), "AAPL")
    path = tmp_path / "r.duckdb"
    original = run_backtest(
        "sma_crossover",
        {"fast_period": 5, "slow_period": 12},
        data="catalog",
        catalog=catalog,
        symbol="AAPL",
        results=path,
    )
    changed = [c + (1.0 if i == 60 else 0.0) for i, c in enumerate(closes)]
    catalog.import_csv(_write_csv(tmp_path / "b.csv", changed), "AAPL")

    result = invoke(path, "rerun", original.run_id)

    assert result.exit_code == 1
    assert "Error: data changed since the run (fingerprint " in result.output
    assert f"{original.data_fingerprint[:12]} → " in result.output
    assert result.output.strip().endswith("not comparing")
    assert len(ResultsStore(path).list()) == 1  # nothing was run


def test_rerun_reports_differences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from research_lib.workflows.record import run_backtest

    path = tmp_path / "r.duckdb"
    original = run_backtest(
        "sma_crossover",
        {"fast_period": 5, "slow_period": 12},
        data="mock",
        start="2024-01-02",
        end="2024-01-02",
        results=path,
    )
    import duckdb

    with duckdb.connect(str(path)) as con:  # pretend the stored run had other results
        con.execute("UPDATE runs SET sharpe = 99.0 WHERE id = ?", [original.run_id])
        con.execute(
            "UPDATE trades SET exit_price = exit_price + 1 WHERE run_id = ?", [original.run_id]
        )

    result = invoke(path, "rerun", original.run_id)

    assert result.exit_code == 1
    assert "differs: " in result.output and "sharpe 99.0 → " in result.output
    assert "trades differ in exit_price" in result.output


def test_rerun_errors(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    store = ResultsStore(path)
    in_memory = make_result(settings={"data": "dataframe"})
    store.save(in_memory)
    result = invoke(path, "rerun", in_memory.run_id)
    assert result.exit_code == 1 and "only mock and catalog runs can be rerun" in result.output
    result = invoke(path, "rerun", "nope")
    assert result.exit_code == 1 and "no run 'nope'" in result.output


def test_rerun_of_a_failed_run_has_nothing_to_compare(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    failed = ResultsStore(path).save_failure(
        make_failure(
            "RuntimeError: flaky",
            strategy="sma_crossover",
            strategy_path="research_lib.strategies.sma_crossover:SMACrossover",
            config_path="research_lib.strategies.sma_crossover:SMAConfig",
            config={"fast_period": 5, "slow_period": 12},
            settings={"data": "mock", "start": "2024-01-02", "end": "2024-01-02", "seed": 1},
        )
    )
    result = invoke(path, "rerun", failed)
    assert result.exit_code == 0, result.output
    assert "the original failed: nothing to compare" in result.output
    assert f"saved to {path}" in result.output


def test_a_failing_run_is_recorded_by_the_runner(tmp_path: Path) -> None:
    from research_lib.errors import ConfigError
    from research_lib.workflows.record import run_backtest

    path = tmp_path / "r.duckdb"
    with pytest.raises(ConfigError):
        run_backtest("sma_crossover", {"fast_period": 30, "slow_period": 20}, results=path)
    result = invoke(path, "list-results", "--status", "failed")
    assert result.exit_code == 0 and "sma_crossover" in result.output
    [failed] = ResultsStore(path).list(status="failed")["id"]
    shown = invoke(path, "show", failed)
    assert "error: " in shown.output and "greater than fast_period (30), was 20" in shown.output
    assert "Traceback" in shown.output
