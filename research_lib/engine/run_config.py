"""YAML run configs: which strategy, its config values and the backtest settings.

The seed format names Nautilus import paths, as ``ImportableStrategyConfig`` does::

    strategy_path: "research_lib.strategies.sma_crossover:SMACrossover"
    config_path: "research_lib.strategies.sma_crossover:SMAConfig"
    config: {instrument_id: "AAPL.NASDAQ", bar_type: "...", fast_period: 10, ...}
    backtest: {data: catalog, symbol: AAPL, start: 2024-01-02, end: 2024-01-31}

``strategy: sma_crossover`` (a registered name) may replace the two paths; ``backtest:`` is
optional and command-line flags override it. ``instrument_id`` and ``bar_type`` always follow
the backtest data, so they may be left out; a ``bar_type`` does say which catalog bars to use
(its spec, ``1-MINUTE-LAST``) unless ``backtest.bar_spec`` (or ``--bar-spec``) names others.
Dates follow :mod:`research_lib.model.dates` (ISO; ``01/05/2024`` is refused as ambiguous).

Files are parsed with a ``yaml.SafeLoader`` subclass (never ``yaml.load``) that records the
line of every mapping key and keeps the limits of
:class:`research_lib.model.params.LimitedLoader` (depth, aliases; at most
:data:`MAX_FILE_BYTES`); numbers follow the rules flags follow
(:func:`research_lib.model.params.setting_problem`). Pydantic models forbid unknown keys,
then the strategy's own config class checks the ``config:`` values (``problems()``), so the
rules are written once. Every problem is reported at once, as ``file:line: path: reason``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from research_lib.engine.run_template import parse_params as parse_params  # re-exported
from research_lib.engine.run_template import template as template  # re-exported
from research_lib.engine.sections import BacktestSection, StudySection
from research_lib.errors import ConfigError, did_you_mean
from research_lib.model.bars import BAR_SPEC_PATTERN
from research_lib.model.defaults import DEFAULT_SYMBOL, DEFAULT_TRADE_SIZE
from research_lib.model.execution import Costs, merge_costs
from research_lib.model.params import LimitedLoader, LimitError, value_problems
from research_lib.settings import defines_class, untrusted
from research_lib.strategies import registry

MAX_FILE_BYTES = 1_000_000  # a run config is a few hundred bytes


# -- reading YAML -------------------------------------------------------------------------


class LineLoader(LimitedLoader):
    """A limited ``SafeLoader`` (:class:`~research_lib.model.params.LimitedLoader`) that
    records the line (1-based) of every mapping key, by YAML path.

    ``lines[("config", "slow_period")] == 7``; duplicated keys are kept in ``duplicates``.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[tuple[str, ...], int] = {}
        self.duplicates: list[tuple[tuple[str, ...], int]] = []

    def load(self) -> Any:
        """The document's data (None for an empty document), recording key lines."""
        try:
            node = self.get_single_node()
            if node is None:
                return None
            self._record(node, ())
            return self.construct_document(node)
        finally:
            self.dispose()

    def _record(self, node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = (*path, str(key_node.value))
                line = key_node.start_mark.line + 1
                if key in self.lines:
                    self.duplicates.append((key, line))
                else:
                    self.lines[key] = line
                self._record(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._record(item, (*path, str(i)))


@dataclass(frozen=True)
class Problem:
    """One problem in a config file: where (YAML path, line) and why."""

    path: str
    reason: str
    line: int | None = None

    def format(self, file: str) -> str:
        where = f"{file}:{self.line}:" if self.line else f"{file}:"
        return f"{where} {self.path}: {self.reason}" if self.path else f"{where} {self.reason}"


class RunConfigError(ConfigError):
    """Raised for an invalid YAML run config; ``problems`` lists every :class:`Problem` and
    ``str()`` gives them one per line as ``file:line: path: reason``."""

    def __init__(self, file: str | Path, problems: list[Problem]) -> None:
        self.file = str(file)
        self.problems = problems
        super().__init__("\n".join(problem.format(self.file) for problem in problems))


# -- the schema ---------------------------------------------------------------------------


class RunConfigFile(BaseModel):
    """The top level of a YAML run config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: str | None = None
    strategy_path: str | None = None
    config_path: str | None = None
    config: dict[str, Any] = {}
    backtest: BacktestSection = BacktestSection()
    costs: Costs = Costs()
    study: StudySection = StudySection()

    @field_validator("strategy_path", "config_path")
    @classmethod
    def _import_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            try:
                registry.check_path_form(value, info.field_name)
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix(f"{info.field_name} ")) from exc
        return value


_SECTIONS: dict[str, type[BaseModel]] = {
    "": RunConfigFile,
    "backtest": BacktestSection,
    "costs": Costs,
    "study": StudySection,
}


# -- the result ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """A validated run config: the strategy's import paths, its config values and settings."""

    strategy_path: str
    config_path: str
    strategy_name: str
    params: dict[str, Any]
    backtest: BacktestSection = field(default_factory=BacktestSection)
    costs: Costs = field(default_factory=Costs)
    source_file: str | None = None
    not_imported: str | None = None  # why the strategy's code was only read, not imported
    study: StudySection = field(default_factory=StudySection)

    def arguments(self, **overrides: Any) -> dict[str, Any]:
        """The keyword arguments of :func:`research_lib.workflows.record.run_backtest` that run
        this config (:func:`~research_lib.workflows.record.run_from_config` runs it).

        ``overrides`` (None values are ignored) replace the ``backtest:`` settings (``symbol``,
        ``bar_spec``, ``start``, ``end``, ``starting_balance``, ``data``, ``fill_timing``,
        ``fill_volume``, ``periods_per_year``); ``params={...}`` replaces config values;
        ``costs={...}`` replaces the ``costs:`` it names (a commission kind replaces the file's
        commission); anything else (``results``, ``catalog``, ``save``, ``source``, ``seed``,
        ``tags``, ``verbose``...) is passed to ``run_backtest`` as is. Catalog bars without a
        ``bar_spec`` are those of the config's ``bar_type``, when it has one.
        """
        params = {**self.params, **(overrides.pop("params", None) or {})}
        costs = merge_costs(
            self.costs.model_dump(exclude_defaults=True), dict(overrides.pop("costs", None) or {})
        )
        backtest = self.backtest.model_dump(exclude={"scheduler"})  # the sweep's, not a run's
        settings = {key: value for key, value in backtest.items() if value is not None}
        settings.update({key: value for key, value in overrides.items() if value is not None})
        if settings.get("bar_spec") is None and _is_catalog(settings.get("data")):
            settings["bar_spec"] = bar_spec_of(params.get("bar_type"))
        return {
            "strategy": self.strategy_path,
            "params": params,
            "config_path": self.config_path,
            "costs": costs,
            **settings,
        }


def _is_catalog(data: Any) -> bool:
    return isinstance(data, str) and data == "catalog"  # data may be a bars DataFrame


def bar_spec_of(bar_type: Any) -> str | None:
    """The spec of a bar type (``AAPL.NASDAQ-5-MINUTE-LAST-EXTERNAL`` -> ``5-MINUTE-LAST``),
    or None when ``bar_type`` is not one."""
    parts = bar_type.rsplit("-", 4) if isinstance(bar_type, str) else []
    spec = "-".join(parts[1:4]) if len(parts) == 5 else ""
    return spec if BAR_SPEC_PATTERN.match(spec) else None


# -- loading ------------------------------------------------------------------------------


def load_run_config(path: str | Path, *, imports: bool = True) -> RunConfig:
    """Read and validate the YAML run config at ``path``.

    With ``imports=False`` a ``strategy_path``/``config_path`` whose module is outside the
    installed packages and the project (:func:`research_lib.settings.untrusted`) is not
    imported: its source is only read (the classes must be defined there), its config values
    are not checked, and ``not_imported`` says why. Raises :class:`RunConfigError` (a
    :class:`ConfigError`) listing every problem.
    """
    file = Path(path)
    data, lines = _read(file)
    problems: list[Problem] = []
    model = None
    try:
        model = RunConfigFile.model_validate(data)
    except ValidationError as exc:
        problems += [_pydantic_problem(error, lines) for error in exc.errors()]
    bad_keys = {p.path.split(".")[0] for p in problems}
    not_imported = None
    if not imports and not bad_keys & {"strategy_path", "config_path"}:
        not_imported = _read_only_paths(data, lines, problems)
    paths = None if not_imported else _strategy_paths(data, bad_keys, lines, problems)
    if not_imported and not any(p.path in ("strategy_path", "config_path") for p in problems):
        paths = (data["strategy_path"], data["config_path"])
    values = data.get("config")
    if isinstance(values, dict):
        numbers = value_problems(values, "config")
        problems += [Problem(where, why, _line(lines, *where.split("."))) for where, why in numbers]
        bad = {where.split(".")[1] for where, _ in numbers}
        good = {key: value for key, value in values.items() if str(key) not in bad}
        if paths and not not_imported:
            problems += _config_problems(paths[1], good, data.get("backtest"), lines)
    if problems or model is None or paths is None:
        problems.sort(key=lambda p: (p.line is None, p.line or 0))
        raise RunConfigError(file, problems)
    strategy_path, config_path = paths
    info = registry.find_by_path(strategy_path)
    return RunConfig(
        strategy_path=strategy_path,
        config_path=config_path,
        strategy_name=info.name if info else strategy_path,
        params=dict(model.config),
        backtest=model.backtest,
        costs=model.costs,
        source_file=str(file),
        not_imported=not_imported,
        study=model.study,
    )


def _read_only_paths(
    data: dict[str, Any], lines: dict[tuple[str, ...], int], problems: list[Problem]
) -> str | None:
    """For paths to untrusted code: check its source defines the classes (adding problems)
    and say why it was not imported; None when every path may be imported."""
    paths = {key: data.get(key) for key in ("strategy_path", "config_path")}
    reasons = [untrusted(value) for value in paths.values() if isinstance(value, str)]
    reason = next((r for r in reasons if r), None)
    if reason is None or not all(isinstance(value, str) for value in paths.values()):
        return None
    for key, value in paths.items():
        problem = defines_class(value)
        if problem:
            problems.append(Problem(key, problem, _line(lines, key)))
    return reason


def _read(file: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The top-level mapping and the key lines; every unreadable case is one clear line."""

    def fail(reason: str, line: int | None = None) -> RunConfigError:
        return RunConfigError(file, [Problem("", reason, line)])

    if not file.exists():
        raise fail("no such file")
    if file.is_dir():
        raise fail("is a folder, expected a YAML file")
    if not file.is_file():  # a FIFO would block, a device never end
        raise fail("is not a regular file (a pipe or a device?), expected a YAML file")
    try:
        with file.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise fail(f"larger than {MAX_FILE_BYTES:,} bytes; a run config is a few hundred")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not a UTF-8 text file ({exc.reason})") from exc
    loader = LineLoader(text)
    try:
        data = loader.load()
    except LimitError as exc:
        mark = exc.problem_mark
        raise fail(str(exc.problem), mark.line + 1 if mark else None) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = exc.problem or exc.context or "cannot parse"
        if mark:
            detail += f" (column {mark.column + 1})"
        if exc.context and exc.problem and exc.context_mark:
            detail += f", {exc.context} started on line {exc.context_mark.line + 1}"
        raise fail(f"YAML syntax error: {detail}", mark.line + 1 if mark else None) from exc
    except yaml.YAMLError as exc:
        raise fail(f"YAML syntax error: {exc}") from exc
    if data is None:
        raise fail(
            "file is empty; expected strategy (or strategy_path and config_path), config and "
            "backtest keys (research-lib strategy create --type NAME writes a template)"
        )
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise fail(f"expected a mapping (key: value lines) at the top level, got {kind}", 1)
    problems = [
        Problem(".".join(key), f"duplicate key (first on line {loader.lines[key]})", line)
        for key, line in loader.duplicates
    ]
    if problems:
        raise RunConfigError(file, problems)
    return data, loader.lines


def _line(lines: dict[tuple[str, ...], int], *path: str) -> int | None:
    """The line of ``path``, or of its closest parent that is in the file."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _pydantic_problem(error: dict[str, Any], lines: dict[tuple[str, ...], int]) -> Problem:
    loc = tuple(str(part) for part in error["loc"])
    path = ".".join(loc)
    if error["type"] == "extra_forbidden":
        section = _SECTIONS.get(".".join(loc[:-1]), RunConfigFile)
        known = list(section.model_fields)
        hint = did_you_mean(loc[-1], known)
        return Problem(path, f"unknown key;{hint} known: {', '.join(known)}", _line(lines, *loc))
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if error["type"] not in ("value_error",) and "input" in error:
        message = f"{message}, was {error['input']!r}"
    return Problem(path, message, _line(lines, *loc))


def _strategy_paths(
    data: dict[str, Any],
    bad_keys: set[str],
    lines: dict[tuple[str, ...], int],
    problems: list[Problem],
) -> tuple[str, str] | None:
    """(strategy_path, config_path) named by the file, importable; else add problems."""
    name, strategy_path, config_path = (
        data.get(key) if key not in bad_keys else None
        for key in ("strategy", "strategy_path", "config_path")
    )
    if bad_keys & {"strategy", "strategy_path", "config_path"}:
        return None
    if name is None and strategy_path is None:
        problems.append(
            Problem(
                "",
                "missing strategy: give strategy: NAME (research-lib strategy list) "
                "or strategy_path and config_path (module:Class)",
                None,
            )
        )
        return None
    if name is not None and (strategy_path is not None or config_path is not None):
        problems.append(
            Problem(
                "strategy",
                "give either strategy or strategy_path/config_path, not both",
                _line(lines, "strategy"),
            )
        )
        return None
    try:
        if name is not None:
            return registry.resolve_paths(name)
        strategy_path, config_path = registry.resolve_paths(strategy_path, config_path)
    except ConfigError as exc:
        key = "strategy" if name is not None else "config_path"
        problems.append(Problem(key, str(exc), _line(lines, key) or _line(lines, "strategy_path")))
        return None
    found = None
    for key, load in (
        ("strategy_path", registry.strategy_class),
        ("config_path", registry.config_class),
    ):
        try:
            load(strategy_path if key == "strategy_path" else config_path)
        except ConfigError as exc:
            problems.append(Problem(key, str(exc), _line(lines, key)))
            found = False
    return None if found is False else (strategy_path, config_path)


def _config_problems(
    config_path: str,
    values: dict[str, Any],
    backtest: Any,
    lines: dict[tuple[str, ...], int],
) -> list[Problem]:
    """Problems of the ``config:`` values, found by the strategy's config class itself."""
    symbol = backtest.get("symbol") if isinstance(backtest, dict) else None
    instrument_id = values.get("instrument_id")
    if not isinstance(instrument_id, str):
        bar_type = values.get("bar_type")
        instrument_id = (
            bar_type.split("-", 1)[0]
            if isinstance(bar_type, str)
            else f"{symbol if isinstance(symbol, str) else DEFAULT_SYMBOL}.SIM"
        )
    wiring = {
        "instrument_id": instrument_id,
        "bar_type": f"{instrument_id}-1-MINUTE-LAST-EXTERNAL",
        "trade_size": DEFAULT_TRADE_SIZE,
    }
    try:
        found = registry.config_problems(config_path, values, defaults=wiring)
    except ConfigError as exc:
        return [Problem("config_path", str(exc), _line(lines, "config_path"))]
    return [
        Problem(f"config.{key}" if key else "config", reason, _line(lines, "config", str(key)))
        for key, reason in found
    ]
