"""Tables that fit 80 columns, --format csv/json, sweep-id prefixes (click's CliRunner)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import make_result

from research_lib.cli import cli
from research_lib.cli.tables import param_text
from research_lib.store import ResultsStore
from research_lib.workflows.record import run_backtest

SWEEP = "ade14af0-5b0c-4b8e-9d0f-0123456789ab"


def invoke(path: Path, *args: str):
    return CliRunner().invoke(cli, ["--results", str(path), "backtest", *args])  # width 80


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COLUMNS", raising=False)
    path = tmp_path / "r.duckdb"
    store = ResultsStore(path)
    for fast, slow, sharpe in ((10, 20, 0.8123), (5, 30, -0.25), (20, 50, 1.5)):
        config = {"fast_period": fast, "slow_period": slow, "instrument_id": "AAPL.NASDAQ"}
        store.save(make_result(sharpe=sharpe, config=config, sweep_id=SWEEP, tags=["grid"]))
    store.save(make_result(sweep_id="bbbb0000-other", symbol="MSFT"))
    return path


def _fits(output: str) -> None:
    assert "…" not in output
    assert all(len(line) <= 80 for line in output.splitlines()), output


def test_list_results_fits_80_columns_with_params(store_path: Path) -> None:
    result = invoke(store_path, "list-results")
    assert result.exit_code == 0, result.output
    _fits(result.output)
    for params in ("fast=10 slow=20", "fast=5 slow=30", "fast=20 slow=50"):
        assert params in result.output
    assert "instrument_id" not in result.output
    assert "--format csv for all" in result.output  # the columns left out are named
    ids = ResultsStore(store_path).list()["id"]
    assert all(run_id[:8] in result.output for run_id in ids)


def test_list_results_csv_and_json_hold_the_stored_rows(store_path: Path) -> None:
    stored = ResultsStore(store_path).list()
    result = invoke(store_path, "list-results", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["id"] for r in rows] == list(stored["id"])
    assert [float(r["sharpe"]) for r in rows] == list(stored["sharpe"])
    assert {r["params"] for r in rows} >= {"fast=10 slow=20", "fast=5 slow=30"}
    assert rows[0]["data_source"] == "mock" and rows[0]["bar_spec"] == "1-MINUTE-LAST"
    result = invoke(store_path, "list-results", "--format", "json", "--sweep", SWEEP[:6])
    runs = json.loads(result.stdout)
    assert len(runs) == 3 and {r["sweep_id"] for r in runs} == {SWEEP}
    assert all(r["config"]["instrument_id"] == "AAPL.NASDAQ" for r in runs)


def test_sweep_prefix_and_unknown_prefix(store_path: Path) -> None:
    result = invoke(store_path, "list-results", "--sweep", SWEEP[:8])
    assert result.exit_code == 0 and "3 runs in" in result.output
    _fits(result.output)
    result = invoke(store_path, "list-results", "--sweep", "ffff")
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert result.output.startswith("Error: no sweep 'ffff'")
    ResultsStore(store_path).save(make_result(sweep_id="ade14af0-zzzz"))
    result = invoke(store_path, "list-results", "--sweep", "ade1")
    assert result.exit_code == 1 and "is ambiguous" in result.output


def test_show_and_compare_formats(store_path: Path) -> None:
    ids = list(ResultsStore(store_path).list(sweep_id=SWEEP)["id"])
    result = invoke(store_path, "show", ids[0][:8], "--format", "json")
    data = json.loads(result.stdout)
    assert data["id"] == ids[0] and data["config"]["fast_period"] in (5, 10, 20)
    result = invoke(store_path, "show", ids[0][:8], "--format", "csv")
    fields = dict(csv.reader(io.StringIO(result.stdout)))
    assert fields["id"] == ids[0] and "config.slow_period" in fields
    result = invoke(store_path, "compare", ids[0], ids[1], "--format", "csv")
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(result.stdout))}
    assert "sharpe" in rows and "config.fast_period" in rows
    result = invoke(store_path, "compare", ids[0], ids[1], "--format", "json")
    assert set(json.loads(result.stdout)) == {"metrics", "config_diff"}


def test_compare_fits_80_columns_with_resolved_values(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    store = ResultsStore(tmp_path / "r.duckdb")
    mock = {"data": "mock", "start": "2024-01-02", "end": "2024-01-03", "results": store}
    runs = [
        run_backtest(**mock),  # every parameter at its default
        run_backtest(**mock, params={"fast_period": 5}),
        run_backtest("momentum", **mock),
    ]
    result = invoke(tmp_path / "r.duckdb", "compare", *(r.run_id[:8] for r in runs))
    assert result.exit_code == 0, result.output
    _fits(result.output)
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines() if line}
    assert lines["fast_period"] == ["10", "5", "—"]  # the default shown, not "—"
    assert lines["rsi_period"] == ["—", "—", "14"]
    assert lines["strategy"] == ["sma_crossover", "sma_crossover", "momentum"]
    assert "— : not a parameter of that run's strategy" in result.output


def test_sweep_ranking_fits_80_columns(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = [
        "--results", str(tmp_path / "r.duckdb"), "sweep", "sma_crossover", "--data", "mock",
        "--start", "2024-01-02", "--end", "2024-01-03", "-g", "fast_period=5,10",
        "-g", "slow_period=20", "--no-progress",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    _fits(result.output)
    sweep_id = ResultsStore(tmp_path / "r.duckdb").list()["sweep_id"].iloc[0]
    assert f"--sweep {sweep_id[:8]}" in result.output
    listed = CliRunner().invoke(
        cli, ["--results", str(tmp_path / "r.duckdb"), "backtest", "list-results", "--sweep",
              sweep_id[:8]]
    )  # fmt: skip
    assert listed.exit_code == 0 and "2 runs in" in listed.output
    ranked = CliRunner().invoke(cli, [*args, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(ranked.stdout)))
    assert [r["rank"] for r in rows] == ["1", "2"] and "fast_period" in rows[0]


def test_param_text() -> None:
    config = {"fast_period": 10, "slow_period": 20, "instrument_id": "X", "bar_type": "B"}
    assert param_text(config) == "fast=10 slow=20"
    assert param_text({"trade_size": 100.0, "x": "a b"}) == "trade_size=100 x=ab"


def test_data_list_fits_80_columns_and_has_csv_and_json(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    root = Path(__file__).resolve().parents[1]
    catalog = ["--catalog", str(tmp_path / "cat")]
    sample = str(root / "data" / "sample_AAPL.csv")
    runner = CliRunner()
    assert runner.invoke(cli, [*catalog, "data", "import-csv", "--file", sample,
                               "--symbol", "AAPL"]).exit_code == 0  # fmt: skip
    table = runner.invoke(cli, [*catalog, "data", "list"])
    _fits(table.output)
    assert "AAPL    NASDAQ  1-MINUTE-LAST  2024-01-02 14:30  2024-01-31 20:59  8,190" in (
        table.output
    )
    rows = list(csv.DictReader(io.StringIO(runner.invoke(
        cli, [*catalog, "data", "list", "--format", "csv"]).stdout)))  # fmt: skip
    assert rows == [{"symbol": "AAPL", "venue": "NASDAQ", "bar_spec": "1-MINUTE-LAST",
                     "first": "2024-01-02T14:30:00+00:00", "last": "2024-01-31T20:59:00+00:00",
                     "rows": "8190"}]  # fmt: skip
    listed = json.loads(runner.invoke(cli, [*catalog, "data", "list", "--format", "json"]).stdout)
    assert listed[0]["rows"] == 8190 and listed[0]["venue"] == "NASDAQ"
