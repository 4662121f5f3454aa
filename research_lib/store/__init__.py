"""The results store: every run, completed or failed, in one embedded DuckDB file."""

from research_lib.store.results import (
    NotSavedWarning,
    ResultsStore,
    StoredRun,
    StoreUnavailableError,
)

__all__ = ["NotSavedWarning", "ResultsStore", "StoreUnavailableError", "StoredRun"]
