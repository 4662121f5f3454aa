"""The defaults a run falls back on, defined once for every layer.

The runner, YAML run configs, sweeps, the panel and the CLI all read these, so "a trade size
of 100 unless the config says otherwise" is written in one place.
"""

from __future__ import annotations

DEFAULT_TRADE_SIZE = 100  # units per order when a strategy config gives none
DEFAULT_BALANCE = 100_000.0  # starting balance, in the instrument's currency
DEFAULT_SYMBOL = "AAPL"  # the symbol of mock bars and of runs on bars passed in memory
DEFAULT_SEED = 42  # the seed of mock bars
MOCK_START, MOCK_END = "2024-01-02", "2024-01-31"  # mock bars when no dates are given
MOCK_BAR_SPEC = "1-MINUTE-LAST"  # mock bars are 1-minute bars
