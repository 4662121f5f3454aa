"""Screening sweeps: every point on the vector engine, the best confirmed in Nautilus.

What a user relies on: the screened points are stored (engine 'vector') with the metrics a
Nautilus run of the same point gives; the best K by the chosen metric are rerun in Nautilus,
linked to their twin, and said to agree; a disagreement is printed, stored and exits 1; a
strategy without a vectorized rule, or fills limited by bar volume, is swept event-driven
and the sweep says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from research_lib.cli import cli
from research_lib.engine import vector
from research_lib.store import ResultsStore
from research_lib.strategies import sma_crossover
from research_lib.strategies.signals import LONG, NO_SIGNAL, SHORT, Signals
from research_lib.workflows.record import run_backtest
from research_lib.workflows.screen import screen

USER_STRATEGIES = Path(__file__).parent / "user_strategies"
DAYS = {"start": "2024-01-02", "end": "2024-01-05", "data": "mock"}
GRID = {"fast_period": [3, 5, 8], "slow_period": [5, 20, 30]}  # 3 x 3, fast 5 / slow 5 ...


def _runs(path: Path) -> pd.DataFrame:
    return ResultsStore(path).list(limit=None, extra_columns=("agreement",))


def test_a_screened_grid_stores_every_point_and_confirms_the_best(tmp_path: Path) -> None:
    store = tmp_path / "r.duckdb"
    notes: list[str] = []
    done = screen(
        "sma_crossover", GRID, confirm=3, by="sharpe", results=store, progress=False,
        status=notes.append, **DAYS,
    )  # fmt: skip
    runs = _runs(store)
    screened = runs[runs["engine"] == "vector"]
    confirming = runs[runs["engine"] == "nautilus"]
    # 9 points, fast >= slow skipped: (5, 5), (8, 5); 7 screened, 3 confirmed
    assert len(done.skipped) == 2 and len(screened) == 7 and len(confirming) == 3
    assert set(runs["sweep_id"]) == {done.sweep_id} and set(runs["source"]) == {"sweep"}
    # the best three by Sharpe among the stored screened points, by pandas
    best = screened.sort_values("sharpe", ascending=False).head(3)
    assert set(confirming["twin_id"]) == set(best["id"])
    for _, run in confirming.iterrows():
        assert json.loads(run["agreement"])["agrees"] is True
        twin = screened.set_index("id").loc[run["twin_id"]]
        assert run["trade_count"] == twin["trade_count"]
        assert run["final_capital"] == pytest.approx(twin["final_capital"], rel=1e-12)
        assert run["sharpe"] == pytest.approx(twin["sharpe"], rel=1e-9)
    # the screened twins of the confirmed points keep their trades, the others only metrics
    for _, twin in best.iterrows():
        stored = ResultsStore(store).get(twin["id"])
        assert len(stored.trades) == twin["trade_count"] > 0 and len(stored.equity) > 0
    other = screened[~screened["id"].isin(best["id"])].iloc[0]
    assert ResultsStore(store).get(other["id"]).trades.empty
    # the result ranks the screened points and marks the confirmed ones
    ranked = done.ranked("sharpe")
    assert len(ranked) == 7 and ranked["confirmed_by"].notna().tolist() == [True] * 3 + [False] * 4
    assert done.confirmations["agrees"].tolist() == [True, True, True]
    assert any(n.startswith("screened 7 points in") for n in notes)


def test_a_screened_point_matches_a_backtest_of_the_same_point(tmp_path: Path) -> None:
    store = tmp_path / "r.duckdb"
    screen("sma_crossover", {"fast_period": [4], "slow_period": [12]}, confirm=0, results=store,
           progress=False, **DAYS)  # fmt: skip
    [row] = _runs(store).to_dict("records")
    alone = run_backtest("sma_crossover", {"fast_period": 4, "slow_period": 12}, save=False, **DAYS)
    assert row["engine"] == "vector" and row["trade_count"] == alone.trade_count
    assert row["final_capital"] == pytest.approx(alone.final_capital, rel=1e-12)
    assert json.loads(row["config"]) == alone.config  # the same resolved config values
    assert row["sharpe"] == pytest.approx(alone.metrics["sharpe"], rel=1e-9)


def test_costs_and_next_open_fills_are_screened_as_nautilus_fills_them(tmp_path: Path) -> None:
    done = screen(
        "mean_reversion", {"lookback_period": [10, 20], "num_std_dev": [1.5, 2.0]}, confirm=4,
        results=tmp_path / "r.duckdb", progress=False,
        execution={"fill_timing": "next_open",
                   "costs": {"commission_rate": 0.0005, "slippage_ticks": 1}},
        **DAYS,
    )  # fmt: skip
    assert len(done.confirmations) == 4
    assert done.confirmations["agrees"].all(), done.confirmations["detail"].tolist()


def _flipped(ticks, closes, params) -> Signals:
    """The crossover's rule with long and short swapped: a rule that does not match."""
    signals = sma_crossover.vector_signals(ticks, closes, params)
    targets = signals.targets.copy()
    wanted = targets != NO_SIGNAL
    targets[wanted] = -targets[wanted]
    assert set(targets[wanted]) <= {LONG, SHORT}
    return Signals(targets)


