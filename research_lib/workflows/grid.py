"""Parameter grids: parsed from ``--grid`` text, expanded into points.

``parse_grid(["fast_period=5,10,20", "slow_period=30:60:10"])`` gives a grid (name -> list of
values); :func:`expand_grid` its points, the cartesian product.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import Any

from research_lib.errors import ConfigError
from research_lib.model.params import read_value

__all__ = ["Point", "expand_grid", "grid_lists", "parse_grid"]

Point = dict[str, Any]


def parse_grid(items: Iterable[str]) -> dict[str, list[Any]]:
    """``["fast_period=5,10,20", "slow_period=30:60:10"]`` -> a grid.

    ``a,b,c`` is a list (values read as YAML scalars: ints, floats, text); ``start:stop`` or
    ``start:stop:step`` is a range with the stop included (ints, or floats if any part is a
    float; step 1 by default).
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name.isidentifier():
            raise ConfigError(f"--grid expects name=a,b,c or name=start:stop:step, got {item!r}")
        if name in grid:
            raise ConfigError(f"--grid {name} is given twice; put all its values in one --grid")
        if not text:
            raise ConfigError(f"--grid {name} has no values, e.g. {name}=5,10,20")
        grid[name] = _range(name, text) if ":" in text else _values(name, text)
    if not grid:
        raise ConfigError("no grid: give at least one --grid name=a,b,c")
    return grid


def _values(name: str, text: str) -> list[Any]:
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ConfigError(f"--grid {name}: empty value in {text!r}")
        values.append(read_value(part, f"--grid {name}"))
    return values


def _range(name: str, text: str) -> list[Any]:
    parts = [part.strip() for part in text.split(":")]
    usage = f"--grid {name}: a range is start:stop or start:stop:step, e.g. 30:60:10; got {text!r}"
    if len(parts) not in (2, 3):
        raise ConfigError(usage)
    numbers = []
    for part in parts:
        value = read_value(part, f"--grid {name}") if part else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(usage)
        numbers.append(value)
    start, stop, step = (*numbers, 1) if len(numbers) == 2 else numbers
    if step == 0 or not all(math.isfinite(n) for n in (start, stop, step)):
        raise ConfigError(f"--grid {name}: the step must be a finite non-zero number, got {text!r}")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count < 1:
        order = "start > stop" if step > 0 else "start < stop"
        raise ConfigError(f"--grid {name}: the range {text!r} is empty ({order})")
    if all(isinstance(n, int) for n in (start, stop, step)):
        return [start + i * step for i in range(count)]
    return [round(start + i * step, 10) for i in range(count)]


def grid_lists(grid: dict[str, Any]) -> dict[str, list[Any]]:
    """A grid with every value list materialised (ranges, tuples; a scalar is one value)."""
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("the grid must be a non-empty dict of parameter -> list of values")
    lists = {}
    for name, values in grid.items():
        values = list(values) if isinstance(values, (list, tuple, range)) else [values]
        if not values:
            raise ConfigError(f"grid parameter {name} has no values")
        lists[str(name)] = values
    return lists


def expand_grid(grid: dict[str, Any]) -> list[Point]:
    """Every point of the grid (the cartesian product), the last parameter varying fastest."""
    lists = grid_lists(grid)
    return [dict(zip(lists, combo, strict=True)) for combo in itertools.product(*lists.values())]
