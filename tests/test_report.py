"""``research_lib.ui.report`` and ``research-lib backtest report``: one self-contained HTML file."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from plotly.offline import get_plotlyjs

from research_lib.cli import cli
from research_lib.data.catalog import Catalog
from research_lib.data.maintenance import delete_bars
from research_lib.data.synthetic import generate_bars, write_csv
from research_lib.errors import ResultsError
from research_lib.store import ResultsStore
from research_lib.ui.report import (
    METRIC_DEFINITIONS,
    monthly_returns,
    report_html,
    stored_bars,
    write_report,
)
from research_lib.ui.tables import comparison_rows, metric_rows
from research_lib.workflows.record import run_backtest

TAG = "<b>bold</b>"
SINGLE_FIGURES = ("report-equity", "report-monthly", "report-pnl", "report-rolling-sharpe")


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[ResultsStore, str, str]:
    """A real store with two mock runs that differ in fast_period; the first is tagged."""
    store = ResultsStore(tmp_path_factory.mktemp("report") / "r.duckdb")
    common = {"data": "mock", "start": "2024-01-02", "end": "2024-01-05", "results": store}
    first = run_backtest(**common, tags=[TAG])
    second = run_backtest(**common, params={"fast_period": 5})
    return store, first.id, second.id


def assert_self_contained(text: str) -> None:
    assert text.count(get_plotlyjs()) == 1  # plotly.js embedded exactly once
    assert '<script src="http' not in text and "<script src='http" not in text
    assert "cdn.plot.ly" not in text.replace(get_plotlyjs(), "")  # outside the bundle


def test_one_run_report(stored, tmp_path: Path) -> None:
    store, run_id, _ = stored
    path = write_report(store, [run_id[:8]], tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html" and path.exists()
    text = path.read_text(encoding="utf-8")
    assert_self_contained(text)
    for div in SINGLE_FIGURES:
        assert f'id="{div}"' in text
    # a stored run keeps no bars: the mock bars are made again from the run's seed
    assert 'id="report-price"' in text
    run = store.get(run_id)
    assert html.escape(f"{run.trade_count} trades") in text
    run = store.get(run_id)
    assert html.escape(f"{run.strategy} on {run.symbol}") in text
    assert "mock (synthetic)" in text and "2024-01-02" in text
    rows = metric_rows(
        run.run,
        currency=run.currency or "",
        notes=run.metric_notes,
        periods_per_year=run.periods_per_year,
    )
    for label, value in rows:  # the labels and formats `backtest show` prints
        assert f"<td>{html.escape(label)}</td>" in text
        assert f'<td class="num">{html.escape(value)}</td>' in text
    assert html.escape(METRIC_DEFINITIONS["sharpe"]) in text
    for key, value in run.config.items():  # the configuration
        assert f"<td>{html.escape(key)}</td><td>{html.escape(str(value))}</td>" in text
    for value in (run.id, run.data_fingerprint, "settings.seed", "settings.execution."):
        assert html.escape(str(value)) in text  # the reproducibility record
    assert any(html.escape(f"version {name}") in text for name in run.versions)


def test_price_chart_from_the_catalog_and_after_the_bars_are_gone(tmp_path: Path) -> None:
    write_csv(generate_bars("2024-01-02", "2024-01-03"), tmp_path / "aapl.csv")
    catalog = Catalog(tmp_path / "catalog")
    catalog.import_csv(tmp_path / "aapl.csv", "AAPL")
    store = ResultsStore(tmp_path / "r.duckdb")
    result = run_backtest(data="catalog", symbol="AAPL", catalog=catalog, results=store)
    bars, why = stored_bars(store.get(result.run_id))
    assert why == "" and bars is not None
    pd.testing.assert_frame_equal(bars.reset_index(drop=True), result.bars.reset_index(drop=True))
    assert 'id="report-price"' in report_html(store, [result.run_id])

    delete_bars(catalog, "AAPL")
    text = report_html(store, [result.run_id])
    assert 'id="report-price"' not in text
    assert "No price chart: the bars cannot be read again" in text
    assert 'id="report-equity"' in text  # the rest of the report is there


def test_user_values_are_escaped(stored) -> None:
    store, run_id, _ = stored
    text = report_html(store, [run_id])
    assert html.escape(TAG) in text
    assert TAG not in text


def test_several_runs_compare(stored) -> None:
    store, first, second = stored
    text = report_html(store, [first, second])
    assert_self_contained(text)
    assert 'id="report-overlay"' in text and "Metrics side by side" in text
    assert "Configuration differences" in text
    assert first[:8] in text and second[:8] in text
    for label, cells in comparison_rows(store.compare([first, second]).metrics):
        assert (
            f"<td>{html.escape(label)}</td>"
            + "".join(f'<td class="num">{html.escape(c)}</td>' for c in cells)
            in text
        )
    assert "<tr><td>fast_period</td><td>10</td><td>5</td></tr>" in text


def test_unknown_id_raises(stored) -> None:
    store, _, _ = stored
    with pytest.raises(ResultsError):
        report_html(store, ["ffffffffdead"])


def test_monthly_returns_chain_month_ends() -> None:
    import pandas as pd

    index = pd.to_datetime(["2024-01-15", "2024-01-31", "2024-02-29", "2024-03-10"], utc=True)
    table = monthly_returns(pd.Series([101.0, 110.0, 99.0, 108.9], index=index), 100.0)
    assert list(table.index) == [2024] and list(table.columns) == list(range(1, 13))
    assert table.loc[2024, 1] == pytest.approx(0.10)
    assert table.loc[2024, 2] == pytest.approx(-0.10)
    assert table.loc[2024, 3] == pytest.approx(0.10)
    assert table.loc[2024, 4:].isna().all()


# -- the command -----------------------------------------------------------------------------


def invoke(store: ResultsStore, *args: str):
    return CliRunner().invoke(cli, ["--results", str(store.path), "backtest", "report", *args])


def test_cli_writes_default_file(stored, tmp_path: Path, monkeypatch) -> None:
    store, run_id, _ = stored
    monkeypatch.chdir(tmp_path)
    result = invoke(store, run_id[:8])
    assert result.exit_code == 0, result.output
    written = tmp_path / f"report-{run_id[:8]}.html"
    assert written.exists() and str(written.name) in result.output
    assert_self_contained(written.read_text(encoding="utf-8"))


def test_cli_output_for_several_runs(stored, tmp_path: Path) -> None:
    store, first, second = stored
    out = tmp_path / "compare.html"
    result = invoke(store, first[:8], second[:8], "--output", str(out))
    assert result.exit_code == 0, result.output
    assert str(out) in result.output.replace("\n", "")
    assert "Configuration differences" in out.read_text(encoding="utf-8")


def test_cli_unknown_id_is_one_line(stored, tmp_path: Path) -> None:
    store, _, _ = stored
    result = invoke(store, "ffffffffdead", "--output", str(tmp_path / "x.html"))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "ffffffffdead" in lines[0]
    assert not (tmp_path / "x.html").exists()
