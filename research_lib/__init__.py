"""research_lib: a Jupyter-centric research workbench for systematic traders, on NautilusTrader.

The names a notebook needs are importable from here; they load on first use so that importing
the package (and starting the CLI) stays fast. Importing the package changes nothing else in
the process (no warning filters, no logging set-up).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# name -> (module, attribute); attribute None: the module itself.
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "Catalog": ("research_lib.data.catalog", "Catalog"),
    "run_backtest": ("research_lib.workflows.record", "run_backtest"),
    "BacktestResult": ("research_lib.model.run", "BacktestResult"),
    "RunRecord": ("research_lib.model.run", "RunRecord"),
    "ResultsStore": ("research_lib.store", "ResultsStore"),
    "load_run_config": ("research_lib.engine.run_config", "load_run_config"),
    "BacktestPanel": ("research_lib.ui.widgets", "BacktestPanel"),
    "price_figure": ("research_lib.ui.plots", "price_figure"),
    "equity_figure": ("research_lib.ui.plots", "equity_figure"),
    "sweep": ("research_lib.workflows.sweep", "sweep"),
    "write_report": ("research_lib.ui.report", "write_report"),
    "run_notebook": ("research_lib.workflows.notebooks", "run_notebook"),
    "plots": ("research_lib.ui.plots", None),
    "settings": ("research_lib.settings", None),
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        loaded = import_module(module)
        return loaded if attribute is None else getattr(loaded, attribute)
    raise AttributeError(f"module 'research_lib' has no attribute {name!r}")