def test_a_disagreement_is_printed_stored_and_exits_1(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(vector.RULES, "sma_crossover", _flipped)
    store = tmp_path / "r.duckdb"
    result = CliRunner().invoke(cli, [
        "--results", str(store), "sweep", "sma_crossover", "--grid", "fast_period=5",
        "--grid", "slow_period=20,30", "--data", "mock", "--start", "2024-01-02", "--end",
        "2024-01-03", "--screen", "--confirm", "1", "--workers", "1", "--no-progress",
    ])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "DISAGREES fast_period=5, slow_period=" in result.output
    assert "0 of 1 confirmed points agree with Nautilus" in result.output
    [run] = _runs(store).query("engine == 'nautilus'").to_dict("records")
    found = json.loads(run["agreement"])
    ours, theirs = re.fullmatch(r"trade 1: side (\w+) \(vector\) vs (\w+) \(Nautilus\)",
                                found["detail"]).groups()  # fmt: skip
    assert found["agrees"] is False and {ours, theirs} == {"LONG", "SHORT"}


def test_the_cli_screens_and_prints_the_verdict(tmp_path: Path) -> None:
    store = tmp_path / "r.duckdb"
    args = [
        "--results", str(store), "sweep", "sma_crossover", "--grid", "fast_period=3:8",
        "--grid", "slow_period=20,30", "--data", "mock", "--start", "2024-01-02", "--end",
        "2024-01-03", "--screen", "--confirm", "2", "--workers", "1", "--no-progress",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "12 of 12 points to screen (1 worker)" in out
    assert "2 of 2 confirmed points agree with Nautilus" in out
    assert "12 screened in" in out and "2 confirmed in" in out
    assert out.count(" agrees ") == 2  # the two confirmed rows of the ranking
    as_csv = CliRunner().invoke(cli, [*args, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    table = pd.read_csv(pd.io.common.StringIO(as_csv.stdout))
    assert len(table) == 12 and table["confirmed_by"].notna().sum() == 2
    assert table["sharpe"].is_monotonic_decreasing
    confirming = table["confirmed_by"].dropna().iloc[0]
    shown = CliRunner().invoke(cli, ["--results", str(store), "backtest", "show", confirming])
    twin = table.loc[table["confirmed_by"] == confirming, "id"].item()
    assert f"nautilus, confirms {twin[:8]}: agrees" in shown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--confirm", "3"], "--confirm goes with --screen"),
        (["--screen", "--via", "papermill"], "--screen runs on the vector engine and Nautilus"),
        (["--screen", "--confirm", "-1"], "-1 is not in the range x>=0"),
    ],
)
def test_bad_screen_options_are_one_line(tmp_path, args, message) -> None:
    result = CliRunner().invoke(cli, [
        "--results", str(tmp_path / "r.duckdb"), "sweep", "sma", "--grid", "fast_period=5",
        "--data", "mock", *args,
    ])  # fmt: skip
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "r.duckdb").exists()


def test_a_strategy_without_a_rule_is_swept_event_driven(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(USER_STRATEGIES))
    config = tmp_path / "breakout.yaml"
    config.write_text(
        'strategy_path: "breakout:Breakout"\nconfig_path: "breakout:BreakoutConfig"\n'
        "config:\n  lookback: 10\n"
    )
    notes: list[str] = []
    done = screen(config, {"lookback": [5, 10]}, results=tmp_path / "r.duckdb", progress=False,
                  status=notes.append, **DAYS)  # fmt: skip
    assert done.note == "breakout:Breakout has no vectorized rule" and not done.screened
    assert notes == ["breakout:Breakout has no vectorized rule: running all 2 points event-driven"]
    assert set(_runs(tmp_path / "r.duckdb")["engine"]) == {"nautilus"}


def test_fills_limited_by_bar_volume_are_swept_event_driven(tmp_path: Path) -> None:
    done = screen("sma", {"fast_period": [5]}, results=tmp_path / "r.duckdb", progress=False,
                  execution={"fill_volume": "bar"}, **DAYS)  # fmt: skip
    assert done.note.startswith("fills limited by bar volume") and len(done.completed) == 1


def test_a_user_strategy_opts_in_with_vector_signals_in_its_module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(USER_STRATEGIES))
    config = tmp_path / "mine.yaml"
    config.write_text(
        'strategy_path: "my_sma:MySMA"\nconfig_path: "my_sma:MySMAConfig"\n'
        "config:\n  slow_period: 20\n"
    )
    done = screen(config, {"fast_period": [3, 5, 8]}, confirm=2, results=tmp_path / "r.duckdb",
                  progress=False, **DAYS)  # fmt: skip
    assert done.screened and len(done.completed) == 3
    assert done.confirmations["agrees"].tolist() == [True, True]


