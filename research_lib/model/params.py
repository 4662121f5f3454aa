"""Strategy parameters as plain data: allowed ranges, their description, and how parameter
values typed as text (``-p fast_period=10``, ``--grid x=1,2``) are read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from research_lib.errors import ConfigError


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


SHORTENED_SUFFIXES = ("_period", "_threshold")  # dropped from parameter names in labels


def short_name(name: str) -> str:
    """A parameter's name for labels and narrow tables: ``fast_period`` -> ``fast``,
    ``oversold_threshold`` -> ``oversold``."""
    for suffix in SHORTENED_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def read_value(text: str, what: str) -> Any:
    """A value typed as text, read as YAML: ``10`` int, ``2.5`` float, ``abc`` str, ``[a, b]``
    a list, ``true`` a bool; raises :class:`ConfigError` naming ``what`` if it cannot be read.

    The one reader for ``--param``, ``--grid`` and ``notebook run -p`` values.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}: cannot read value {text!r}") from exc


def write_value(value: Any) -> str:
    """``value`` as a YAML flow scalar, the inverse of :func:`read_value` for templates."""
    return yaml.safe_dump([value], default_flow_style=True).strip()[1:-1]
