"""The sections of a YAML run config besides the strategy's: ``backtest:`` and ``study:``.

Both are validated by pydantic (unknown keys refused); command-line flags override each
value. :mod:`research_lib.engine.run_config` reads the file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from research_lib.data.instruments import validate_symbol
from research_lib.errors import ResearchError, did_you_mean
from research_lib.model.bars import parse_bar_spec
from research_lib.model.dates import FORMAT_HINT, parse_when, when_text
from research_lib.model.folds import parse_split, parse_walk_forward
from research_lib.model.metrics import GOALS, METRIC_ALIASES
from research_lib.model.params import setting_problem

__all__ = ["DEFAULT_DATA", "BacktestSection", "StudySection"]

DEFAULT_DATA = "catalog"


class BacktestSection(BaseModel):
    """The optional ``backtest:`` section; command-line flags override each value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str | None = None
    bar_spec: str | None = None
    start: str | None = None
    end: str | None = None
    starting_balance: float | None = None
    data: Literal["mock", "catalog"] = DEFAULT_DATA
    fill_timing: Literal["close", "next_open"] | None = None
    fill_volume: Literal["unlimited", "bar"] | None = None
    periods_per_year: float | None = None
    scheduler: str | None = None  # a Dask scheduler for sweeps: tcp://host:8786 (or "local")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        """Dates as :func:`~research_lib.model.dates.when_text` writes them (the one rule)."""
        if isinstance(value, (str, dt.date)):
            try:
                return when_text(value)
            except ResearchError as exc:  # a YAML file has no --dayfirst: ISO is the fix
                raise ValueError(str(exc).replace(FORMAT_HINT, "")) from exc
        return value

    @field_validator("bar_spec")
    @classmethod
    def _bar_spec(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_bar_spec(value)
            except ResearchError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("symbol")
    @classmethod
    def _safe_symbol(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                validate_symbol(value)
            except ResearchError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("starting_balance", "periods_per_year")
    @classmethod
    def _in_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        problem = setting_problem(str(info.field_name), value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> BacktestSection:
        if self.start and self.end and parse_when(self.end, end=True) < parse_when(self.start):
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class StudySection(BaseModel):
    """The optional ``study:`` section (``research-lib study run``): the search space and
    the validation scheme; each value can be given on the command line instead.

    ``grid`` maps parameters to values as ``--grid`` reads them (``5:50:5``, ``5,10,20`` or
    a YAML list); ``walk_forward`` is ``train=12M,test=3M[,step=3M][,anchored=true]``, or
    ``train`` and ``test`` are one split ``START:END`` each.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    grid: dict[str, Any] = {}
    walk_forward: str | None = None
    train: str | None = None
    test: str | None = None
    search: Literal["grid", "random", "optuna"] = "grid"
    trials: int | None = None
    metric: str = "sharpe"

    @field_validator("walk_forward")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_walk_forward(value)
            except ResearchError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("train", "test")
    @classmethod
    def _split(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            try:
                parse_split(value, str(info.field_name))
            except ResearchError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("metric")
    @classmethod
    def _goal(cls, value: str) -> str:
        name = METRIC_ALIASES.get(value, value)
        if name not in GOALS:
            raise ValueError(
                f"cannot choose points by '{value}';{did_you_mean(value, GOALS)} use one of "
                f"{', '.join(GOALS)}"
            )
        return name

    @model_validator(mode="after")
    def _one_scheme(self) -> StudySection:
        if self.walk_forward and (self.train or self.test):
            raise ValueError("give one validation scheme: walk_forward, or train and test")
        if bool(self.train) != bool(self.test):
            raise ValueError("a split needs both train and test (START:END each)")
        return self

    @field_validator("trials")
    @classmethod
    def _trials(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"must be at least 1, was {value}")
        return value
