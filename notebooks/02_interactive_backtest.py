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
# # Interactive backtest
#
# Pick a strategy, its parameters, the data and the period, then press **Run**: the panel
# runs the backtest, saves it to the results store and shows the price with the trades, the
# equity and drawdown, and the metrics.

# %%
from research_lib.settings import catalog_root, results_path
from research_lib.ui.widgets import BacktestPanel

# %%
panel = BacktestPanel(catalog=catalog_root(), results=results_path())
panel.display()

# %% [markdown]
# Run once with the panel's defaults, so the figures are there as soon as the notebook has
# run; then change the controls and press **Run** again: the panel's figures redraw in place.

# %%
panel.run_button.click()
assert panel.last_result is not None, panel.last_error
assert panel.last_figures, "the default backtest produced no figures"
print(f"run {panel.last_result.run_id}: {panel.last_result.trade_count} trades")
