"""The strategy registry: names users type, mapped to Nautilus import paths.

Strategies are built through Nautilus's ``ImportableStrategyConfig`` and ``StrategyFactory``,
so a built-in name, a YAML file and a user's own ``module:Class`` all take the same road.
Parameters (name, type, default, bounds) are read from the config class itself: from its
source with :mod:`ast` when possible, so ``research-lib strategy list`` never imports Nautilus
(about 2.5 s), and from the imported class otherwise. Tests check both readings agree.

:class:`~research_lib.model.params.Range` and :class:`~research_lib.model.params.Parameter` are
plain data in the model layer, so describing a bound never needs Nautilus.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from research_lib.errors import ConfigError, ConfigProblems, UnknownStrategyError, did_you_mean
from research_lib.model.params import Parameter, Range
from research_lib.strategies.indicators import (
    MEAN_REVERSION,
    MOMENTUM,
    SMA_CROSSOVER,
    IndicatorSpec,
)

# Fields every strategy config has that are not research parameters.
WIRING_FIELDS = ("instrument_id", "bar_type", "fill_timing")  # set by the runner
# Config bases whose fields belong to Nautilus, not to the research parameters.
_NAUTILUS_BASES = ("StrategyConfig", "NautilusConfig", "ActorConfig")


@dataclass(frozen=True)
class StrategyInfo:
    """A registered strategy: its name, one-line description and import paths.

    ``indicators`` says how the strategy's indicators are recomputed from the closes (for
    figures): a :class:`~research_lib.strategies.indicators.IndicatorSpec`, or None.
    """

    name: str
    description: str
    strategy_path: str
    config_path: str
    aliases: tuple[str, ...] = field(default=())
    indicators: IndicatorSpec | None = None

    def config_class(self) -> type:
        """The config class (imported on first use)."""
        from nautilus_trader.common.config import resolve_config_path

        return resolve_config_path(self.config_path)

    def parameters(self) -> list[Parameter]:
        """The config's own fields, with types, defaults and bounds, read from the class."""
        try:
            return static_parameters(self.config_path)
        except _Unreadable:
            return config_parameters(self.config_class())


_REGISTRY: dict[str, StrategyInfo] = {}
_ALIASES: dict[str, str] = {}


def register(info: StrategyInfo) -> StrategyInfo:
    """Add ``info`` under its name and aliases (replacing an earlier one of the same name)."""
    _REGISTRY[info.name] = info
    for alias in info.aliases:
        _ALIASES[alias] = info.name
    return info


register(
    StrategyInfo(
        name="sma_crossover",
        description="Stop-and-reverse on crossings of a fast and a slow simple moving average.",
        strategy_path="research_lib.strategies.sma_crossover:SMACrossover",
        config_path="research_lib.strategies.sma_crossover:SMAConfig",
        aliases=("sma",),
        indicators=SMA_CROSSOVER,
    )
)
register(
    StrategyInfo(
        name="mean_reversion",
        description="Enter when the close leaves the mean +/- k std bands; exit at the mean.",
        strategy_path="research_lib.strategies.mean_reversion:MeanReversion",
        config_path="research_lib.strategies.mean_reversion:MeanReversionConfig",
        indicators=MEAN_REVERSION,
    )
)
register(
    StrategyInfo(
        name="momentum",
        description="Stop-and-reverse when the RSI crosses up through oversold / down through "
        "overbought.",
        strategy_path="research_lib.strategies.momentum:Momentum",
        config_path="research_lib.strategies.momentum:MomentumConfig",
        indicators=MOMENTUM,
    )
)


def names() -> list[str]:
    """Registered strategy names, in registration order."""
    return list(_REGISTRY)


def aliases() -> dict[str, str]:
    """Alias -> registered name."""
    return dict(_ALIASES)


def get(name: str) -> StrategyInfo:
    """The strategy registered as ``name`` or one of its aliases."""
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        hint = did_you_mean(name, [*_REGISTRY, *_ALIASES])
        raise UnknownStrategyError(
            f"unknown strategy '{name}';{hint} available: {', '.join(_REGISTRY)}"
        )
    return _REGISTRY[key]


