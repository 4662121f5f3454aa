"""How orders fill and what they cost: fill timing, volume limit, commission and slippage.

These are plain settings, written once and read by every way of starting a run (YAML
``costs:`` and ``backtest:`` sections, CLI flags, the panel, Python keywords). The engine
turns them into Nautilus's fee and fill models (:mod:`research_lib.engine.execution`).

Rules (the README's "Fill timing" and "Costs" sections say the same):

- **Fill timing** ``close`` (default): a decision made on a bar fills at that bar's close,
  stamped with its close time. ``next_open``: it fills at the next bar's open, stamped when
  that bar opens but never before the previous bar's close + 1 ns (so 1 ns after it on
  contiguous bars); a decision on the last bar is not acted on. Open positions are closed at
  the last bar's close when the data ends.
- **Fill volume** ``unlimited`` (default): the whole order fills at the one price, whatever
  the bar's volume. ``bar``: Nautilus's own bar execution, where each bar is four trade ticks
  of a quarter of its volume each and the rest of a larger order fills a tick worse.
- **Commission** per fill, in the quote currency (rounded to the currency's cents): at most
  one of ``commission_rate`` (a fraction of the fill's notional, 0.0005 is 5 bps),
  ``commission_per_unit`` (per share, contract or coin) and ``commission_per_order``.
- **Slippage** on every fill, against the trader (buys higher, sells lower): at most one of
  ``slippage_ticks`` (whole ticks) and ``slippage_bps`` (basis points of the price, rounded
  outwards to the tick grid, so fills stay on it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from research_lib.errors import ConfigError

SIZINGS = ("quantity", "notional", "equity")  # what a strategy's trade_size means
FILL_TIMINGS = ("close", "next_open")
FILL_VOLUMES = ("unlimited", "bar")
COMMISSION_KINDS = ("commission_rate", "commission_per_unit", "commission_per_order")
SLIPPAGE_KINDS = ("slippage_ticks", "slippage_bps")


COST_MAX = 1e9  # per unit or per order, in the quote currency
SLIPPAGE_TICKS_MAX = 1_000_000


class Costs(BaseModel):
    """What each fill costs; every field defaults to 0 (no costs). Every value is a finite
    number in range (``nan``, ``inf`` and absurd sizes are refused before a run starts)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    commission_rate: float = Field(0.0, ge=0, lt=1)
    commission_per_unit: float = Field(0.0, ge=0, le=COST_MAX)
    commission_per_order: float = Field(0.0, ge=0, le=COST_MAX)
    slippage_ticks: int = Field(0, ge=0, le=SLIPPAGE_TICKS_MAX)
    slippage_bps: float = Field(0.0, ge=0, lt=10_000)

    @model_validator(mode="after")
    def _one_of_each(self) -> Costs:
        for kinds in (COMMISSION_KINDS, SLIPPAGE_KINDS):
            given = [kind for kind in kinds if getattr(self, kind)]
            if len(given) > 1:
                raise ValueError(f"give one of {' or '.join(given)}, not both")
        return self

    @property
    def commission(self) -> tuple[str, float] | None:
        """The commission kind and amount, or None when fills are free."""
        return next(((k, getattr(self, k)) for k in COMMISSION_KINDS if getattr(self, k)), None)

    @property
    def any(self) -> bool:
        """Whether fills cost anything."""
        return any(getattr(self, k) for k in (*COMMISSION_KINDS, *SLIPPAGE_KINDS))

    def describe(self) -> str:
        """One line: ``5.0 bps of notional + 1 tick slippage``, or ``none``."""
        parts = []
        if self.commission_rate:
            parts.append(f"{self.commission_rate * 1e4:g} bps of notional")
        if self.commission_per_unit:
            parts.append(f"{self.commission_per_unit:g} per unit")
        if self.commission_per_order:
            parts.append(f"{self.commission_per_order:g} per order")
        if self.slippage_ticks:
            parts.append(f"{self.slippage_ticks} tick{'s' * (self.slippage_ticks > 1)} slippage")
        if self.slippage_bps:
            parts.append(f"{self.slippage_bps:g} bps slippage")
        return " + ".join(parts) or "none"


class Execution(BaseModel):
    """How a run's orders fill: timing, volume limit and costs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fill_timing: Literal["close", "next_open"] = "close"
    fill_volume: Literal["unlimited", "bar"] = "unlimited"
    costs: Costs = Costs()

    @model_validator(mode="after")
    def _slippage_needs_unlimited(self) -> Execution:
        if self.fill_volume == "bar" and (self.costs.slippage_ticks or self.costs.slippage_bps):
            raise ValueError(
                "slippage applies to unlimited fills; with fill_volume 'bar' the bar's "
                "volume decides the price"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain values (as stored with a run and hashed with its config)."""
        return self.model_dump()

    def describe(self) -> str:
        """Short, for an 80-column summary: ``close, no costs``, ``next open, bar volume;
        5 bps of notional + 1 tick slippage``."""
        timing = "next open" if self.fill_timing == "next_open" else "close"
        volume = ", bar volume" if self.fill_volume == "bar" else ""
        costs = self.costs.describe()
        return f"{timing}{volume}, no costs" if costs == "none" else f"{timing}{volume}; {costs}"


def merge_costs(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` costs with ``override`` on top (None values ignored); a commission (or
    slippage) kind in ``override`` replaces the kind ``base`` had, so ``--commission-per-unit``
    on the command line replaces a YAML ``commission_rate``."""
    given = {key: value for key, value in override.items() if value is not None}
    merged = dict(base)
    for kinds in (COMMISSION_KINDS, SLIPPAGE_KINDS):
        if any(kind in given for kind in kinds):
            for kind in kinds:
                merged.pop(kind, None)
    merged.update(given)
    return merged


def execution_of(value: Any = None, **overrides: Any) -> Execution:
    """An :class:`Execution` from None, an Execution, or a dict (``costs`` may be a dict),
    with ``overrides`` (None values ignored; cost fields may be given flat)."""
    data = value.model_dump() if isinstance(value, Execution) else dict(value or {})
    data["costs"] = dict(data.get("costs") or {})
    for key, given in overrides.items():
        if given is None:
            continue
        if key in Costs.model_fields:
            data["costs"][key] = given
        elif key == "costs":
            extra = given.model_dump(exclude_defaults=True) if isinstance(given, Costs) else given
            data["costs"] = merge_costs(data["costs"], dict(extra))
        else:
            data[key] = given
    try:
        return Execution.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problem_text(exc)) from exc


def problem_text(exc: ValidationError) -> str:
    """A pydantic error as one line: ``costs.slippage_ticks: must be >= 0, was -1``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        reason = reason[:1].lower() + reason[1:]
        if error["type"] != "value_error" and "input" in error:
            reason += f", was {error['input']!r}"
        parts.append(f"{where}: {reason}" if where else reason)
    return "; ".join(parts)
