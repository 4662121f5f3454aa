"""The results store: every run, completed or failed, in one embedded DuckDB file.

:mod:`~research_lib.store.store` holds :class:`ResultsStore` and its contract; the tables are
in :mod:`~research_lib.store.schema`, their upgrades in :mod:`~research_lib.store.migrations`.
"""

from research_lib.model.run import StoredRun
from research_lib.store.db import StoreUnavailableError
from research_lib.store.pending import NotSavedWarning
from research_lib.store.store import ResultsStore

__all__ = ["NotSavedWarning", "ResultsStore", "StoreUnavailableError", "StoredRun"]
