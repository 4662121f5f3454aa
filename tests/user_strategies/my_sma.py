"""A user's strategy that opts in to screening: its module provides ``vector_signals``."""

from research_lib.strategies.sma_crossover import SMAConfig, SMACrossover, vector_signals


class MySMAConfig(SMAConfig, frozen=True):
    """The built-in crossover's parameters."""


class MySMA(SMACrossover):
    """The built-in crossover under another name."""


__all__ = ["MySMA", "MySMAConfig", "vector_signals"]
