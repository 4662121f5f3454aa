"""Reference computations of the built-in strategies' indicators, on plain pandas and numpy.

Each function recomputes from a series of closes what the strategy's Nautilus indicator holds
after every bar, so figures (and later a vectorised engine or tests) can use the values
without running Nautilus. An :class:`IndicatorSpec` says how one strategy's indicators are
computed from its parameters and how they are laid out; a registered
:class:`~research_lib.strategies.registry.StrategyInfo` carries its strategy's spec.

Specs hold no colours: ``styles`` maps each column to a style key (``"fast"``, ``"slow"``,
``"middle"``, ``"band"``, ``"rsi"``) that the ui layer turns into a colour.

pandas and numpy are imported inside the functions: the registry imports this module, and
``research-lib strategy list`` must start without loading them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MEAN_REVERSION",
    "MOMENTUM",
    "SMA_CROSSOVER",
    "IndicatorSpec",
    "bollinger_bands",
    "bollinger_frame",
    "rsi",
    "rsi_frame",
    "sma",
    "sma_lines",
]

Params = Mapping[str, Any]


def no_levels(params: Params) -> dict[str, float]:
    """No horizontal levels."""
    return {}


@dataclass(frozen=True)
class IndicatorSpec:
    """How one strategy's indicators are computed from the closes and laid out.

    ``compute(close, params)`` returns a DataFrame of named columns on the close's index;
    ``labels(params)`` gives legend names by column; ``panel`` is ``"price"`` (drawn over the
    price) or ``"lower"`` (a second row titled ``panel_title``, on ``panel_range``, with
    horizontal lines at ``levels(params)``, by name); ``styles`` maps a column to a style key.
    """

    compute: Callable[[pd.Series, Params], pd.DataFrame]
    labels: Callable[[Params], dict[str, str]]
    panel: str = "price"
    panel_title: str = ""
    panel_range: tuple[float, float] | None = None
    levels: Callable[[Params], dict[str, float]] = field(default=no_levels)
    styles: dict[str, str] = field(default_factory=dict)


# -- reference computations ------------------------------------------------------------------


def sma(close: pd.Series, period: int) -> pd.Series:
    """Simple moving average of ``period`` closes; NaN until ``period`` closes are seen."""
    return close.rolling(period).mean()


def bollinger_bands(close: pd.Series, period: int, num_std: float) -> pd.DataFrame:
    """Middle (rolling mean), upper and lower bands (middle +/- ``num_std`` population std,
    ddof=0) of ``period`` closes; NaN until ``period`` closes are seen."""
    import pandas as pd

    middle = close.rolling(period).mean()
    width = num_std * close.rolling(period).std(ddof=0)
    return pd.DataFrame({"middle": middle, "upper": middle + width, "lower": middle - width})


def rsi(close: pd.Series, period: int) -> pd.Series:
    """RSI on 0..100 exactly as Nautilus's ``RelativeStrengthIndex`` (its default averages).

    Gains and losses of consecutive closes (the first counts as 0) are averaged with an EMA
    of alpha ``2 / (period + 1)`` seeded with the first value (Nautilus's default
    ``MovingAverageType.EXPONENTIAL``, not Wilder's ``1 / period``); ``RSI = 100 - 100 / (1 +
    gain / loss)`` and 100 while the average loss is 0. NaN for the first ``period - 1`` closes,
    before the indicator is warm.
    """
    import numpy as np
    import pandas as pd

    values = close.to_numpy(dtype=float)
    out = np.full(len(values), np.nan)
    alpha = 2.0 / (period + 1.0)
    gain = loss = 0.0
    last = values[0] if len(values) else 0.0
    for i, value in enumerate(values):
        change = value - last
        up, down = (change, 0.0) if change > 0 else (0.0, -change if change < 0 else 0.0)
        if i == 0:  # the EMA's first input is its value
            gain, loss = up, down
        gain = alpha * up + (1.0 - alpha) * gain
        loss = alpha * down + (1.0 - alpha) * loss
        out[i] = 100.0 if loss == 0 else 100.0 - 100.0 / (1.0 + gain / loss)
        last = value
    out[: max(period - 1, 0)] = np.nan
    return pd.Series(out, index=close.index, name="rsi")


# -- per-strategy frames ---------------------------------------------------------------------


def sma_lines(close: pd.Series, params: Params) -> pd.DataFrame:
    """``fast_sma`` and ``slow_sma`` of ``fast_period`` and ``slow_period`` closes."""
    import pandas as pd

    fast, slow = int(params["fast_period"]), int(params["slow_period"])
    return pd.DataFrame({"fast_sma": sma(close, fast), "slow_sma": sma(close, slow)})


def bollinger_frame(close: pd.Series, params: Params) -> pd.DataFrame:
    """``middle``, ``upper``, ``lower`` of ``lookback_period`` closes, ``num_std_dev`` wide."""
    return bollinger_bands(close, int(params["lookback_period"]), float(params["num_std_dev"]))


def rsi_frame(close: pd.Series, params: Params) -> pd.DataFrame:
    """``rsi`` of ``rsi_period`` closes."""
    return rsi(close, int(params["rsi_period"])).to_frame()


SMA_CROSSOVER = IndicatorSpec(
    compute=sma_lines,
    labels=lambda p: {"fast_sma": f"SMA {p['fast_period']}", "slow_sma": f"SMA {p['slow_period']}"},
    styles={"fast_sma": "fast", "slow_sma": "slow"},
)
MEAN_REVERSION = IndicatorSpec(
    compute=bollinger_frame,
    labels=lambda p: {
        "middle": f"mean {p['lookback_period']}",
        "upper": f"+{p['num_std_dev']:g} std",
        "lower": f"-{p['num_std_dev']:g} std",
    },
    styles={"middle": "middle", "upper": "band", "lower": "band"},
)
MOMENTUM = IndicatorSpec(
    compute=rsi_frame,
    labels=lambda p: {"rsi": f"RSI {p['rsi_period']}"},
    panel="lower",
    panel_title="RSI (0..100)",
    panel_range=(0.0, 100.0),
    levels=lambda p: {
        "oversold": float(p["oversold_threshold"]),
        "overbought": float(p["overbought_threshold"]),
    },
    styles={"rsi": "rsi"},
)
