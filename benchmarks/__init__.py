"""Benchmarks of research_lib against raw NautilusTrader and DuckDB: ``python -m benchmarks``."""
