"""Strategy parameters as plain data: allowed ranges, their description, how parameter
values typed as text (``-p fast_period=10``, ``--grid x=1,2``) are read, and the limits every
value of a run must respect before it starts.

Limits (the same for CLI flags, YAML, papermill parameters, the panel and Python; the runner
checks them in :func:`research_lib.engine.runner.run_settings` and ``resolve_config``):

- every number is finite (no ``nan``/``inf``) and within :data:`MAX_MAGNITUDE`; integers
  within 64 bits;
- run settings within :data:`SETTING_RANGES` (a seed is an integer from 0 to 2**32 - 1, the
  range numpy's seeding accepts everywhere);
- a parameter value nests lists and mappings at most :data:`MAX_DEPTH` deep;
- YAML text (a run config, a ``-p`` value) is read by :class:`LimitedLoader`: at most
  :data:`MAX_DEPTH` levels of nesting and :data:`MAX_NODES` values once aliases are expanded
  (a "billion laughs" file is refused, not expanded), and a value that cannot be built (a date
  like ``2024-13-01``) is a YAML error at its line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml

from research_lib.errors import ConfigError

MAX_DEPTH = 32  # nesting of YAML collections and of parameter values
MAX_NODES = 100_000  # YAML values once aliases are expanded
MAX_MAGNITUDE = 1e18  # the largest number a parameter may be
INT64 = 2**63 - 1


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric parameter: ``low <= x`` (``low < x`` when ``low_open``)
    and ``x <= high`` (``x < high`` when ``high_open``). Used by validation and by UIs."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def problem(self, value: float) -> str | None:
        """Why ``value`` is out of range (or not a finite number), or None when it is fine."""
        if isinstance(value, (float, Decimal)) and not _finite(value):
            return f"must be a finite number, was {value}"
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
    a list, ``true`` a bool; raises :class:`ConfigError` naming ``what`` if it cannot be read
    or breaks a limit (:class:`LimitedLoader`, :func:`value_problems`).

    The one reader for ``--param``, ``--grid`` and ``notebook run -p`` values.
    """
    loader = LimitedLoader(text)
    try:
        value = loader.get_single_data()
    except (LimitError, yaml.constructor.ConstructorError) as exc:
        raise ConfigError(f"{what}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        reason = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{what}: cannot read value {_short(text)}: {reason}") from exc
    finally:
        loader.dispose()
    problems = value_problems(value)
    if problems:
        where, reason = problems[0]
        raise ConfigError(f"{what}{'.' + where if where else ''}: {reason}")
    return value


def write_value(value: Any) -> str:
    """``value`` as a YAML flow scalar, the inverse of :func:`read_value` for templates."""
    return yaml.safe_dump([value], default_flow_style=True).strip()[1:-1]


# -- limits -------------------------------------------------------------------------------


class LimitError(yaml.MarkedYAMLError):
    """A YAML document beyond a limit (too deep, too many values); ``problem`` says which."""


class LimitedLoader(yaml.SafeLoader):
    """A ``yaml.SafeLoader`` that refuses documents nested deeper than :data:`MAX_DEPTH` or
    holding more than :data:`MAX_NODES` values with aliases expanded, and reports a value that
    cannot be built (``2024-13-01``, a 5,000-digit integer) as a YAML error at its mark."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self._depth >= MAX_DEPTH and not self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                raise LimitError(
                    problem=f"nested more than {MAX_DEPTH} levels deep",
                    problem_mark=event.start_mark,
                )
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._count(node)
        return node

    def _count(self, node: yaml.Node) -> None:
        """Record ``node``'s expanded size (its children's are known); refuse too many."""
        if id(node) in self._sizes:  # an alias: its size counts again in the parent
            return
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes.get(id(item), 1) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(
                self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value
            )
        self._sizes[id(node)] = size
        if size > MAX_NODES:
            raise LimitError(
                problem=f"more than {MAX_NODES:,} values once aliases are expanded",
                problem_mark=node.start_mark,
            )

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                problem=f"invalid value {_short(str(node.value))} ({_reason(exc)})",
                problem_mark=node.start_mark,
            ) from exc


def _short(text: str, limit: int = 40) -> str:
    """``text`` quoted, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _reason(exc: Exception) -> str:
    """``exc``'s message, first line, without Python's advice (``use sys.set_int...``)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(": value has")[0].split("; use sys.")[0]


def _finite(value: float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def number_problem(value: Any) -> str | None:
    """Why a number is unusable anywhere in a run (not finite, beyond
    :data:`MAX_MAGNITUDE`, an integer beyond 64 bits), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) <= INT64 else f"must fit in 64 bits, was {_short(str(value))}"
    if isinstance(value, (float, Decimal)):
        if not _finite(value):
            return f"must be a finite number, was {value}"
        if abs(value) > MAX_MAGNITUDE:
            return f"must be at most {MAX_MAGNITUDE:g} in size, was {value:g}"
    return None


def value_problems(value: Any, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Every number in ``value`` (nested lists and mappings included) that breaks
    :func:`number_problem`, and nesting beyond :data:`MAX_DEPTH`, as (path, reason)."""
    if isinstance(value, (list, tuple, Mapping)):
        if depth >= MAX_DEPTH:
            return [(path, f"nested more than {MAX_DEPTH} levels deep")]
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        found = []
        for key, item in items:
            found += value_problems(item, f"{path}.{key}" if path else str(key), depth + 1)
        return found
    problem = number_problem(value)
    return [(path, problem)] if problem else []


SEED_MAX = 2**32 - 1
# What each run setting may be (None: not set, the default is used).
SETTING_RANGES = {
    "starting_balance": Range(low=0, low_open=True, high=1e13),
    "periods_per_year": Range(low=0, low_open=True, high=1e9),
}


def setting_problem(name: str, value: Any) -> str | None:
    """Why the run setting ``name`` (``starting_balance``, ``seed``, ``periods_per_year``)
    cannot be ``value``, or None; other names are not checked here."""
    if value is None:
        return None
    if name == "seed":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
            return f"must be an integer from 0 to {SEED_MAX}, was {_short(str(value))}"
        return None
    allowed = SETTING_RANGES.get(name)
    if allowed is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return f"must be a number, was {_short(str(value))}"
    return allowed.problem(value)


def check_settings(**settings: Any) -> None:
    """Raise :class:`ConfigError` naming every run setting :func:`setting_problem` refuses."""
    found = [
        f"{name}: {problem}"
        for name, value in settings.items()
        if (problem := setting_problem(name, value))
    ]
    if found:
        raise ConfigError("; ".join(found))


def check_values(values: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming every parameter value :func:`value_problems`
    refuses (``fast_period: must be a finite number, was nan``)."""
    found = value_problems(values)
    if found:
        raise ConfigError("; ".join(f"{where}: {reason}" for where, reason in found))
