"""Tables that fit the terminal, and the machine-readable ``--format csv|json`` output.

:func:`fit_table` keeps the columns that fit the console's width in priority order (a
value is never cut to ``…``): the rest are named in a dim footer line. :func:`write_csv`
and :func:`write_json` print every column, untruncated, with no rich markup.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from research_lib.ui.tables import WIRING_KEYS
from research_lib.ui.tables import param_text as param_text  # re-exported for the commands

FORMATS = ("table", "csv", "json")

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table: what fits the terminal; csv/json: every column, untruncated.",
)


@dataclass(frozen=True)
class Column:
    """A column of a :func:`fit_table`: lower ``priority`` is kept first; a ``wrap`` column
    may break its text at spaces (never inside a word) to fit."""

    header: str
    priority: int = 0
    justify: str = "left"
    wrap: bool = False


def common_params(configs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The parameters every one of several configs has with the same value ({} for one)."""
    if len(configs) < 2:
        return {}
    first = configs[0]
    return {
        key: value
        for key, value in first.items()
        if key not in WIRING_KEYS and all(key in c and c[key] == value for c in configs[1:])
    }


def fit_table(console: Any, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> tuple:
    """A rich table of the ``columns`` (and row cells, text or rich Text) that fit
    ``console.width`` whole; returns (table, headers of the columns left out)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    cells = [[c if isinstance(c, Text) else Text(str(c)) for c in row] for row in rows]

    def widths(i: int) -> tuple[int, int]:
        texts = [row[i].plain for row in cells]
        full = max([len(columns[i].header), *(len(t) for t in texts)])
        if not columns[i].wrap:
            return full, full
        words = [len(w) for t in texts for w in t.split()]
        return max([len(columns[i].header), *words]), full

    def build(keep: list[int]) -> Any:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        for i in keep:
            column = columns[i]
            table.add_column(column.header, justify=column.justify, no_wrap=not column.wrap)
        for row in cells:
            table.add_row(*(row[i] for i in keep))
        return table

    def needed(keep: list[int], wrapped: set[int]) -> int:
        from rich.measure import Measurement

        table = build(keep)
        wide = console.options.update(max_width=10**6)
        maximum = Measurement.get(console, wide, table).maximum
        overhead = maximum - sum(widths(i)[1] for i in keep)
        return overhead + sum(widths(i)[i not in wrapped] for i in keep)

    # Columns in priority order while they fit whole; a wrap column that fits only wrapped
    # is kept wrapped (and the columns after it must leave it that room).
    keep: list[int] = []
    wrapped: set[int] = set()
    for i in sorted(range(len(columns)), key=lambda i: columns[i].priority):
        trial = sorted([*keep, i])
        if needed(trial, wrapped) <= console.width:
            keep = trial
        elif columns[i].wrap and needed(trial, {*wrapped, i}) <= console.width:
            keep, wrapped = trial, {*wrapped, i}
    dropped = [columns[i].header for i in range(len(columns)) if i not in keep]
    return build(keep), dropped


def print_fitted(console: Any, title: str, columns: Sequence[Column], rows: Sequence) -> None:
    """``title``, the table of what fits and a dim line naming the columns left out."""
    table, dropped = fit_table(console, columns, rows)
    console.print(title, soft_wrap=False, markup=False)
    console.print(table)
    if dropped:
        plural = "s" if len(dropped) > 1 else ""
        for sep in (", ", ","):
            note = f"(+ {len(dropped)} column{plural}: {sep.join(dropped)}; --format csv for all)"
            if len(note) <= console.width:
                break
        console.print(note, style="dim", soft_wrap=False, markup=False)


def plain(value: Any) -> Any:
    """A value as JSON has it: timestamps in ISO form, NaN as null, arrays as lists."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return None if value != value else value.isoformat()
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # numpy scalars
        return plain(value.item())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    return str(value)


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: lists joined with ``;``, dicts as JSON, missing as empty."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """CSV on stdout."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])


def write_json(data: Any) -> None:
    """Indented JSON on stdout."""
    click.echo(json.dumps(plain(data), indent=2))
