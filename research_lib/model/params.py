"""Strategy parameters as plain data: allowed ranges and the description UIs and tables use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric parameter: ``low <= x`` (``low < x`` when ``low_open``)
    and ``x <= high`` (``x < high`` when ``high_open``). Used by validation and by UIs."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def problem(self, value: float) -> str | None:
        """Why ``value`` is out of range, or None when it is fine."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            word = "greater than" if self.low_open else "at least"
            return f"must be {word} {self.low:g}, was {value}"
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            word = "less than" if self.high_open else "at most"
            return f"must be {word} {self.high:g}, was {value}"
        return None

    def describe(self) -> str:
        """``>= 1``, ``> 0``, ``> 0, < 100``..., for tables and help."""
        lo = None if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = None if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        return ", ".join(part for part in (lo, hi) if part) or "any"


@dataclass(frozen=True)
class Parameter:
    """One tunable parameter of a strategy config (``default`` None: required)."""

    name: str
    type: str
    default: Any
    bounds: str = "any"
    low: float | None = None
    high: float | None = None
    help: str = ""
