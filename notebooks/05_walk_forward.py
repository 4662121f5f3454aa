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
# # Walk-forward study
#
# A backtest that picks the best parameters and reports how well they did has graded its own
# homework: the parameters were chosen *because* they did well on those bars. A **study**
# keeps the choosing and the grading apart.
#
# **Walk-forward**: the bars are cut into folds. Each fold has a *train* window, where every
# point of the grid is tried and the best one (by Sharpe) is chosen, and the *test* window
# right after it, where only that chosen point is run, in Nautilus, on bars it has never
# seen. Then the windows move forward and it starts again. The test windows, chained, make
# one **out-of-sample** equity curve: what choosing this way would have earned.
#
# Here: three months of one-minute mock bars, four weeks to train, two weeks to test, a grid
# of 4 x 3 points of the SMA crossover (a few seconds), into the notebook's results store.

# %% tags=["parameters"]
# The study (papermill can set these: research-lib notebook run notebooks/05_walk_forward.ipynb
# -p end 2024-12-31 -p train 6M -p test 2M -p grid "{fast_period: [...], ...}")
strategy = "sma_crossover"
grid = {"fast_period": [5, 10, 15, 20], "slow_period": [30, 40, 60]}
train = "4W"  # walk-forward: the train window's length, then the test window's
test = "2W"
data = "mock"
start = "2024-01-02"
end = "2024-03-25"
workers = 1
results = None  # the results store (None: the project's)

# %%
from research_lib import ResultsStore, plots
from research_lib.settings import results_path
from research_lib.ui.study_report import write_study_report
from research_lib.workflows.study import run_study

store = ResultsStore(results_path(results))
result = run_study(
    strategy, grid, walk_forward=f"train={train},test={test}", data=data, start=start, end=end,
    results=store, progress=False, workers=workers, status=print,
)  # fmt: skip
print(f"study {result.study_id} ({result.status}) in {store.path}")

# %% [markdown]
# ## The folds
# One row per fold: its windows, the point chosen on the train window, its Sharpe there
# (in sample, `is_`) and on the test window (out of sample, `oos_`).

# %%
result.folds_table.round(3)

# %% [markdown]
# ## What the numbers say
#
# - **Out of sample**: the stitched test windows' Sharpe, return and trades.
# - **Degradation**: how far the Sharpe fell from the train windows to the test windows. Some
#   fall is normal (the train Sharpe is the best of many); a large one, or a negative slope
#   of out-of-sample against in-sample, says the choice did not carry over.
# - **Deflated Sharpe ratio (DSR)**: the more points are tried, the higher the best Sharpe
#   gets by luck alone. The DSR is the probability that the best point's Sharpe beats what
#   luck would give after that many trials (95% or more: significant).
# - **Probability of backtest overfitting (PBO)**: the sessions are split into halves in
#   every way (combinatorially symmetric cross-validation); PBO is how often the best point of
#   one half ranks in the bottom half of the other. 50% is a coin flip; near 0 the selection
#   holds up.

# %%
for line in result.readings:
    print("-", line)

# %% [markdown]
# ## Train and test windows
# A bar per window; hover for the dates, the bars and the chosen point.

# %%
plots.fold_timeline(result)

# %% [markdown]
# ## Out-of-sample equity
# The test windows chained into one curve, each fold's window shaded.

# %%
plots.oos_equity(result)

# %% [markdown]
# ## In sample against out of sample
# One point per fold. On the dashed line the test window did as well as the train window;
# below it, worse. The red line is the least-squares fit of the degradation.

# %%
plots.is_vs_oos(result)

# %% [markdown]
# ## Parameter stability
# The value each fold chose, on the range searched: flat lines mean a stable choice; a
# choice that jumps around says the best point is mostly noise.

# %%
plots.parameter_stability(result)

# %% [markdown]
# ## The report
# All of the above in one HTML file that opens offline (also:
# `research-lib study report STUDY_ID --output study.html`).

# %%
report = write_study_report(result, store.path.with_name(f"study-{result.study_id[:8]}.html"))
print(f"wrote {report}")
