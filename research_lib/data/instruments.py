"""Instrument metadata as stored in the catalog, and its conversion to Nautilus instruments."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import asdict, dataclass, replace
from decimal import ROUND_DOWN, Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING

from research_lib.errors import CatalogError, InvalidSymbolError, did_you_mean
from research_lib.model.bars import SESSION_CLOSES

if TYPE_CHECKING:  # pragma: no cover
    from nautilus_trader.model.instruments import Instrument

SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)?$")
ASSET_CLASSES = ("equity", "fx", "crypto")
EDITABLE = (
    "venue", "asset_class", "currency", "price_precision", "size_precision", "size_increment",
    "multiplier", "session",
)  # fmt: skip
MAX_PRECISION = 9  # Nautilus's fixed-point precision
MAX_MULTIPLIER = 10**9
NO_SESSION = "none"  # a 24x7 instrument: bars of a day or longer close at open + interval
_OPTIONAL = ("multiplier", "session")  # fields added later: left out of to_dict when None
_CLOSE_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_WIDE = 80  # Decimal digits for size arithmetic: no quantity overflows the default 28


def validate_symbol(symbol: str) -> str:
    """Return ``symbol`` unchanged if it is safe, else raise :class:`InvalidSymbolError`.

    Allowed: letters, digits, ``.``, ``-``, ``_`` and one ``/`` between two parts (``EUR/USD``).
    A symbol is never used raw as a path; this check also refuses anything path-like (``../x``).
    """
    if not isinstance(symbol, str) or not symbol:
        raise InvalidSymbolError("symbol must be a non-empty string")
    if len(symbol) > 64 or not SYMBOL_PATTERN.fullmatch(symbol) or ".." in symbol:
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

    ``multiplier`` (a positive decimal string, None meaning 1) is the quote-currency value of
    a one-point move per unit: P&L and notional are price x quantity x multiplier.
    ``session`` is the exchange timezone and session close, ``"America/New_York 16:00"``,
    that bars of a day or longer close at; ``"none"`` for a 24x7 instrument; None for the
    venue's default (:data:`~research_lib.model.bars.SESSION_CLOSES`). See
    :func:`parse_session`.
    """

    symbol: str
    venue: str = "NASDAQ"
    asset_class: str = "equity"
    currency: str = "USD"
    price_precision: int = 2
    size_precision: int = 0
    size_increment: str | None = None
    multiplier: str | None = None
    session: str | None = None

    def __post_init__(self) -> None:
        validate_symbol(self.symbol)
        if not isinstance(self.venue, str) or not re.fullmatch(r"[A-Z0-9_]{1,16}", self.venue):
            raise InvalidSymbolError(f"invalid venue {self.venue!r}: use A-Z, 0-9 and '_'")
        if not isinstance(self.currency, str) or not re.fullmatch(r"[A-Z0-9]{2,12}", self.currency):
            raise InvalidSymbolError(
                f"invalid currency {self.currency!r}: use a code in capitals such as USD, EUR "
                "or USDT"
            )
        if self.asset_class not in ASSET_CLASSES:
            hint = did_you_mean(str(self.asset_class), ASSET_CLASSES)
            raise InvalidSymbolError(
                f"invalid asset class {self.asset_class!r};{hint} use one of "
                f"{', '.join(ASSET_CLASSES)}"
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
        if self.multiplier is not None:
            multiplier = parse_multiplier(self.multiplier)
            object.__setattr__(self, "multiplier", None if multiplier == 1 else _plain(multiplier))
        object.__setattr__(self, "session", parse_session(self.session))

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
    def point_value(self) -> Decimal:
        """The multiplier as a number: 1 unless :attr:`multiplier` says otherwise."""
        return Decimal(1) if self.multiplier is None else Decimal(self.multiplier)

    @property
    def session_close(self) -> tuple[str, str] | None:
        """The effective session, ``(timezone, "HH:MM")``: the instrument's own, else the
        venue's default; None for a 24x7 instrument (``session="none"``, or a venue without
        a default). Bars close by it: ``bar_closes(timestamps, bar_spec,
        session=spec.session_close)`` (no venue: None then means no session)."""
        if self.session is None:
            return SESSION_CLOSES.get(self.venue)
        if self.session == NO_SESSION:
            return None
        zone, close = self.session.split(" ")
        return zone, close

    @property
    def nautilus_type(self) -> str:
        """The Nautilus class :meth:`to_nautilus` builds: ``Equity`` (whole shares, multiplier
        1), ``Cfd`` (an equity traded in fractions or other lots), ``PerpetualContract`` (an
        equity with a multiplier: Nautilus's ``Equity`` and ``Cfd`` fix it at 1) or
        ``CurrencyPair`` (fx, crypto)."""
        if self.asset_class != "equity":
            return "CurrencyPair"
        if self.multiplier is not None:
            return "PerpetualContract"
        return "Equity" if self.size_precision == 0 and self.increment == 1 else "Cfd"

    def bar_type(self, bar_spec: str) -> str:
        """The Nautilus bar type string for external bars of ``bar_spec`` (``1-MINUTE-LAST``)."""
        return f"{self.instrument_id}-{bar_spec}-EXTERNAL"

    def to_dict(self) -> dict[str, object]:
        """Plain dict, as stored in the catalog and in run records; ``multiplier`` and
        ``session`` only when set, so records of runs made before they existed hash alike."""
        values = asdict(self)
        return {k: v for k, v in values.items() if v is not None or k not in _OPTIONAL}

    def edited(self, **changes: object) -> InstrumentSpec:
        """A copy with any of :data:`EDITABLE` changed, checked as a new spec is
        (``size_increment=None``: 10**-size_precision; ``multiplier=None``: 1;
        ``session=None``: the venue's default). The symbol names the stored bars: import
        them under another symbol instead."""
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
        Both fix the multiplier at 1, so an equity with a multiplier is a fully funded,
        non-expiring ``PerpetualContract`` with asset class EQUITY (no funding is charged:
        backtests feed no funding rates). ``CurrencyPair`` carries the multiplier itself.
        """
        from nautilus_trader.model.currencies import Currency
        from nautilus_trader.model.enums import AssetClass
        from nautilus_trader.model.identifiers import InstrumentId, Symbol
        from nautilus_trader.model.instruments import Cfd, CurrencyPair, Equity, PerpetualContract
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
        multiplier = Quantity.from_str(_plain(self.point_value))
        if kind == "PerpetualContract":
            return PerpetualContract(
                underlying=self.symbol,
                asset_class=AssetClass.EQUITY,
                quote_currency=quote,
                settlement_currency=quote,
                is_inverse=False,
                multiplier=multiplier,
                margin_init=Decimal(1),  # fully funded, as an Equity
                margin_maint=Decimal(1),
                **sizes,
                **common,
            )
        base_code = self.symbol.split("/")[0] if "/" in self.symbol else self.symbol[:3]
        return CurrencyPair(
            base_currency=Currency.from_str(base_code),
            quote_currency=quote,
            multiplier=multiplier,
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
    price precision of None is 2 here (the import infers it from the prices). The stored
    multiplier and session are kept (``data instrument`` sets them)."""
    asset_class = asset_class or ("fx" if "/" in symbol else "equity")
    kept: dict[str, str | None] = {}
    if stored is not None:
        check_same_instrument(stored, venue, asset_class, currency, size_precision, size_increment)
        size_precision, size_increment = stored.size_precision, stored.size_increment
        kept = {"multiplier": stored.multiplier, "session": stored.session}
    precision = 2 if price_precision is None else price_precision
    return InstrumentSpec(
        symbol, venue, asset_class, currency, precision, size_precision or 0, size_increment,
        **kept,
    )  # fmt: skip


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


def parse_multiplier(text: object) -> Decimal:
    """The positive decimal in ``text`` (``"10"``, ``"0.1"``), at most 9 decimals and
    :data:`MAX_MULTIPLIER`, else :class:`CatalogError`."""
    value = _to_decimal(text)
    if value is None or not value.is_finite() or value <= 0:
        raise CatalogError(
            f"invalid multiplier {text!r}: use a positive decimal number such as 10 (a "
            "contract of 10 units) or 0.1"
        )
    if decimals(value) > MAX_PRECISION or value > MAX_MULTIPLIER:
        raise CatalogError(
            f"invalid multiplier {text!r}: at most {MAX_PRECISION} decimals and at most "
            f"{MAX_MULTIPLIER:,}"
        )
    return value


def parse_session(text: object) -> str | None:
    """A session as stored: ``"<timezone> HH:MM"`` (an IANA timezone and the session close,
    ``"Europe/London 16:30"``; ``9:30`` becomes ``09:30``), ``"none"`` (24x7, no session) or
    None (the venue's default; also for ``"default"``). Else :class:`CatalogError`."""
    if text is None:
        return None
    words = str(text).split()
    if len(words) == 1 and words[0].lower() in (NO_SESSION, "default"):
        return NO_SESSION if words[0].lower() == NO_SESSION else None
    if len(words) != 2:
        raise CatalogError(
            f"invalid session {text!r}: use '<timezone> HH:MM' such as 'America/New_York "
            "16:00', 'none' for a 24x7 instrument or 'default' for the venue's"
        )
    zone, close = words
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America"
        hint = did_you_mean(zone, zoneinfo.available_timezones())
        raise CatalogError(
            f"unknown session timezone {zone!r};{hint} use an IANA name such as "
            "'America/New_York' or 'Europe/London'"
        ) from None
    found = _CLOSE_TIME.match(close)
    if found is None:
        raise CatalogError(
            f"invalid session close {close!r}: use HH:MM on a 24-hour clock, such as 16:30"
        )
    return f"{zone} {int(found[1]):02d}:{found[2]}"


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
