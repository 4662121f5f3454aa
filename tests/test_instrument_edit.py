"""Venue, currency, asset class, multiplier and session of instruments: edited with
`data instrument`, stored in the catalog, carried into the Nautilus instrument, and followed
by backtests (P&L scaled by the multiplier, daily bars closing at the instrument's session)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from factories import file_digests as snapshot
from factories import make_bars

from research_lib.data.catalog import Catalog
from research_lib.data.instruments import InstrumentSpec
from research_lib.errors import CatalogError
from research_lib.model.bars import bar_closes
from research_lib.ui import plots
from research_lib.workflows.record import run_backtest

SMA = {"fast_period": 2, "slow_period": 5}


def stored_row(catalog: Catalog) -> dict:
    (row,) = pq.read_table(catalog.root / "instruments.parquet").to_pylist()
    return row


def shown(output: str) -> dict[str, str]:
    """The `data instrument` printout as {label: value}."""
    rows = [line.strip().split("  ", 1) for line in output.splitlines() if line.startswith("  ")]
    return {label: value.strip() for label, value in rows}


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def imported(invoke, tmp_path: Path, bars: pd.DataFrame, *options: str) -> Catalog:
    """``bars`` written to a CSV and imported as AAPL through the CLI."""
    path = tmp_path / "aapl.csv"
    bars.to_csv(path, index=False)
    result = invoke("data", "import-csv", "-f", str(path), "--symbol", "AAPL", *options)
    assert result.exit_code == 0, result.output
    return Catalog(tmp_path / "cat")


@pytest.fixture
def catalog(invoke, tmp_path) -> Catalog:
    """AAPL on NASDAQ: four minute bars."""
    return imported(invoke, tmp_path, make_bars([100.0, 100.5, 101.0, 100.5]))


def trending(days: int = 120) -> list[float]:
    """Closes that rise and fall in 15-bar swings, so a 2/5 SMA crossover trades often."""
    return [100 + 10 * ((i // 15) % 2) + (i % 15) * 0.5 for i in range(days)]


# -- editing through the CLI -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "column", "stored", "label", "printed"),
    [
        ("--venue", "LSE", "venue", "LSE", "session", "Europe/London 16:30 (venue default)"),
        ("--currency", "GBP", "currency", "GBP", "currency", "GBP"),
        ("--asset-class", "crypto", "asset_class", "crypto", "backtests use",
         "Nautilus CurrencyPair"),
        ("--multiplier", "10.0", "multiplier", "10", "multiplier", "10"),
        ("--multiplier", "0.5", "multiplier", "0.5", "backtests use",
         "Nautilus PerpetualContract (equity multiplier)"),
        ("--session", "Europe/London 16:30", "session", "Europe/London 16:30", "session",
         "Europe/London 16:30"),
        ("--session", "Asia/Tokyo 9:00", "session", "Asia/Tokyo 09:00", "session",
         "Asia/Tokyo 09:00"),
        ("--session", "none", "session", "none", "session", "none (24x7)"),
    ],
)  # fmt: skip
def test_each_field_is_edited_stored_and_shown(
    catalog, invoke, option, value, column, stored, label, printed
):
    result = invoke("data", "instrument", "AAPL", option, value)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("updated AAPL: ")
    assert stored_row(catalog)[column] == stored
    assert shown(result.output)[label] == printed
    again = invoke("data", "instrument", "AAPL")
    assert shown(again.output)[label] == printed


def test_the_printout_and_the_update_line_name_every_change(catalog, invoke):
    result = invoke(
        "data", "instrument", "AAPL", "--venue", "LSE", "--currency", "GBP",
        "--multiplier", "10", "--session", "none",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "updated AAPL: venue NASDAQ -> LSE, currency USD -> GBP, multiplier 1 -> 10, session "
        "America/New_York 16:00 (venue default) -> none (24x7), backtests use Nautilus Equity "
        "-> Nautilus PerpetualContract (equity multiplier)",
        "AAPL.LSE",
        "  symbol           AAPL",
        "  venue            LSE",
        "  asset class      equity",
        "  currency         GBP",
        "  price precision  2",
        "  tick             0.01",
        "  size precision   0",
        "  size increment   1 (from size precision)",
        "  multiplier       10",
        "  session          none (24x7)",
        "  backtests use    Nautilus PerpetualContract (equity multiplier)",
    ]
    assert stored_row(catalog) == {
        "symbol": "AAPL", "venue": "LSE", "asset_class": "equity", "currency": "GBP",
        "price_precision": 2, "size_precision": 0, "size_increment": None,
        "multiplier": "10", "session": "none",
    }  # fmt: skip


def test_default_and_one_go_back_to_inheriting(catalog, invoke):
    before = snapshot(catalog.root)
    set_ = invoke("data", "instrument", "AAPL", "--multiplier", "10", "--session", "none")
    assert set_.exit_code == 0, set_.output
    reset = invoke("data", "instrument", "AAPL", "--multiplier", "1", "--session", "default")
    assert reset.exit_code == 0, reset.output
    assert (stored_row(catalog)["multiplier"], stored_row(catalog)["session"]) == (None, None)
    assert shown(reset.output)["session"] == "America/New_York 16:00 (venue default)"
    same = invoke("data", "instrument", "AAPL", "--multiplier", "1.00")
    assert same.output.splitlines()[0] == "nothing changed"
    assert catalog.instrument("AAPL") == InstrumentSpec("AAPL")
    assert snapshot(catalog.root).keys() == before.keys()


def test_a_venue_without_a_default_session_shows_24x7(catalog, invoke):
    result = invoke("data", "instrument", "AAPL", "--venue", "BINANCE")
    assert shown(result.output)["session"] == "none (24x7, venue default)"


def test_a_reimport_keeps_the_multiplier_and_the_session(catalog, invoke, tmp_path):
    invoke("data", "instrument", "AAPL", "--multiplier", "10", "--session", "Europe/London 16:30")
    more = make_bars([101.0, 102.0], start="2024-01-03 14:30")
    imported(invoke, tmp_path, more)
    spec = catalog.instrument("AAPL")
    assert (spec.multiplier, spec.session) == ("10", "Europe/London 16:30")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--session", "Europe/Londn 16:30"],
         "Error: unknown session timezone 'Europe/Londn'; did you mean 'Europe/London'? use an "
         "IANA name such as 'America/New_York' or 'Europe/London'"),
        (["--session", "Mars/Olympus 16:30"],
         "Error: unknown session timezone 'Mars/Olympus'; use an IANA name such as "
         "'America/New_York' or 'Europe/London'"),
        (["--session", "America 16:00"],
         "Error: unknown session timezone 'America'; did you mean 'America/Nuuk'? use an IANA "
         "name such as "
         "'America/New_York' or 'Europe/London'"),
        (["--session", "Europe/London 25:00"],
         "Error: invalid session close '25:00': use HH:MM on a 24-hour clock, such as 16:30"),
        (["--session", "Europe/London 4pm"],
         "Error: invalid session close '4pm': use HH:MM on a 24-hour clock, such as 16:30"),
        (["--session", "16:30"],
         "Error: invalid session '16:30': use '<timezone> HH:MM' such as 'America/New_York "
         "16:00', 'none' for a 24x7 instrument or 'default' for the venue's"),
        (["--multiplier", "0"],
         "Error: invalid multiplier '0': use a positive decimal number such as 10 (a contract "
         "of 10 units) or 0.1"),
        (["--multiplier", "-10"],
         "Error: invalid multiplier '-10': use a positive decimal number such as 10 (a "
         "contract of 10 units) or 0.1"),
        (["--multiplier", "ten"],
         "Error: invalid multiplier 'ten': use a positive decimal number such as 10 (a "
         "contract of 10 units) or 0.1"),
        (["--multiplier", "0.0000000001"],
         "Error: invalid multiplier '0.0000000001': at most 9 decimals and at most "
         "1,000,000,000"),
        (["--asset-class", "equities"],
         "Error: invalid asset class 'equities'; did you mean 'equity'? use one of equity, fx, "
         "crypto"),
        (["--asset-class", "bond"],
         "Error: invalid asset class 'bond'; use one of equity, fx, crypto"),
        (["--currency", "usd"],
         "Error: invalid currency 'usd': use a code in capitals such as USD, EUR or USDT"),
        (["--venue", "lse"], "Error: invalid venue 'lse': use A-Z, 0-9 and '_'"),
        (["--multiplier", "10", "--session", "Nowhere 16:30"],
         "Error: unknown session timezone 'Nowhere'; use an IANA name such as "
         "'America/New_York' or 'Europe/London'"),  # all or nothing: the multiplier is not set
    ],
)  # fmt: skip
def test_a_bad_value_is_one_line_and_changes_nothing(catalog, invoke, options, message):
    before = snapshot(catalog.root)
    result = invoke("data", "instrument", "AAPL", *options)
    assert result.exit_code == 1
    assert result.output.splitlines() == [message]
    assert snapshot(catalog.root) == before


# -- InstrumentSpec and bar_closes -----------------------------------------------------------


def test_session_close_is_the_own_session_else_the_venues():
    assert InstrumentSpec("AAPL").session_close == ("America/New_York", "16:00")
    assert InstrumentSpec("VOD", "XLON").session_close == ("Europe/London", "16:30")
    own = InstrumentSpec("AAPL", session="Europe/London  16:30")
    assert (own.session, own.session_close) == ("Europe/London 16:30", ("Europe/London", "16:30"))
    assert InstrumentSpec("AAPL", session="none").session_close is None
    assert InstrumentSpec("AAPL", session="NONE").session == "none"
    assert InstrumentSpec("BTC/USD", "BINANCE", "crypto").session_close is None
    assert InstrumentSpec("AAPL", session="default").session is None


def test_to_dict_leaves_out_unset_new_fields_so_old_run_records_hash_alike():
    assert "multiplier" not in InstrumentSpec("AAPL").to_dict()
    assert "session" not in InstrumentSpec("AAPL").to_dict()
    spec = InstrumentSpec("AAPL", multiplier="10", session="none")
    assert InstrumentSpec(**spec.to_dict()) == spec
    assert (spec.point_value, InstrumentSpec("AAPL", multiplier="1").multiplier) == (10, None)


def test_a_session_overrides_the_venue_in_bar_closes():
    days = pd.Series(pd.to_datetime(["2024-03-08", "2024-04-02"], utc=True).as_unit("ns"))
    london = bar_closes(days, "1-DAY-LAST", "NASDAQ", ("Europe/London", "16:30"))
    assert london.tolist() == [utc("2024-03-08 16:30"), utc("2024-04-02 15:30")]  # GMT, BST
    assert bar_closes(days, "1-DAY-LAST", "NASDAQ", "none").tolist() == [
        utc("2024-03-09"),
        utc("2024-04-03"),
    ]
    session = InstrumentSpec("AAPL", session="Europe/London 16:30").session_close
    assert bar_closes(days, "1-DAY-LAST", session=session).equals(london)
    assert bar_closes(days, "1-DAY-LAST", session=None)[0] == utc("2024-03-09")  # no venue
    with pytest.raises(CatalogError, match="session must be"):
        bar_closes(days, "1-DAY-LAST", session="Europe/London 16:30")


def test_multipliers_reach_the_nautilus_instrument():
    from nautilus_trader.model.enums import AssetClass
    from nautilus_trader.model.instruments import CurrencyPair, Equity, PerpetualContract

    contract = InstrumentSpec("AAPL", multiplier="10", size_precision=1).to_nautilus()
    assert type(contract) is PerpetualContract
    assert (str(contract.multiplier), contract.asset_class) == ("10", AssetClass.EQUITY)
    assert (contract.margin_init, contract.size_precision) == (Decimal(1), 1)
    assert type(InstrumentSpec("AAPL").to_nautilus()) is Equity
    fx = InstrumentSpec("EUR/USD", "SIM", "fx", "USD", 5, multiplier="1000").to_nautilus()
    assert type(fx) is CurrencyPair and str(fx.multiplier) == "1000"
    assert str(InstrumentSpec("EUR/USD", "SIM", "fx").to_nautilus().multiplier) == "1"


# -- backtests -------------------------------------------------------------------------------


def test_a_multiplier_of_ten_makes_each_trades_pnl_ten_times_the_price_move(invoke, tmp_path):
    catalog = imported(invoke, tmp_path, make_bars(trending()))
    assert invoke("data", "instrument", "AAPL", "--multiplier", "10").exit_code == 0
    params = {**SMA, "trade_size": 10}
    result = run_backtest(
        "sma_crossover", params, data="catalog", symbol="AAPL", catalog=catalog, save=False
    )
    trades = result.trades
    assert len(trades) >= 3 and not result.warnings
    sign = trades["side"].map({"LONG": 1.0, "SHORT": -1.0})
    move = (trades["exit_price"] - trades["entry_price"]) * trades["quantity"] * sign
    assert trades["realized_pnl"].tolist() == pytest.approx((10 * move).tolist())
    assert (move != 0).all()
    pnl = trades["realized_pnl"].sum()
    assert result.record.final_capital == pytest.approx(result.initial_capital + pnl)
    assert result.equity.iloc[-1] == pytest.approx(result.record.final_capital)  # marked x10
    notional = trades["entry_price"] * trades["quantity"] * 10
    expected = (trades["realized_pnl"] / notional).mean()
    assert result.record.metrics["avg_trade_return"] == pytest.approx(expected)
    assert result.record.settings["instrument"]["multiplier"] == "10"  # recorded with the run


def test_daily_bars_close_at_the_instruments_own_session(invoke, tmp_path):
    bars = make_bars(trending(), start="2024-01-01", freq="B")  # across the BST switch
    catalog = imported(invoke, tmp_path, bars)
    session = invoke("data", "instrument", "AAPL", "--session", "Europe/London 16:30")
    assert session.exit_code == 0, session.output
    result = run_backtest("sma_crossover", SMA, data="catalog", symbol="AAPL", catalog=catalog,
                          save=False)  # fmt: skip
    assert result.bar_spec == "1-DAY-LAST" and len(result.trades) >= 4
    stamps = pd.concat([result.trades["entry_time"], result.trades["exit_time"]])
    london = stamps.dt.tz_convert("Europe/London")
    assert (london.dt.strftime("%H:%M") == "16:30").all()
    assert {t.utcoffset() for t in london} == {pd.Timedelta(0), pd.Timedelta(hours=1)}
    assert set(london.dt.date) <= set(bars["timestamp"].dt.date)
    closes = plots.close_times(result).tz_convert("Europe/London")
    assert (closes.strftime("%H:%M") == "16:30").all()  # the price figure agrees


def test_daily_bars_of_a_24x7_instrument_close_a_day_after_they_open(invoke, tmp_path):
    bars = make_bars(trending(), start="2024-01-01", freq="B")
    catalog = imported(invoke, tmp_path, bars)
    assert invoke("data", "instrument", "AAPL", "--session", "none").exit_code == 0
    result = run_backtest("sma_crossover", SMA, data="catalog", symbol="AAPL", catalog=catalog,
                          save=False)  # fmt: skip
    assert len(result.trades) >= 4
    stamps = pd.concat([result.trades["entry_time"], result.trades["exit_time"]])
    opens = set(bars["timestamp"])
    assert all(stamp - pd.Timedelta(days=1) in opens for stamp in stamps)
    assert list(result.equity.index) == [t + pd.Timedelta(days=1) for t in bars["timestamp"]]
