"""What a file's timestamps mark (--label) and when bars of a day or longer close: the
exchange session of their last day, so daily, weekly and monthly trades fall on sessions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from factories import make_bars

from research_lib.cli import cli
from research_lib.data.catalog import Catalog
from research_lib.errors import CatalogError
from research_lib.model.bars import bar_closes, bar_opens
from research_lib.workflows.record import run_backtest

GOOD = Path(__file__).parent / "data" / "good"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def series(*texts: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(texts), utc=True).as_unit("ns"), name="timestamp")


def test_close_labels_open_one_interval_earlier_and_days_stay_on_their_date() -> None:
    minutes = bar_opens(series("2024-01-02 14:31", "2024-01-02 14:32"), "1-MINUTE-LAST", "close")
    assert minutes.tolist() == [utc("2024-01-02 14:30"), utc("2024-01-02 14:31")]
    days = bar_opens(series("2024-01-02", "2024-01-03"), "1-DAY-LAST", "close")
    assert days.tolist() == [utc("2024-01-02"), utc("2024-01-03")]
    fridays = bar_opens(series("2024-01-05", "2024-01-12"), "1-WEEK-LAST")  # auto: close
    assert fridays.tolist() == [utc("2024-01-01"), utc("2024-01-08")]
    # The last business day of March 2013 was Friday the 29th.
    months = bar_opens(series("2013-01-31", "2013-02-28", "2013-03-29"), "1-MONTH-LAST")
    assert months.tolist() == [utc("2013-01-01"), utc("2013-02-01"), utc("2013-03-01")]
    starts = series("2024-01-01", "2024-01-08")
    assert bar_opens(starts, "1-WEEK-LAST").tolist() == starts.tolist()  # Mondays: opens
    with pytest.raises(CatalogError, match="label must be one of auto, open, close"):
        bar_opens(starts, "1-WEEK-LAST", "middle")


def test_bars_of_a_day_or_longer_close_at_their_sessions_close() -> None:
    days = bar_closes(series("2024-03-08", "2024-03-11"), "1-DAY-LAST", "NASDAQ")
    # 16:00 New York: EST on the 8th, EDT after the switch on the 10th.
    assert days.tolist() == [utc("2024-03-08 21:00"), utc("2024-03-11 20:00")]
    month = bar_closes(series("2013-03-01"), "1-MONTH-LAST", "NASDAQ")
    assert month.tolist() == [utc("2013-03-29 20:00")]  # the 31st was a Sunday
    week = bar_closes(series("2024-01-01"), "1-WEEK-LAST", "NYSE")
    assert week.tolist() == [utc("2024-01-05 21:00")]  # that week's Friday
    around_the_clock = bar_closes(series("2024-03-08"), "1-DAY-LAST", "BINANCE")
    assert around_the_clock.tolist() == [utc("2024-03-09")]  # no session: open + a day
    minutes = bar_closes(series("2024-03-08 14:30"), "1-MINUTE-LAST", "NASDAQ")
    assert minutes.tolist() == [utc("2024-03-08 14:31")]


def test_intraday_close_labels_from_the_cli(tmp_path: Path) -> None:
    bars = make_bars([100.0, 101.0, 102.0], start="2024-01-02 14:31")
    bars.to_csv(tmp_path / "closes.csv", index=False)
    where = ["--catalog", str(tmp_path / "cat")]
    result = CliRunner().invoke(
        cli,
        [*where, "data", "import-csv", "--file", str(tmp_path / "closes.csv"),
         "--symbol", "AAPL", "--label", "close"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stored = Catalog(tmp_path / "cat").bars("AAPL")
    assert stored["timestamp"].tolist() == [
        utc("2024-01-02 14:30"), utc("2024-01-02 14:31"), utc("2024-01-02 14:32")
    ]  # fmt: skip


def test_a_month_end_file_backtests_with_trades_on_month_end_sessions(tmp_path: Path) -> None:
    closes = [100 + 15 * ((i // 6) % 2) + (i % 6) * 2.0 for i in range(72)]
    labels = pd.date_range("2015-01-31", periods=72, freq="BME", tz="UTC")
    frame = make_bars(closes).assign(timestamp=labels.as_unit("ns"))
    frame.rename(columns={"timestamp": "date"}).to_csv(tmp_path / "m.csv", index=False)
    catalog = Catalog(tmp_path / "cat")
    assert catalog.import_csv(tmp_path / "m.csv", "SPY", venue="NYSE").bar_spec == "1-MONTH-LAST"
    result = run_backtest(
        "sma_crossover", {"fast_period": 2, "slow_period": 5}, data="catalog", symbol="SPY",
        catalog=catalog, save=False,
    )  # fmt: skip
    assert len(result.trades) >= 3
    stamps = pd.concat([result.trades["entry_time"], result.trades["exit_time"]])
    new_york = stamps.dt.tz_convert("America/New_York")
    assert (new_york.dt.strftime("%H:%M") == "16:00").all()
    assert set(new_york.dt.date) <= set(labels.date)  # on the month's last session
    assert result.record.periods_per_year == 12


@pytest.mark.parametrize(
    ("label", "venue", "close"),
    [
        ("2024-03-01 00:00", "NASDAQ", "2024-03-01 21:00"),  # a date read as UTC midnight
        ("2024-03-01 05:00", "NASDAQ", "2024-03-01 21:00"),  # midnight in New York
        ("2024-03-01 14:30", "NASDAQ", "2024-03-01 21:00"),  # stamped at the session open
        ("2024-02-29 15:00", "TSE", "2024-03-01 06:00"),  # midnight in Tokyo
        ("2024-03-01 00:00", "TSE", "2024-03-01 06:00"),
    ],
)
def test_a_daily_bar_closes_on_the_day_its_label_names(label, venue, close) -> None:
    assert bar_closes(series(label), "1-DAY-LAST", venue).tolist() == [utc(close)]
