# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quickstart
#
# Import the sample bars into the data catalog, run one SMA crossover backtest, and look at
# the trades, the equity curve and the metrics. The run is saved to the results store
# (`research-lib backtest list-results` lists it).
#
# The catalog and the store are `$RESEARCH_LIB_CATALOG` and `$RESEARCH_LIB_RESULTS` when set,
# else `parquet_catalog/` and `results/results.duckdb` at the repository root.

# %%

from research_lib import Catalog, plots, run_backtest
from research_lib.settings import catalog_root, project_root, results_path
from research_lib.ui.tables import summary_frame

# %% [markdown]
# ## Data
# `data/sample_AAPL.csv` holds 8,190 synthetic 1-minute bars for January 2024. Importing is
# idempotent: bars already in the catalog are left as they are.

# %%
catalog = Catalog(catalog_root())
report = catalog.import_csv(project_root() / "data" / "sample_AAPL.csv", symbol="AAPL")
print(report.summary())
catalog.symbols()

# %% [markdown]
# ## One backtest
# The whole month of sample bars (a second or two); narrow `start`/`end` for a shorter run.

# %%
result = run_backtest(
    "sma_crossover",
    {"fast_period": 10, "slow_period": 30},
    data="catalog",
    catalog=catalog,
    symbol="AAPL",
    start="2024-01-02",
    end="2024-01-31",
    results=results_path(),
    source="notebook",
    tags=["quickstart"],
)
print(f"run {result.run_id} saved to {result.saved_to}")

# %% [markdown]
# ## Price and trades
# The time axis skips the nights and weekends without bars.

# %%
plots.price_figure(result)

# %% [markdown]
# ## Equity and drawdown

# %%
plots.equity_figure(result)

# %% [markdown]
# ## Metrics and trades

# %%
summary_frame(result)

# %%
result.trades.head(10)
