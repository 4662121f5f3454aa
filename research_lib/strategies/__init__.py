"""Built-in strategies. Each module holds one frozen config and the strategy that takes it."""
