"""Built-in strategies. Each module holds one frozen config and the strategy that takes it;
:mod:`~research_lib.strategies.registry` names them (without importing Nautilus) and
:mod:`~research_lib.strategies.indicators` recomputes their indicators with pandas."""
