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
# # Compare results
#
# Everything here is read from the results store: recent runs, equity curves side by side,
# metrics compared, and a sweep's heatmap. On a fresh clone the store holds no sweep yet, so
# a small one on mock data (4 points, three days, a few seconds) is run first. The last
# section screens a grid: every point on the vector engine, the best few confirmed in Nautilus.

# %%
from research_lib import ResultsStore, plots
from research_lib.settings import results_path
from research_lib.ui.tables import comparison_frame
from research_lib.workflows.screen import screen
from research_lib.workflows.sweep import SweepResult, ensure_demo_sweep

store = ResultsStore(results_path())
sweep_id = ensure_demo_sweep(store)
print(f"store {store.path}, sweep {sweep_id}")

# %% [markdown]
# ## Recent runs

# %%
recent = store.list(limit=10)
recent[["id", "created_at", "status", "source", "strategy", "symbol", "total_return", "sharpe"]]

# %% [markdown]
# ## The sweep, best first

# %%
done = SweepResult.load(store, sweep_id)
ranked = done.ranked("sharpe")
ranked.head(10)

# %% [markdown]
# ## Equity of the three best runs
# Curves and bars are labelled by the parameters that differ between the runs (`fast=10`).

# %%
chosen = ranked["id"].head(3).tolist()
plots.equity_overlay_from_store(store, chosen)

# %% [markdown]
# ## Metrics compared

# %%
comparison_frame(store.compare(chosen).metrics)

# %%
plots.metric_bars(ranked, "sharpe")

# %% [markdown]
# ## Sharpe over the grid

# %%
x, y = list(done.grid)[:2]
plots.sweep_heatmap(done.runs, x, y, "sharpe")

# %% [markdown]
# ## A screened grid
# `screen` runs every point of the grid on the fast vector engine, then re-runs the best
# three (by Sharpe) in Nautilus and checks that both engines made the same trades with the
# same P&L. Here 4 x 3 points on four days of mock bars, into the same store.

# %%
grid = {"fast_period": [5, 8, 10, 12], "slow_period": [20, 30, 40]}
screened = screen(
    "sma_crossover", grid, confirm=3, by="sharpe", start="2024-01-02", end="2024-01-05",
    data="mock", results=store, progress=False, workers=1,
)  # fmt: skip
screened.ranked("sharpe").head(5)

# %% [markdown]
# The confirmed points: the Nautilus run, whether it agrees with its screened twin, and
# Sharpe on both engines.

# %%
screened.confirmations[
    ["fast_period", "slow_period", "id", "twin_id", "agrees", "detail", "sharpe", "vector_sharpe"]
]

# %% [markdown]
# The grid as screened on the vector engine; a ring marks a point Nautilus confirmed and
# agrees with, a red cross one where it differs (hover a mark for its Nautilus run).

# %%
plots.sweep_heatmap(screened.runs, "fast_period", "slow_period", "sharpe")
