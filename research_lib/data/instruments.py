"""Instrument metadata as stored in the catalog, and its conversion to Nautilus instruments."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from decimal import ROUND_DOWN, Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING

from research_lib.errors import CatalogError, InvalidSymbolError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from nautilus_trader.model.instruments import Instrument

SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)?$")
ASSET_CLASSES = ("equity", "fx", "crypto")
EDITABLE = ("price_precision", "size_precision", "size_increment")
MAX_PRECISION = 9  # Nautilus's fixed-point precision
_WIDE = 80  # Decimal digits for size arithmetic: no quantity overflows the default 28


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
    """What the catalog knows about an instrument: enough to build it for a backtest.

    Order sizes are multiples of :attr:`increment`: ``size_increment`` (a decimal string such
    as ``"0.001"`` or ``"1000"``) or, when it is None, ``10**-size_precision``. The increment
    must fit in ``size_precision`` decimals; it is stored in its shortest form (``"0.010"``
    becomes ``"0.01"``).
    """

    symbol: str
    venue: str = "NASDAQ"
    asset_class: str = "equity"
    currency: str = "USD"
    price_precision: int = 2
    size_precision: int = 0
    size_increment: str | None = None

    def __post_init__(self) -> None:
        validate_symbol(self.symbol)
        if not re.fullmatch(r"[A-Z0-9_]{1,16}", self.venue):
            raise InvalidSymbolError(f"invalid venue {self.venue!r}: use A-Z, 0-9 and '_'")
        if self.asset_class not in ASSET_CLASSES:
            raise InvalidSymbolError(
                f"invalid asset class {self.asset_class!r}: one of {', '.join(ASSET_CLASSES)}"
            )
        if not all(0 <= p <= MAX_PRECISION for p in (self.price_precision, self.size_precision)):
            raise InvalidSymbolError(
                f"precisions must be between 0 and {MAX_PRECISION}, were price "
                f"{self.price_precision!r} and size {self.size_precision!r}"
            )
        if self.size_increment is not None:
            increment = parse_size_increment(self.size_increment)
            step = _step(self.size_precision)
            needed = decimals(increment)
            if needed > self.size_precision:
                raise CatalogError(
                    f"size increment {_plain(increment)} needs {needed} decimals but "
                    f"{self.symbol}'s size precision is {self.size_precision}: use a size "
                    f"precision of {needed} or more, or an increment that is a multiple of "
                    f"{_plain(step)}"
                )
            object.__setattr__(self, "size_increment", _plain(increment))

    @property
    def instrument_id(self) -> str:
        """The Nautilus instrument id, ``SYMBOL.VENUE``."""
        return f"{self.symbol}.{self.venue}"

    @property
    def tick(self) -> Decimal:
        """The price increment, ``10**-price_precision`` (``Decimal("0.01")``)."""
        return _step(self.price_precision)

    @property
    def increment(self) -> Decimal:
        """The size increment every order quantity is a multiple of."""
        if self.size_increment is None:
            return _step(self.size_precision)
        return Decimal(self.size_increment)

    @property
    def nautilus_type(self) -> str:
        """The Nautilus class :meth:`to_nautilus` builds: ``Equity`` (whole shares), ``Cfd``
        (an equity traded in fractions or other lots) or ``CurrencyPair`` (fx, crypto)."""
        if self.asset_class != "equity":
            return "CurrencyPair"
        return "Equity" if self.size_precision == 0 and self.increment == 1 else "Cfd"

    def bar_type(self, bar_spec: str) -> str:
        """The Nautilus bar type string for external bars of ``bar_spec`` (``1-MINUTE-LAST``)."""
        return f"{self.instrument_id}-{bar_spec}-EXTERNAL"

    def to_dict(self) -> dict[str, object]:
        """Plain dict, as stored in the catalog and in run records."""
        return asdict(self)

    def edited(self, **changes: object) -> InstrumentSpec:
        """A copy with ``price_precision``, ``size_precision`` and/or ``size_increment``
        changed (``size_increment=None``: 10**-size_precision), checked as a new spec is.
        Other fields are not editable: they name another instrument."""
        for name in changes:
            if name not in EDITABLE:
                raise CatalogError(
                    f"cannot change {name!r} of an instrument;{did_you_mean(name, EDITABLE)} "
                    f"editable: {', '.join(EDITABLE)}"
                )
        return replace(self, **changes)  # type: ignore[arg-type]  # values checked by __post_init__

    def check_quantity(self, quantity: object, name: str = "quantity") -> str | None:
        """None if ``quantity`` is a positive multiple of :attr:`increment`, else one line
        saying why and how to fix it (``name`` is the setting it came from, e.g.
        ``trade_size``). Floats are read by their shortest repr (``0.1`` is ``"0.1"``)."""
        value = _to_decimal(quantity)
        if value is None or not value.is_finite() or value <= 0:
            return f"{name} must be a positive number, was {quantity!r}"
        increment = self.increment
        if _is_multiple(value, increment):
            return None
        problem = (
            f"{name} {_plain(value)} is not a multiple of {self.symbol}'s size increment "
            f"{_plain(increment)} (size precision {self.size_precision})"
        )
        needed = max(decimals(value), self.size_precision)
        if needed > MAX_PRECISION:
            return f"{problem}: round it to a multiple of {_plain(increment)}"
        command = f"research-lib data instrument {self.symbol}"
        if needed > self.size_precision:
            command += f" --size-precision {needed}"
        if self.size_increment is None:
            return f"{problem}: set it with `{command}`"
        command += f" --size-increment {_plain(_step(needed))}"
        return f"{problem}: use a multiple of {_plain(increment)}, or change it with `{command}`"

    def round_down(self, quantity: float) -> Decimal:
        """``quantity`` rounded toward zero to a multiple of :attr:`increment`, with
        ``size_precision`` decimals (``round_down(12.3456) == Decimal("12.345")`` for an
        increment of 0.001). May be zero; raises ``ValueError`` for NaN or infinity."""
        value = _to_decimal(quantity)
        if value is None or not value.is_finite():
            raise ValueError(f"cannot round {quantity!r} to an order size")
        increment = self.increment
        with localcontext(prec=_WIDE):
            steps = (value / increment).to_integral_value(rounding=ROUND_DOWN)
            return (steps * increment).quantize(_step(self.size_precision))

    def to_nautilus(self, taker_fee: Decimal = Decimal(0)) -> Instrument:
        """Build the Nautilus instrument (see :attr:`nautilus_type`) for the engine.

        ``taker_fee`` (a rate of notional, ``Decimal("0.001")`` = 10 bps) is set as both the
        taker and the maker fee, which Nautilus's ``MakerTakerFeeModel`` charges per fill.
        Nautilus's ``Equity`` only trades whole shares, so an equity with a size precision or
        an increment other than 1 is built as a fully funded ``Cfd`` with asset class EQUITY.
        """
        from nautilus_trader.model.currencies import Currency
        from nautilus_trader.model.enums import AssetClass
        from nautilus_trader.model.identifiers import InstrumentId, Symbol
        from nautilus_trader.model.instruments import Cfd, CurrencyPair, Equity
        from nautilus_trader.model.objects import Price, Quantity

        fee = Decimal(str(taker_fee))
        common = {
            "instrument_id": InstrumentId.from_str(self.instrument_id),
            "raw_symbol": Symbol(self.symbol),
            "price_precision": self.price_precision,
            "price_increment": Price.from_str(_fixed(self.tick, self.price_precision)),
            "maker_fee": fee,
            "taker_fee": fee,
            "ts_event": 0,
            "ts_init": 0,
        }
        quote = Currency.from_str(self.currency)
        kind = self.nautilus_type
        if kind == "Equity":
            return Equity(
                currency=quote,
                lot_size=Quantity.from_int(1),
                margin_init=Decimal(1),  # fully funded: the account must carry the notional
                margin_maint=Decimal(1),
                **common,
            )
        sizes = {
            "size_precision": self.size_precision,
            "size_increment": Quantity.from_str(_fixed(self.increment, self.size_precision)),
        }
        if kind == "Cfd":
            return Cfd(
                asset_class=AssetClass.EQUITY,
                quote_currency=quote,
                margin_init=Decimal(1),  # fully funded, as an Equity
                margin_maint=Decimal(1),
                **sizes,
                **common,
            )
        base_code = self.symbol.split("/")[0] if "/" in self.symbol else self.symbol[:3]
        return CurrencyPair(
            base_currency=Currency.from_str(base_code),
            quote_currency=quote,
            margin_init=Decimal("0.03"),
            margin_maint=Decimal("0.03"),
            **sizes,
            **common,
        )


def import_spec(
    stored: InstrumentSpec | None,
    symbol: str,
    venue: str,
    asset_class: str | None,
    currency: str,
    price_precision: int | None,
    size_precision: int | None,
    size_increment: str | None,
) -> InstrumentSpec:
    """The instrument an import of ``symbol`` asks for, checked against the ``stored`` one
    (:func:`check_same_instrument`): ``asset_class`` defaults to ``fx`` for ``A/B`` symbols,
    else ``equity``; sizes default to the stored ones, else 0 and 10**-size_precision; a
    price precision of None is 2 here (the import infers it from the prices)."""
    asset_class = asset_class or ("fx" if "/" in symbol else "equity")
    if stored is not None:
        check_same_instrument(stored, venue, asset_class, currency, size_precision, size_increment)
        size_precision, size_increment = stored.size_precision, stored.size_increment
    precision = 2 if price_precision is None else price_precision
    return InstrumentSpec(
        symbol, venue, asset_class, currency, precision, size_precision or 0, size_increment
    )


def check_same_instrument(
    stored: InstrumentSpec,
    venue: str,
    asset_class: str,
    currency: str,
    size_precision: int | None,
    size_increment: str | None,
) -> None:
    """Refuse an import that would silently redefine ``stored``; sizes that are None keep
    the stored ones (price precision may grow, see :meth:`Catalog.import_csv`)."""
    for name, now in (("venue", venue), ("asset_class", asset_class), ("currency", currency)):
        if now != (was := getattr(stored, name)):
            raise CatalogError(
                f"{stored.symbol} is stored with {name} {was!r}, not {now!r}: import it with "
                f"{name}={was!r}, or under another symbol"
            )
    changed = []  # (option, stored value, given value)
    if size_precision is not None and size_precision != stored.size_precision:
        changed.append(("--size-precision", str(stored.size_precision), str(size_precision)))
    if size_increment is not None:
        increment = parse_size_increment(size_increment)
        if increment != stored.increment:
            changed.append(("--size-increment", _plain(stored.increment), _plain(increment)))
    if changed:
        names = " and ".join(option[2:].replace("-", " ") for option, _, _ in changed)
        command = " ".join(f"{option} {now}" for option, _, now in changed)
        raise CatalogError(
            f"{stored.symbol} is stored with {names} {' and '.join(c[1] for c in changed)}, "
            f"not {' and '.join(c[2] for c in changed)}: change it first with `research-lib "
            f"data instrument {stored.symbol} {command}`, or leave the option out to keep it"
        )


def parse_size_increment(text: object) -> Decimal:
    """The positive decimal in ``text`` (``"0.001"``, ``"1000"``), else :class:`CatalogError`."""
    value = _to_decimal(text)
    if value is None or not value.is_finite() or value <= 0:
        raise CatalogError(
            f"invalid size increment {text!r}: use a positive decimal number such as 0.001 "
            "(crypto) or 1000 (FX lots)"
        )
    return value


def decimals(value: Decimal) -> int:
    """Decimals ``value`` needs: ``decimals(Decimal("0.050")) == 2``, ``decimals(1000) == 0``."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _is_multiple(value: Decimal, step: Decimal) -> bool:
    with localcontext(prec=_WIDE):
        return value % step == 0


def _step(precision: int) -> Decimal:
    return Decimal(1).scaleb(-precision)


def _plain(value: Decimal) -> str:
    """Shortest fixed-point text: ``1000``, ``0.001`` (never ``1E+3``)."""
    return format(value.normalize(), "f")


def _fixed(value: Decimal, precision: int) -> str:
    """``value`` with exactly ``precision`` decimals, as Nautilus's ``from_str`` reads it."""
    return format(value.quantize(_step(precision)), "f")


def _to_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        return Decimal(text)
    except InvalidOperation:
        return None
