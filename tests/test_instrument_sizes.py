"""Size precision and size increment of instruments: set at import, shown and edited with
`data instrument`, stored in the catalog, checked and applied by InstrumentSpec, and carried
into the Nautilus instrument."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factories import file_digests as snapshot

from research_lib.data import partitions
from research_lib.data.catalog import Catalog
from research_lib.data.instruments import InstrumentSpec
from research_lib.errors import CatalogError, UnknownSymbolError

CSV = """timestamp,open,high,low,close,volume
2024-01-02 14:30,100.10,100.25,100.05,100.20,1500
2024-01-02 14:31,100.20,100.30,100.15,100.25,1200
2024-01-02 14:32,100.25,100.40,100.20,100.35,900
2024-01-02 14:33,100.35,100.35,100.00,100.05,2000
"""
OLD_INSTRUMENT_SCHEMA = pa.schema(
    [(f.name, f.type) for f in list(partitions.INSTRUMENT_SCHEMA)[:6]]
)  # before size_increment, multiplier and session existed


@pytest.fixture
def bars_csv(tmp_path: Path) -> Path:
    path = tmp_path / "aapl.csv"
    path.write_text(CSV)
    return path


@pytest.fixture
def crypto_like(invoke, bars_csv, tmp_path) -> Catalog:
    """AAPL imported through the CLI in thousandths of a share."""
    result = invoke(
        "data", "import-csv", "-f", str(bars_csv), "--symbol", "AAPL",
        "--size-precision", "3", "--size-increment", "0.001",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return Catalog(tmp_path / "cat")


def stored_rows(catalog: Catalog) -> list[dict]:
    return pq.read_table(catalog.root / "instruments.parquet").to_pylist()


# -- import, show, edit through the CLI ----------------------------------------------------


def test_import_stores_the_size_settings(crypto_like):
    spec = crypto_like.instrument("AAPL")
    assert spec == InstrumentSpec("AAPL", "NASDAQ", "equity", "USD", 2, 3, "0.001")
    assert spec.increment == Decimal("0.001")
    assert stored_rows(crypto_like) == [
        {
            "symbol": "AAPL",
            "venue": "NASDAQ",
            "asset_class": "equity",
            "currency": "USD",
            "price_precision": 2,
            "size_precision": 3,
            "size_increment": "0.001",
            "multiplier": None,
            "session": None,
        }
    ]


def test_instrument_command_prints_the_instrument(crypto_like, invoke):
    result = invoke("data", "instrument", "AAPL")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "AAPL.NASDAQ",
        "  symbol           AAPL",
        "  venue            NASDAQ",
        "  asset class      equity",
        "  currency         USD",
        "  price precision  2",
        "  tick             0.01",
        "  size precision   3",
        "  size increment   0.001",
        "  multiplier       1",
        "  session          America/New_York 16:00 (venue default)",
        "  backtests use    Nautilus Cfd (fractional shares or lots)",
    ]


def test_instrument_command_edits_the_catalog(crypto_like, invoke):
    result = invoke(
        "data", "instrument", "AAPL", "--size-precision", "2", "--size-increment", "0.05"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "updated AAPL: size precision 3 -> 2, size increment 0.001 -> 0.05"
    assert "  size increment   0.05" in lines
    row = stored_rows(crypto_like)[0]
    assert (row["size_precision"], row["size_increment"]) == (2, "0.05")
    assert crypto_like.instrument("AAPL").increment == Decimal("0.05")
    again = invoke("data", "instrument", "AAPL", "--size-increment", "0.050")
    assert again.output.splitlines()[0] == "nothing changed"


def test_instrument_command_shows_a_default_increment(invoke, bars_csv):
    assert invoke("data", "import-csv", "-f", str(bars_csv), "--symbol", "AAPL").exit_code == 0
    result = invoke("data", "instrument", "AAPL", "--size-precision", "2")
    assert result.output.splitlines()[0] == (
        "updated AAPL: size precision 0 -> 2, size increment 1 (from size precision) -> "
        "0.01 (from size precision), backtests use Nautilus Equity -> Nautilus Cfd "
        "(fractional shares or lots)"
    )


def test_bad_increment_at_import_is_one_line_and_writes_nothing(invoke, bars_csv, tmp_path):
    result = invoke(
        "data", "import-csv", "-f", str(bars_csv), "--symbol", "AAPL",
        "--size-precision", "2", "--size-increment", "0.001",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: size increment 0.001 needs 3 decimals but AAPL's size precision is 2: use a "
        "size precision of 3 or more, or an increment that is a multiple of 0.01"
    ]
    assert not (tmp_path / "cat").exists()


def test_bad_edit_is_one_line_and_changes_nothing(crypto_like, invoke):
    before = snapshot(crypto_like.root)
    result = invoke("data", "instrument", "AAPL", "--size-increment", "zero")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: invalid size increment 'zero': use a positive decimal number such as 0.001 "
        "(crypto) or 1000 (FX lots)"
    ]
    result = invoke("data", "instrument", "AAPL", "--size-precision", "2")
    assert result.exit_code == 1
    assert "size increment 0.001 needs 3 decimals" in result.output
    assert snapshot(crypto_like.root) == before


def test_unknown_symbol_suggests_the_stored_one(crypto_like, invoke):
    result = invoke("data", "instrument", "AAPX", "--size-precision", "1")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: unknown symbol 'AAPX'; did you mean 'AAPL'? the catalog has: AAPL "
        "(research-lib data list)"
    )


def test_reimport_with_other_sizes_points_at_the_edit_command(crypto_like, invoke, bars_csv):
    result = invoke(
        "data", "import-csv", "-f", str(bars_csv), "--symbol", "AAPL", "--size-increment", "0.01"
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: AAPL is stored with size increment 0.001, not 0.01: change it first with "
        "`research-lib data instrument AAPL --size-increment 0.01`, or leave the option out "
        "to keep it"
    )
    kept = invoke("data", "import-csv", "-f", str(bars_csv), "--symbol", "AAPL")
    assert kept.exit_code == 0, kept.output
    same = invoke(
        "data", "import-csv", "-f", str(bars_csv), "--symbol", "AAPL",
        "--size-precision", "3", "--size-increment", "0.0010",
    )  # fmt: skip
    assert same.exit_code == 0, same.output
    assert crypto_like.instrument("AAPL").size_increment == "0.001"


# -- Catalog.update_instrument ---------------------------------------------------------------


def test_price_precision_cannot_drop_below_the_stored_prices(crypto_like):
    with pytest.raises(CatalogError) as error:
        crypto_like.update_instrument("AAPL", price_precision=1)
    assert str(error.value) == (
        "cannot set AAPL's price precision to 1: its 1-MINUTE-LAST bars need 2 decimals "
        "(high 100.25 at 2024-01-02 14:30 UTC)"
    )
    assert crypto_like.update_instrument("AAPL", price_precision=4).tick == Decimal("0.0001")
    assert crypto_like.update_instrument("AAPL", price_precision=2).price_precision == 2


def test_failed_write_leaves_the_catalog_as_it_was(crypto_like, monkeypatch):
    before = snapshot(crypto_like.root)

    def disk_full(table, path):
        raise OSError("disk full")

    monkeypatch.setattr(partitions, "write_parquet", disk_full)
    with pytest.raises(OSError, match="disk full"):
        crypto_like.update_instrument("AAPL", size_increment="0.01")
    assert snapshot(crypto_like.root) == before
    assert crypto_like.instrument("AAPL").size_increment == "0.001"


def test_the_symbol_is_not_editable(crypto_like):
    with pytest.raises(CatalogError) as error:
        crypto_like.instrument("AAPL").edited(symbol="MSFT")
    assert str(error.value) == (
        "cannot change 'symbol' of an instrument; editable: venue, asset_class, currency, "
        "price_precision, size_precision, size_increment, multiplier, session"
    )
    with pytest.raises(CatalogError, match=r"'size_precison' .* did you mean 'size_precision'"):
        crypto_like.update_instrument("AAPL", size_precison=2)
    with pytest.raises(UnknownSymbolError):
        crypto_like.update_instrument("MSFT", size_precision=1)
    reset = crypto_like.update_instrument("AAPL", size_increment=None)
    assert (reset.size_increment, reset.increment) == (None, Decimal("0.001"))
    assert stored_rows(crypto_like)[0]["size_increment"] is None


def test_a_catalog_without_the_size_increment_column_loads(tmp_path, bars_csv):
    cat = Catalog(tmp_path / "old")
    cat.import_csv(bars_csv, "AAPL")
    old = pa.Table.from_pylist(
        [{"symbol": "AAPL", "venue": "NASDAQ", "asset_class": "equity", "currency": "USD",
          "price_precision": 2, "size_precision": 1}],
        schema=OLD_INSTRUMENT_SCHEMA,
    )  # fmt: skip
    pq.write_table(old, cat.root / "instruments.parquet")
    spec = cat.instrument("AAPL")
    assert (spec.size_precision, spec.size_increment, spec.increment) == (1, None, Decimal("0.1"))
    assert (spec.multiplier, spec.session, spec.session_close[1]) == (None, None, "16:00")
    frame = cat.sql("select symbol, size_increment is null as unset from instruments")
    assert frame.to_dict("records") == [{"symbol": "AAPL", "unset": True}]
    assert cat.symbols()["venue"].tolist() == ["NASDAQ"]
    cat.update_instrument("AAPL", size_increment="0.5")
    assert pq.read_schema(cat.root / "instruments.parquet") == partitions.INSTRUMENT_SCHEMA
    assert cat.instrument("AAPL").size_increment == "0.5"


def test_an_empty_catalog_has_every_instrument_column(tmp_path):
    frame = Catalog(tmp_path / "nothing").sql("select * from instruments")
    assert frame.empty and list(frame.columns) == partitions.INSTRUMENT_SCHEMA.names


# -- InstrumentSpec ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "increment", "stored"),
    [(2, "0.01", "0.01"), (2, "0.05", "0.05"), (2, "1", "1"), (2, "0.010", "0.01"),
     (0, "1000", "1000"), (0, "1E+3", "1000"), (9, "0.000000001", "0.000000001")],
)  # fmt: skip
def test_increments_that_fit_the_precision_are_stored_in_short_form(precision, increment, stored):
    spec = InstrumentSpec("X", size_precision=precision, size_increment=increment)
    assert spec.size_increment == stored
    assert spec.increment == Decimal(stored)


@pytest.mark.parametrize(
    ("precision", "increment", "message"),
    [
        (2, "0.001", "size increment 0.001 needs 3 decimals but X's size precision is 2"),
        (0, "0.5", "size increment 0.5 needs 1 decimals but X's size precision is 0"),
        (2, "0", "invalid size increment '0'"),
        (2, "-0.01", "invalid size increment '-0.01'"),
        (2, "1/100", "invalid size increment '1/100'"),
        (2, "NaN", "invalid size increment 'NaN'"),
    ],
)
def test_increments_that_do_not_fit_are_refused(precision, increment, message):
    with pytest.raises(CatalogError, match=re.escape(message)):
        InstrumentSpec("X", size_precision=precision, size_increment=increment)


def test_check_quantity_explains_the_fix():
    whole = InstrumentSpec("AAPL")
    assert whole.check_quantity(100, "trade_size") is None
    assert whole.check_quantity(1.5, "trade_size") == (
        "trade_size 1.5 is not a multiple of AAPL's size increment 1 (size precision 0): set it "
        "with `research-lib data instrument AAPL --size-precision 1`"
    )
    lots = InstrumentSpec("EUR/USD", "SIM", "fx", size_increment="1000")
    assert lots.check_quantity(Decimal("25000")) is None
    assert lots.check_quantity(1500, "trade_size") == (
        "trade_size 1500 is not a multiple of EUR/USD's size increment 1000 (size precision 0): "
        "use a multiple of 1000, or change it with "
        "`research-lib data instrument EUR/USD --size-increment 1`"
    )
    coins = InstrumentSpec("BTC/USD", "SIM", "crypto", size_precision=3, size_increment="0.005")
    assert coins.check_quantity(0.015) is None
    assert coins.check_quantity("0.0125", "trade_size") == (
        "trade_size 0.0125 is not a multiple of BTC/USD's size increment 0.005 (size precision "
        "3): use a multiple of 0.005, or change it with "
        "`research-lib data instrument BTC/USD --size-precision 4 --size-increment 0.0001`"
    )
    for bad in (0, -1, float("nan"), float("inf"), "lots", True):
        assert coins.check_quantity(bad, "trade_size").startswith(
            f"trade_size must be a positive number, was {bad!r}"
        )
    assert whole.check_quantity(0.1 + 0.2) == (
        "quantity 0.30000000000000004 is not a multiple of AAPL's size increment 1 (size "
        "precision 0): round it to a multiple of 1"
    )


def test_round_down_floors_to_the_increment():
    coins = InstrumentSpec("BTC/USD", "SIM", "crypto", size_precision=3, size_increment="0.005")
    assert coins.round_down(0.0149) == Decimal("0.010")
    assert str(coins.round_down(1.0)) == "1.000"
    assert coins.round_down(0.004) == 0
    assert coins.round_down(-0.012) == Decimal("-0.010")  # toward zero: never more than asked
    assert InstrumentSpec("AAPL").round_down(99.99) == Decimal(99)
    assert InstrumentSpec("AAPL", size_precision=2).round_down(0.1 + 0.2) == Decimal("0.30")
    lots = InstrumentSpec("EUR/USD", "SIM", "fx", size_increment="1000")
    assert lots.round_down(123_456.7) == Decimal(123_000)
    assert lots.round_down(1e15) == Decimal(10**15)
    with pytest.raises(ValueError, match="cannot round nan"):
        lots.round_down(float("nan"))


# -- to_nautilus ---------------------------------------------------------------------------


def test_whole_share_equity_is_a_nautilus_equity_with_the_fee():
    from nautilus_trader.model.instruments import Equity

    instrument = InstrumentSpec("AAPL").to_nautilus(taker_fee=Decimal("0.0005"))
    assert type(instrument) is Equity
    assert (instrument.size_precision, str(instrument.size_increment)) == (0, "1")
    assert (instrument.taker_fee, instrument.maker_fee) == (Decimal("0.0005"), Decimal("0.0005"))
    assert str(instrument.price_increment) == "0.01"
    assert InstrumentSpec("AAPL").to_nautilus().taker_fee == 0


@pytest.mark.parametrize(
    ("precision", "increment", "qty", "shown"),
    [(2, None, 0.25, "0.25"), (3, "0.005", 0.015, "0.015"), (0, "100", 300, "300")],
)
def test_other_equities_are_fully_funded_cfds(precision, increment, qty, shown):
    from nautilus_trader.model.enums import AssetClass
    from nautilus_trader.model.instruments import Cfd

    spec = InstrumentSpec("AAPL", size_precision=precision, size_increment=increment)
    instrument = spec.to_nautilus(taker_fee=Decimal("0.001"))
    assert type(instrument) is Cfd and spec.nautilus_type == "Cfd"
    assert instrument.asset_class == AssetClass.EQUITY
    assert instrument.size_precision == precision
    assert instrument.size_increment.as_decimal() == spec.increment
    assert (instrument.margin_init, instrument.margin_maint) == (Decimal(1), Decimal(1))
    assert instrument.taker_fee == Decimal("0.001")
    assert str(instrument.make_qty(qty)) == shown
    assert str(instrument.quote_currency) == "USD"


def test_fx_and_crypto_are_currency_pairs_with_the_spec_sizes():
    from nautilus_trader.model.enums import AssetClass
    from nautilus_trader.model.instruments import CurrencyPair

    fx = InstrumentSpec("EUR/USD", "SIM", "fx", "USD", 5, 0, "1000").to_nautilus(Decimal("2e-5"))
    assert type(fx) is CurrencyPair
    assert (fx.size_precision, str(fx.size_increment), str(fx.price_increment)) == (
        0,
        "1000",
        "0.00001",
    )
    assert (fx.taker_fee, str(fx.base_currency)) == (Decimal("0.00002"), "EUR")
    coin = InstrumentSpec("BTC/USD", "SIM", "crypto", "USD", 2, 6, "0.0001").to_nautilus()
    assert (coin.size_precision, str(coin.size_increment)) == (6, "0.000100")
    assert coin.asset_class == AssetClass.CRYPTOCURRENCY
    assert str(coin.make_qty(0.1234)) == "0.123400"
