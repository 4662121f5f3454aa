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
# # Parameterised backtest
#
# One backtest from the parameters below, saved to the results store. Run it as it is, or
# with other parameters through papermill:
#
# ```
# research-lib notebook run notebooks/03_parameterised_backtest.ipynb -p symbol AAPL -p data catalog
# research-lib sweep sma_crossover --grid fast_period=5,10 --grid slow_period=20,40 --via papermill
# ```
#
# `run_notebook` (and so the commands above) sets `source` and `notebook_path`, so the stored
# run points back at the executed notebook in `notebooks/output/`.

# %% tags=["parameters"]
strategy = "sma_crossover"  # registered name (research-lib strategy list) or module:Class
config = None  # or a YAML run config; its backtest: section fills the settings left None
params = {}  # strategy parameters, e.g. {"fast_period": 10}; the rest are the defaults
symbol = "AAPL"
bar_spec = None  # catalog bars when the symbol has several, e.g. "5-MINUTE-LAST"
start = "2024-01-02"  # ISO dates or times (UTC); a bare end date is the whole day
end = "2024-01-05"
data = "mock"  # "mock": seeded synthetic bars; "catalog": bars imported into the catalog
catalog = None  # default: $RESEARCH_LIB_CATALOG, else <repo>/parquet_catalog
results = None  # default: $RESEARCH_LIB_RESULTS, else <repo>/results/results.duckdb
seed = 42  # seed of the mock bars
tags = []
source = "notebook"  # run_notebook sets "papermill", sweeps "sweep"
notebook_path = None  # run_notebook sets the executed notebook's path
sweep_id = None

# %%

from research_lib.settings import catalog_root, results_path
from research_lib.ui.tables import summary_frame
from research_lib.workflows.record import run_from_config
from research_lib.workflows.sweep import as_run_config

# %%
run_config = as_run_config(config or strategy)
print(f"{run_config.strategy_name}: {run_config.strategy_path}")

# %%
result = run_from_config(
    run_config,
    params=params,
    symbol=symbol,
    bar_spec=bar_spec,
    start=start,
    end=end,
    data=data,
    catalog=catalog_root(catalog),
    results=results_path(results),
    seed=seed,
    tags=tags,
    source=source,
    notebook_path=notebook_path,
    sweep_id=sweep_id,
)

# %%
print(f"run {result.run_id} saved to {result.saved_to}")
summary_frame(result)
