"""Instrument metadata as stored in the catalog, and its conversion to Nautilus instruments."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from research_lib.errors import InvalidSymbolError

if TYPE_CHECKING:  # pragma: no cover
    from nautilus_trader.model.instruments import Instrument

SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)?$")
ASSET_CLASSES = ("equity", "fx", "crypto")


def validate_symbol(symbol: str) -> str:
    """Return ``symbol`` unchanged if it is safe, else raise :class:`InvalidSymbolError`.

    Allowed: letters, digits, ``.``, ``-``, ``_`` and one ``/`` between two parts (``EUR/USD``).
    A symbol is never used raw as a path; this check also refuses anything path-like (``../x``).
    """
    if not isinstance(symbol, str) or not symbol:
        raise InvalidSymbolError("symbol must be a non-empty string")
    if len(symbol) > 64 or not SYMBOL_PATTERN.match(symbol) or ".." in symbol:
        raise InvalidSymbolError(
            f"invalid symbol {symbol!r}: use letters, digits, '.', '-', '_' "
            "and one '/' for pairs such as EUR/USD"
        )
    return symbol


@dataclass(frozen=True)
class InstrumentSpec:
    """What the catalog knows about an instrument: enough to build it for a backtest."""

    symbol: str
    venue: str = "NASDAQ"
    asset_class: str = "equity"
    currency: str = "USD"
    price_precision: int = 2
    size_precision: int = 0

    def __post_init__(self) -> None:
        validate_symbol(self.symbol)
        if not re.fullmatch(r"[A-Z0-9_]{1,16}", self.venue):
            raise InvalidSymbolError(f"invalid venue {self.venue!r}: use A-Z, 0-9 and '_'")
        if self.asset_class not in ASSET_CLASSES:
            raise InvalidSymbolError(
                f"invalid asset class {self.asset_class!r}: one of {', '.join(ASSET_CLASSES)}"
            )
        if not 0 <= self.price_precision <= 9 or not 0 <= self.size_precision <= 9:
            raise InvalidSymbolError("precisions must be between 0 and 9")

    @property
    def instrument_id(self) -> str:
        """The Nautilus instrument id, ``SYMBOL.VENUE``."""
        return f"{self.symbol}.{self.venue}"

    def bar_type(self, bar_spec: str) -> str:
        """The Nautilus bar type string for external bars of ``bar_spec`` (``1-MINUTE-LAST``)."""
        return f"{self.instrument_id}-{bar_spec}-EXTERNAL"

    def to_dict(self) -> dict[str, object]:
        """Plain dict, as stored in the catalog and in run records."""
        return asdict(self)

    def to_nautilus(self) -> Instrument:
        """Build the Nautilus instrument (``Equity`` or ``CurrencyPair``) for the engine."""
        from nautilus_trader.model.currencies import Currency
        from nautilus_trader.model.identifiers import InstrumentId, Symbol
        from nautilus_trader.model.instruments import CurrencyPair, Equity
        from nautilus_trader.model.objects import Price, Quantity

        instrument_id = InstrumentId.from_str(self.instrument_id)
        price_increment = Price(10.0**-self.price_precision, self.price_precision)
        quote = Currency.from_str(self.currency)
        if self.asset_class == "equity":
            return Equity(
                instrument_id=instrument_id,
                raw_symbol=Symbol(self.symbol),
                currency=quote,
                price_precision=self.price_precision,
                price_increment=price_increment,
                lot_size=Quantity.from_int(1),
                margin_init=Decimal(1),  # fully funded: the account must carry the notional
                margin_maint=Decimal(1),
                ts_event=0,
                ts_init=0,
            )
        base_code = self.symbol.split("/")[0] if "/" in self.symbol else self.symbol[:3]
        size_increment = Quantity(10.0**-self.size_precision, self.size_precision)
        return CurrencyPair(
            instrument_id=instrument_id,
            raw_symbol=Symbol(self.symbol),
            base_currency=Currency.from_str(base_code),
            quote_currency=quote,
            price_precision=self.price_precision,
            size_precision=self.size_precision,
            price_increment=price_increment,
            size_increment=size_increment,
            lot_size=None,
            max_quantity=None,
            min_quantity=None,
            max_notional=None,
            min_notional=None,
            max_price=None,
            min_price=None,
            margin_init=Decimal("0.03"),
            margin_maint=Decimal("0.03"),
            maker_fee=Decimal(0),
            taker_fee=Decimal(0),
            ts_event=0,
            ts_init=0,
        )
