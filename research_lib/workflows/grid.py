"""Parameter grids: parsed from ``--grid`` text, expanded into points, checked as a plan.

``parse_grid(["fast_period=5,10,20", "slow_period=30:60:10"])`` gives a grid (name -> list of
values); :func:`expand_grid` its points, the cartesian product; :func:`plan_sweep` checks
every point against the strategy's config class before anything runs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from research_lib.engine.run_config import RunConfig, load_run_config
from research_lib.errors import ConfigError, did_you_mean
from research_lib.model.defaults import DEFAULT_TRADE_SIZE
from research_lib.model.params import read_value
from research_lib.strategies.registry import build_config, config_class, find_by_path, resolve_paths

__all__ = [
    "Point",
    "SweepPlan",
    "as_run_config",
    "expand_grid",
    "grid_lists",
    "parse_grid",
    "plan_sweep",
]

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


# -- plans --------------------------------------------------------------------------------

# Placeholder wiring for validating points: the instrument does not change a config's rules.
PLACEHOLDER_INSTRUMENT = "AAPL.SIM"
PLACEHOLDER_BAR_TYPE = f"{PLACEHOLDER_INSTRUMENT}-1-MINUTE-LAST-EXTERNAL"
# Config values that say which data a run used, not which parameters: not sweep columns.
WIRING = ("instrument_id", "bar_type")


# -- configs and plans --------------------------------------------------------------------


def as_run_config(config: Any) -> RunConfig:
    """A :class:`~research_lib.engine.run_config.RunConfig` from a YAML path, a ``RunConfig``, or a
    strategy (registered name or ``module:Class``) with its default parameters."""
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, Path) or (
        isinstance(config, str) and (config.endswith((".yaml", ".yml")) or Path(config).is_file())
    ):
        return load_run_config(config)
    if not isinstance(config, str):
        raise ConfigError(
            f"config must be a YAML path, a RunConfig or a strategy name, was {config!r}"
        )
    strategy_path, config_path = resolve_paths(config)
    info = find_by_path(strategy_path)
    return RunConfig(
        strategy_path=strategy_path,
        config_path=config_path,
        strategy_name=info.name if info else strategy_path,
        params={},
    )


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: the run config, the grid, the valid points and the skipped ones."""

    run_config: RunConfig
    grid: dict[str, list[Any]]
    points: list[Point]
    skipped: list[tuple[Point, str]]

    @property
    def size(self) -> int:
        """Points in the grid, valid or not."""
        return len(self.points) + len(self.skipped)


def plan_sweep(config: Any, grid: dict[str, Any]) -> SweepPlan:
    """Check every point of ``grid`` with the strategy's config class.

    Raises :class:`ConfigError` for a grid parameter the strategy does not have, or when no
    point is valid; invalid points are otherwise listed in ``skipped`` with the reason.
    """
    run_config = as_run_config(config)
    lists = grid_lists(grid)
    known = [f.name for f in msgspec.structs.fields(config_class(run_config.config_path))]
    for name in lists:
        if name not in known or name in WIRING:
            choices = [k for k in known if k not in WIRING]
            raise ConfigError(
                f"{run_config.strategy_name} has no parameter '{name}';"
                f"{did_you_mean(name, choices)} see research-lib strategy show "
                f"{run_config.strategy_name}"
            )
    points, skipped = [], []
    for point in expand_grid(lists):
        values = {"trade_size": DEFAULT_TRADE_SIZE, **run_config.params, **point}
        values.update(instrument_id=PLACEHOLDER_INSTRUMENT, bar_type=PLACEHOLDER_BAR_TYPE)
        try:
            build_config(run_config.config_path, values)
        except ConfigError as exc:
            skipped.append((point, str(exc)))
            continue
        points.append(point)
    if not points:
        raise ConfigError(
            f"none of the {len(skipped)} grid points is valid; {label(skipped[0][0])}: "
            f"{skipped[0][1]}"
        )
    return SweepPlan(run_config, lists, points, skipped)


def label(point: Point) -> str:
    """``fast_period=5, slow_period=20``."""
    return ", ".join(f"{k}={v}" for k, v in point.items())
