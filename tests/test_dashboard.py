"""The dashboard's tabs in-process (the browser tests click them in Chromium) and the
``research-lib dashboard`` command's own errors."""

from __future__ import annotations

import json
import socket

import pytest

from research_lib.store import ResultsStore
from research_lib.ui.dashboard import ALL, Dashboard
from research_lib.workflows.record import run_backtest
from research_lib.workflows.sweep import ensure_demo_sweep, sweep

MOCK = {"data": "mock", "start": "2024-01-02", "end": "2024-01-04"}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ResultsStore:
    store = ResultsStore(tmp_path_factory.mktemp("dash") / "r.duckdb")
    ensure_demo_sweep(store)
    run_backtest("momentum", **MOCK, results=store)
    run_backtest("mean_reversion", **MOCK, results=store)
    return store


def test_runs_tab_filters_and_compares(store, tmp_path) -> None:
    board = Dashboard(catalog=tmp_path / "empty", results=store)
    runs = board.runs
    assert len(runs.runs.options) == 6  # 4 sweep points + 2 runs, newest first
    assert set(runs.strategy.options) == {ALL, "sma_crossover", "momentum", "mean_reversion"}
    runs.strategy.value = "momentum"
    [(label, run_id)] = runs.runs.options
    assert "momentum" in label and "rsi=14" in label
    assert store.get(run_id).strategy == "momentum"

    runs.strategy.value = ALL
    runs.compare()  # nothing picked
    assert runs.last_error == "pick at least one run to compare"
    runs.runs.value = tuple(v for _, v in runs.runs.options[:2])
    runs.compare()
    assert runs.last_error is None
    assert "research-lib-comparison" in runs.comparison.value
    [bundle] = runs.equity_view.outputs
    assert bundle["data"]["application/vnd.plotly.v1+json"]["layout"]["title"]["text"].startswith(
        "Equity curves"
    )


def test_sweeps_tab_draws_the_grid(store, tmp_path) -> None:
    board = Dashboard(catalog=tmp_path / "empty", results=store)
    sweeps = board.sweeps
    [sweep_id] = [v for _, v in sweeps.sweep.options]
    assert (sweeps.x.value, sweeps.y.value) == ("fast_period", "slow_period")
    figure = sweeps.last_figure
    heatmap = figure.data[0]
    runs = store.list(sweep_id=sweep_id, limit=None)
    assert len(heatmap.x) * len(heatmap.y) == len(runs)
    sweeps.metric.value = "total_return"
    assert "total_return" in sweeps.last_figure.layout.title.text


def test_a_new_run_appears_in_the_runs_tab(store, tmp_path) -> None:
    board = Dashboard(catalog=tmp_path / "empty", results=store)
    before = len(board.runs.runs.options)
    board.backtest.start.value = board.backtest.start.value.replace(day=2)
    board.backtest.end.value = board.backtest.start.value.replace(day=3)
    board.backtest.run_button.click()
    assert board.backtest.last_error is None
    assert len(board.runs.runs.options) == before + 1
    assert board.runs.runs.options[0][1] == board.backtest.last_result.run_id


def test_dashboard_refuses_a_port_in_use(invoke) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("dashboard", "--no-open", "--port", str(port))
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: port {port} on 127.0.0.1 is in use: choose another with --port"
    )


def test_a_sweep_of_one_parameter_draws_a_bar_per_value(tmp_path) -> None:
    store = ResultsStore(tmp_path / "one.duckdb")
    sweep("sma_crossover", {"fast_period": [8, 5, 6]}, data="mock", start="2024-01-02",
          end="2024-01-03", results=store, progress=False)  # fmt: skip
    board = Dashboard(catalog=tmp_path / "empty", results=store)
    assert board.sweeps.last_error is None
    figure = board.sweeps.last_figure
    assert list(figure.data[0].x) == ["fast_period=5", "fast_period=6", "fast_period=8"]
    assert figure.layout.title.text.endswith("sharpe by fast_period")


def test_the_sweeps_tab_marks_a_screened_sweeps_confirmed_points(tmp_path) -> None:
    from research_lib.ui.dashboard import agreement_note
    from research_lib.ui.plots.runs import confirmed_points
    from research_lib.workflows.screen import screen

    store = ResultsStore(tmp_path / "screened.duckdb")
    done = screen("sma_crossover", {"fast_period": [5, 8, 10], "slow_period": [20, 30]},
                  confirm=2, data="mock", start="2024-01-02", end="2024-01-04", results=store,
                  progress=False, workers=1)  # fmt: skip
    board = Dashboard(catalog=tmp_path / "empty", results=store)
    sweeps = board.sweeps
    [(label, sweep_id)] = sweeps.sweep.options
    assert sweep_id == done.sweep_id
    assert label.startswith(f"{sweep_id[:8]}  screened  6 points, 2 confirmed  ")
    assert sweeps.last_error is None
    assert sweeps.agreement.value == "2 of 2 confirmed points agree with Nautilus"
    figure = sweeps.last_figure
    assert len(figure.data[0].x) * len(figure.data[0].y) == 6
    [mark] = [t for t in figure.data if t.type == "scatter"]
    assert sorted(mark.customdata) == sorted(done.confirmations["id"])
    sweeps.metric.value = "total_return"  # the marks follow the metric
    assert [t.type for t in sweeps.last_figure.data] == ["heatmap", "scatter"]

    labels = [label for label, _ in board.runs.runs.options]
    assert len(labels) == 8  # the Runs tab lists every run: 6 screened, 2 confirming
    assert sum(label.endswith("[vector]") for label in labels) == 6
    twins = set(done.confirmations["twin_id"].str[:8])
    assert {label.split("confirms ")[1][:8] for label in labels if "confirms" in label} == twins

    runs = done.runs.copy()  # a confirmation that differs is named in the note
    first = runs.index[runs["twin_id"].notna()][0]
    runs.loc[first, "agreement"] = json.dumps({"agrees": False, "detail": "trade 1 differs"})
    params = ["fast_period", "slow_period"]
    text, agree = agreement_note(confirmed_points(runs, params), params)
    row = runs.loc[first]
    assert not agree
    assert text == (
        "1 of 2 confirmed points agree with Nautilus; fast_period="
        f"{row['fast_period']} slow_period={row['slow_period']} (run {row['id'][:8]}) "
        "differs: trade 1 differs"
    )