def find_by_path(strategy_path: str) -> StrategyInfo | None:
    """The registered strategy with this strategy path, if any."""
    for info in _REGISTRY.values():
        if info.strategy_path == strategy_path:
            return info
    return None


def find(name_or_path: str, strategy_path: str | None = None) -> StrategyInfo | None:
    """The registered strategy a run names: by name or alias, else by strategy path
    (``name_or_path`` itself, then ``strategy_path``); None if it is not registered."""
    key = _ALIASES.get(name_or_path, name_or_path)
    if key in _REGISTRY:
        return _REGISTRY[key]
    return find_by_path(name_or_path) or (find_by_path(strategy_path) if strategy_path else None)


# -- parameters ---------------------------------------------------------------------------


def config_parameters(config_cls: type) -> list[Parameter]:
    """Parameters of an imported Nautilus strategy config class: its fields other than the
    wiring and Nautilus ones, the class's own first, then inherited ones."""
    import msgspec
    from nautilus_trader.config import StrategyConfig

    base_fields = {f.name for f in msgspec.structs.fields(StrategyConfig)}
    bounds = getattr(config_cls, "bounds", {})
    import inspect

    mro = [c for c in config_cls.__mro__ if inspect.get_annotations(c)]
    docs: dict[str, str] = {}
    for cls in reversed(mro):
        docs.update(_numpydoc_params(cls.__doc__ or ""))
    params = []
    for f in msgspec.structs.fields(config_cls):
        if f.name in base_fields or f.name in WIRING_FIELDS:
            continue
        owner = next(i for i, c in enumerate(mro) if f.name in inspect.get_annotations(c))
        default = None if f.default is msgspec.NODEFAULT else f.default
        type_name = getattr(f.type, "__name__", str(f.type))
        params.append((owner, _parameter(f.name, type_name, default, bounds.get(f.name), docs)))
    return [param for _, param in sorted(params, key=lambda pair: pair[0])]


def static_parameters(config_path: str) -> list[Parameter]:
    """Parameters of the config class at ``config_path``, read from its source (no imports).

    Raises ``_Unreadable`` when the class uses constructs this reader does not follow; callers
    then import the class and use :func:`config_parameters`.
    """
    module, _, name = config_path.partition(":")
    fields, bounds, docs = _static_class(module, name)
    by_owner = sorted(fields.values(), key=lambda item: item[0])
    return [
        _parameter(fname, type_name, default, bounds.get(fname), docs)
        for _, fname, type_name, default in by_owner
        if fname not in WIRING_FIELDS
    ]


def _parameter(
    name: str, type_name: str, default: Any, allowed: Range | None, docs: dict[str, str]
) -> Parameter:
    return Parameter(
        name=name,
        type=type_name,
        default=default,
        bounds=allowed.describe() if allowed else "any",
        low=getattr(allowed, "low", None),
        high=getattr(allowed, "high", None),
        help=docs.get(name, ""),
    )


class _Unreadable(Exception):
    """The config class's source cannot be read statically."""


