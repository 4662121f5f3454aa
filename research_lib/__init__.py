"""research_lib: a Jupyter-centric research workbench for systematic traders, on NautilusTrader.

The names a notebook needs are importable from here; they load on first use so that importing
the package (and starting the CLI) stays fast.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Known deprecation noise from our dependencies, filtered in this one place.
warnings.filterwarnings("ignore", message=r".*Timestamp\.utcnow is deprecated.*")
warnings.filterwarnings("ignore", message=r".*utcfromtimestamp.*", category=DeprecationWarning)

_EXPORTS = {
    "Catalog": "research_lib.catalog",
    "run_backtest": "research_lib.runner",
    "BacktestResult": "research_lib.result",
    "ResultsStore": "research_lib.results",
    "load_run_config": "research_lib.config",
    "BacktestPanel": "research_lib.widgets",
    "price_figure": "research_lib.plots",
    "equity_figure": "research_lib.plots",
    "sweep": "research_lib.sweep",
    "run_notebook": "research_lib.notebooks",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'research_lib' has no attribute {name!r}")