def test_screened_runs_record_the_fills_and_costs_they_were_run_with(tmp_path: Path) -> None:
    store = tmp_path / "r.duckdb"
    execution = {"fill_timing": "next_open", "costs": {"commission_rate": 0.0005,
                                                       "slippage_ticks": 1}}  # fmt: skip
    screen("sma_crossover", {"fast_period": [5, 8], "slow_period": [20]}, confirm=1,
           results=store, progress=False, execution=execution, **DAYS)  # fmt: skip
    runs = ResultsStore(store).list(limit=None)
    vector_run, nautilus_run = (
        ResultsStore(store).get(runs.loc[runs["engine"] == engine, "id"].iloc[0])
        for engine in ("vector", "nautilus")
    )
    assert vector_run.settings["execution"] == nautilus_run.settings["execution"]
    assert vector_run.settings["execution"]["fill_timing"] == "next_open"
    assert vector_run.settings["execution"]["costs"]["commission_rate"] == 0.0005


def test_lower_is_better_metrics_confirm_the_lowest(tmp_path: Path) -> None:
    done = screen("sma_crossover", {"fast_period": [2, 4, 6], "slow_period": [15, 30]},
                  confirm=2, by="volatility", results=tmp_path / "r.duckdb", progress=False,
                  **DAYS)  # fmt: skip
    screened = done.completed.sort_values("volatility")
    assert set(done.confirmations["twin_id"]) == set(screened["id"].head(2))
    assert done.ranked("volatility")["id"].tolist() == screened["id"].tolist()


def test_points_whose_every_order_is_refused_fail_as_in_nautilus(tmp_path: Path) -> None:
    grid = {"fast_period": [3, 6], "slow_period": [20], "trade_size": [150_000],
            "sizing": ["notional"]}  # fmt: skip
    done = screen("sma_crossover", grid, confirm=2, results=tmp_path / "r.duckdb",
                  progress=False, **DAYS)  # fmt: skip
    assert len(done.failed) == 2 and done.confirmations.empty
    for _point, error in done.failed:
        assert error.startswith("BacktestError: every order was refused (")
        assert "exceeds the account's equity of 100,000.00" in error
    with pytest.raises(Exception, match="every order was refused"):
        run_backtest("sma_crossover", {"fast_period": 3, "slow_period": 20,
                                       "trade_size": 150_000, "sizing": "notional"},
                     save=False, **DAYS)  # fmt: skip
    runs = _runs(tmp_path / "r.duckdb")
    assert set(runs["status"]) == {"failed"} and set(runs["engine"]) == {"vector"}


def test_refused_entries_are_a_warning_like_nautilus_gives(tmp_path: Path) -> None:
    grid = {"fast_period": [3], "slow_period": [20], "trade_size": [99_900],
            "sizing": ["notional"]}  # fmt: skip
    done = screen("sma_crossover", grid, confirm=1, results=tmp_path / "r.duckdb",
                  progress=False, execution={"costs": {"commission_rate": 0.001}},
                  **DAYS)  # fmt: skip
    runs = ResultsStore(tmp_path / "r.duckdb")
    [twin] = done.confirmations["twin_id"]
    [confirming] = done.confirmations["id"]
    ours, theirs = runs.get(twin).warnings, runs.get(confirming).warnings
    assert ours and theirs and ours[0].split(",")[0] == theirs[0].split(",")[0]
    assert "orders were refused, the first: notional" in ours[0]