def _static_class(module: str, name: str, depth: int = 0):
    """({field: (depth, name, type, default)}, bounds, docs) for class ``name`` in ``module``.

    ``depth`` orders fields: the asked-for class is 0, its bases count upwards.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise _Unreadable(module) from exc
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise _Unreadable(module)
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    node = next(
        (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name),
        None,
    )
    if node is None:
        raise _Unreadable(f"{module}:{name}")
    fields: dict[str, tuple[int, str, str, Any]] = {}
    bounds: dict[str, Range] = {}
    docs: dict[str, str] = {}
    inherited: dict[str, dict[str, Range]] = {}
    for base in node.bases:
        if not isinstance(base, ast.Name):
            raise _Unreadable(ast.unparse(base))
        if base.id in _NAUTILUS_BASES:
            continue
        base_module = _defining_module(tree, base.id, module)
        base_fields, base_bounds, base_docs = _static_class(base_module, base.id, depth + 1)
        fields.update(base_fields)
        docs.update(base_docs)
        inherited[base.id] = base_bounds
    docs.update(_numpydoc_params(ast.get_docstring(node) or ""))
    for stmt in node.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        fname, annotation = stmt.target.id, ast.unparse(stmt.annotation)
        if annotation.startswith("ClassVar"):
            if fname == "bounds" and stmt.value is not None:
                bounds = _static_bounds(stmt.value, inherited)
            continue
        default = None if stmt.value is None else _literal(stmt.value)
        fields[fname] = (depth, fname, annotation, default)
    return fields, bounds, docs


def _defining_module(tree: ast.Module, name: str, module: str) -> str:
    if any(isinstance(n, ast.ClassDef) and n.name == name for n in tree.body):
        return module
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.ImportFrom)
            and stmt.module
            and stmt.level == 0
            and any((alias.asname or alias.name) == name == alias.name for alias in stmt.names)
        ):
            return stmt.module
    raise _Unreadable(name)


def _static_bounds(node: ast.expr, inherited: dict[str, dict[str, Range]]) -> dict[str, Range]:
    if not isinstance(node, ast.Dict):
        raise _Unreadable("bounds")
    bounds: dict[str, Range] = {}
    for key, value in zip(node.keys, node.values, strict=True):
        if key is None:  # **Base.bounds
            if not (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name)):
                raise _Unreadable("bounds")
            if value.value.id not in inherited:
                raise _Unreadable(value.value.id)
            bounds.update(inherited[value.value.id])
            continue
        is_range = (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "Range"
        )
        if not is_range or value.args:
            raise _Unreadable("bounds")
        kwargs = {kw.arg: _literal(kw.value) for kw in value.keywords}
        bounds[_literal(key)] = Range(**kwargs)
    return bounds


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError as exc:
        raise _Unreadable(ast.unparse(node)) from exc


def _numpydoc_params(doc: str) -> dict[str, str]:
    """``name : type`` entries of a numpydoc Parameters section -> the first line of each."""
    found: dict[str, str] = {}
    lines = [line.rstrip() for line in doc.splitlines()]
    for i, line in enumerate(lines):
        match = re.match(r"^\s*(\w+) : .+$", line)
        if match and i + 1 < len(lines) and lines[i + 1].strip():
            found[match.group(1)] = lines[i + 1].strip()
    return found


# -- configs ------------------------------------------------------------------------------


def config_class(config_path: str) -> type:
    """Import the Nautilus config class at ``config_path`` (``module:Class``)."""
    from nautilus_trader.common.config import resolve_config_path

    check_path_form(config_path, "config_path")
    try:
        return resolve_config_path(config_path)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot import config class '{config_path}': {_why(exc)}") from exc


def strategy_class(strategy_path: str) -> type:
    """Import the Nautilus strategy class at ``strategy_path`` (``module:Class``)."""
    from nautilus_trader.common.config import resolve_path
    from nautilus_trader.trading.strategy import Strategy

    check_path_form(strategy_path, "strategy_path")
    try:
        cls = resolve_path(strategy_path)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"cannot import strategy '{strategy_path}': {_why(exc)}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(f"'{strategy_path}' is not a Nautilus Strategy subclass")
    return cls


def check_path_form(path: str, what: str) -> None:
    """Raise :class:`ConfigError` unless ``path`` looks like ``module:Class``."""
    if not isinstance(path, str) or not re.fullmatch(r"[\w.]+:\w+", path):
        raise ConfigError(
            f"{what} must be module:Class, e.g. research_lib.strategies.sma_crossover:"
            f"{'SMAConfig' if what == 'config_path' else 'SMACrossover'}, was {path!r}"
        )


def _why(exc: Exception) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return f"{exc} (is its folder on PYTHONPATH?)"
    return str(exc)


def build_config(config_path: str, values: dict[str, Any]) -> Any:
    """Decode ``values`` into the config class at ``config_path``, as Nautilus does.

    Raises :class:`ConfigError` naming each bad field (:class:`ConfigProblems` for values the
    class's own ``problems()`` rejects).
    """
    import msgspec
    from nautilus_trader.common.config import msgspec_encoding_hook

    config_cls = config_class(config_path)
    unknown = _unknown_fields(config_cls, values)
    if unknown:
        raise ConfigError("; ".join(f"{key}: {reason}" for key, reason in unknown))
    try:
        return config_cls.parse(msgspec.json.encode(values, enc_hook=msgspec_encoding_hook))
    except msgspec.ValidationError as exc:
        raise ConfigError(_msgspec_message(str(exc))) from exc
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc)) from exc


def config_problems(
    config_path: str, values: dict[str, Any], defaults: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """Every problem with ``values`` for the config class at ``config_path``, as (field, reason).

    Unknown fields (with a did-you-mean), values of the wrong type, missing required fields,
    then the class's own ``problems()`` (so the rules live only in the class). ``defaults``
    fill fields the class has but ``values`` lacks (the runner's wiring: instrument, bar type).
    """
    import msgspec
    from nautilus_trader.common.config import msgspec_decoding_hook, msgspec_encoding_hook

    config_cls = config_class(config_path)
    fields = {f.name: f for f in msgspec.structs.fields(config_cls)}
    found = _unknown_fields(config_cls, values)
    good = {key: value for key, value in (defaults or {}).items() if key in fields}
    for key, value in values.items():
        if key not in fields:
            continue
        try:
            raw = msgspec.json.encode(value, enc_hook=msgspec_encoding_hook)
            msgspec.json.decode(raw, type=fields[key].type, dec_hook=msgspec_decoding_hook)
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            found.append((key, f"{_msgspec_message(str(exc))}, was {value!r}"))
            continue
        good[key] = value
    for name, f in fields.items():
        if f.required and name not in values and name not in good:
            found.append((name, f"required, missing ({f.type.__name__})"))
    try:
        build_config(config_path, good)
    except ConfigProblems as exc:
        found += exc.problems
    except ConfigError as exc:
        if not found:  # pragma: no cover - every decode failure is caught per field above
            found.append(("", str(exc)))
    return found


def _unknown_fields(config_cls: type, values: dict[str, Any]) -> list[tuple[str, str]]:
    import msgspec
    from nautilus_trader.config import StrategyConfig

    known = [f.name for f in msgspec.structs.fields(config_cls)]
    nautilus = {f.name for f in msgspec.structs.fields(StrategyConfig)}
    listed = [name for name in known if name not in nautilus] or known
    return [
        (
            key,
            f"unknown parameter of {config_cls.__name__};"
            f"{did_you_mean(str(key), known)} parameters: {', '.join(listed)}",
        )
        for key in values
        if key not in known
    ]


def create(
    name_or_path: str,
    params: dict[str, Any],
    config_path: str | None = None,
) -> Any:
    """Build a configured strategy from a registered name (or a ``module:Class`` path plus
    ``config_path``) and its config values, through Nautilus's ``StrategyFactory``."""
    from nautilus_trader.config import ImportableStrategyConfig
    from nautilus_trader.trading.config import StrategyFactory

    strategy_path, config_path = resolve_paths(name_or_path, config_path)
    build_config(config_path, params)  # clear errors before the factory sees the values
    importable = ImportableStrategyConfig(
        strategy_path=strategy_path,
        config_path=config_path,
        config=jsonable(params),
    )
    try:
        return StrategyFactory.create(importable)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import strategy '{strategy_path}': {_why(exc)}") from exc


def resolve_paths(name_or_path: str, config_path: str | None = None) -> tuple[str, str]:
    """(strategy_path, config_path) for a registered name or an explicit pair of paths."""
    if ":" in name_or_path:
        if config_path is None:
            info = find_by_path(name_or_path)
            if info is None:
                raise ConfigError(f"strategy '{name_or_path}' needs a config_path (module:Class)")
            config_path = info.config_path
        return name_or_path, config_path
    info = get(name_or_path)
    return info.strategy_path, config_path or info.config_path


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Config values as plain JSON types (Decimals become strings, ids their text)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, Decimal):
            out[key] = str(value)
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        else:
            out[key] = str(value)
    return out


def _msgspec_message(text: str) -> str:
    """``Expected `int`, got `str` - at `$.fast_period``` -> ``fast_period: expected int, got
    str``; other messages lower-cased, without backticks."""
    if " - at `$." in text:
        reason, where = text.split(" - at `$.", 1)
        return f"{where.rstrip('`')}: {reason.replace('`', '').lower()}"
    text = text.replace("`", "")
    return text[:1].lower() + text[1:]
