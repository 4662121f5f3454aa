"""The one hierarchy of errors research_lib raises for problems a user can fix.

The CLI turns any :class:`ResearchError` into one line on stderr and a non-zero exit code;
``--verbose`` adds the traceback. Anything else is a bug and is shown in full.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ResearchError(Exception):
    """Base class: a problem with the user's input or environment, explained in one line."""

    exit_code = 1


class CatalogError(ResearchError):
    """Raised when the data catalog cannot be read or written as asked."""


class InvalidSymbolError(CatalogError):
    """Raised for a symbol with characters outside letters, digits, ``.``, ``-``, ``_``, ``/``,
    or one that could escape the catalog root (``../x``)."""


class UnknownSymbolError(CatalogError):
    """Raised when a symbol is not in the catalog."""


class ImportValidationError(CatalogError):
    """Raised when a CSV file is rejected; the message names the file, line and reason."""


class DataRangeError(ResearchError):
    """Raised when a requested date range holds no bars, or too few to warm up a strategy."""


class ConfigError(ResearchError):
    """Raised for an invalid strategy or backtest configuration (YAML, CLI params, Python)."""


class ConfigProblems(ConfigError):
    """Raised by a strategy config with invalid values; ``problems`` lists (field, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))


class UnknownStrategyError(ConfigError):
    """Raised when a strategy name is not in the registry."""


class BacktestError(ResearchError):
    """Raised when a backtest ran but its outcome is unusable (for example every order denied)."""


class ResultsError(ResearchError):
    """Raised when the results store cannot answer a query (unknown or ambiguous run id...)."""


class NotebookError(ResearchError):
    """Raised when a notebook cannot be executed or fails in a cell."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty
    (``one_line(RuntimeError("boom\\nmore")) == "boom"``)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" did you mean 'x'?"`` for the closest choice, or an empty string."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" did you mean '{matches[0]}'?" if matches else ""
