"""The ``research-lib`` command line: adapters that parse options, call one library function
and print.

The root command and the shared helpers are in :mod:`research_lib.cli.app`; each module here
registers one group of commands on import. Heavy libraries (Nautilus, plotly) are imported
inside the commands that need them, so ``--help`` starts instantly.
"""

from __future__ import annotations

from research_lib.cli import (
    backtest,
    dashboard,
    data,
    info,
    manage,
    notebook,
    report,
    results,
    strategy,
    study,
)
from research_lib.cli.app import cli

__all__ = [
    "backtest",
    "cli",
    "dashboard",
    "data",
    "info",
    "main",
    "manage",
    "notebook",
    "report",
    "results",
    "strategy",
    "study",
]


def main() -> None:
    """Entry point of the ``research-lib`` script and ``python -m research_lib``."""
    cli.main(prog_name="research-lib")
