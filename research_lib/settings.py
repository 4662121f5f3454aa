"""Where the project's data catalog, results store and notebooks are: one rule for everyone.

The CLI, the notebooks, the panel, sweeps, the store and the catalog all find their folders
here, so a command run from ``notebooks/`` sees the same catalog as one run from the project
root. Each location is resolved in this order:

1. an explicit argument (``--catalog PATH``, ``Catalog(PATH)``, ``results=PATH``);
2. its environment variable (:data:`ENV_VARS`);
3. the project root: the nearest folder holding ``pyproject.toml``, from the current
   directory upwards;
4. the current directory.

``research-lib info`` prints what this gives and why.

Trusted code (:func:`untrusted`): the modules of the standard library, of this environment's
site-packages and of the folders its ``.pth`` files add (an editable install: the project).
``research-lib strategy validate`` imports no other module unless asked (``--import``).
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_MARKER = "pyproject.toml"
# What each location is called under the project root (or the current directory).
DEFAULT_NAMES = {
    "catalog": Path("parquet_catalog"),
    "results": Path("results") / "results.duckdb",
    "notebooks": Path("notebooks"),
}
ENV_VARS = {
    "catalog": "RESEARCH_LIB_CATALOG",
    "results": "RESEARCH_LIB_RESULTS",
    "notebooks": "RESEARCH_LIB_NOTEBOOKS",
    "scheduler": "RESEARCH_LIB_SCHEDULER",
}


@dataclass(frozen=True)
class Location:
    """A resolved path and where it came from (``argument``, ``$VAR``, ``project root`` or
    ``current directory``)."""

    path: Path
    origin: str


def find_project_root(start: str | Path | None = None) -> Path | None:
    """The nearest folder holding ``pyproject.toml``, from ``start`` (the cwd) upwards."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    return None


def project_root(start: str | Path | None = None) -> Path:
    """The project root (see :func:`find_project_root`), else the current directory."""
    return find_project_root(start) or Path(start or Path.cwd()).resolve()


def path_of(value: Any) -> str | Path | None:
    """A path given as a path, text, None, or an object with ``.path`` (a results store) or
    ``.root`` (a catalog)."""
    if value is None or isinstance(value, (str, Path)):
        return value
    found = getattr(value, "path", getattr(value, "root", None))
    if found is None:
        raise TypeError(f"expected a path, was {type(value).__name__}")
    return found


def locate(kind: str, explicit: Any = None) -> Location:
    """Where the ``kind`` (``catalog``, ``results`` or ``notebooks``) location is, and why."""
    if kind not in DEFAULT_NAMES:
        raise ValueError(f"unknown location {kind!r}: one of {', '.join(DEFAULT_NAMES)}")
    given = path_of(explicit)
    if given is not None and str(given) != "":
        return Location(Path(given), "argument")
    env = os.environ.get(ENV_VARS[kind])
    if env:
        return Location(Path(env), f"${ENV_VARS[kind]}")
    root = find_project_root()
    if root is not None:
        return Location(root / DEFAULT_NAMES[kind], "project root")
    return Location(Path.cwd() / DEFAULT_NAMES[kind], "current directory")


def catalog_root(explicit: Any = None) -> Path:
    """The data catalog folder (see the module docstring for the order)."""
    return locate("catalog", explicit).path


def results_path(explicit: Any = None) -> Path:
    """The results store file (see the module docstring for the order)."""
    return locate("results", explicit).path


def notebooks_dir(explicit: Any = None) -> Path:
    """The project's notebooks folder (see the module docstring for the order)."""
    return locate("notebooks", explicit).path


def describe(catalog: Any = None, results: Any = None) -> dict[str, Location]:
    """Every location, as :func:`locate` resolves it (for ``research-lib info``)."""
    return {
        "catalog": locate("catalog", catalog),
        "results": locate("results", results),
        "notebooks": locate("notebooks"),
    }


# -- trusted code: which modules a check may import ---------------------------------------


def trusted_roots() -> list[Path]:
    """Folders whose modules are trusted: the standard library, this environment's
    site-packages and the folders its ``.pth`` files add (editable installs: the project)."""
    paths = sysconfig.get_paths()
    roots = {Path(paths[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.add(Path(__file__).resolve().parent)  # research_lib itself
    for site in {Path(paths["purelib"]), Path(paths["platlib"])}:
        for pth in site.glob("*.pth") if site.is_dir() else ():
            for line in pth.read_text(encoding="utf-8", errors="replace").splitlines():
                entry = line.strip()
                if entry and not entry.startswith(("#", "import ", "import\t")):
                    roots.add((site / entry).resolve() if not Path(entry).is_absolute() else
                              Path(entry).resolve())  # fmt: skip
    return sorted(root.resolve() for root in roots)


def module_origin(module: str) -> Path | None:
    """The file (or package folder) ``module`` would be imported from, found without
    executing anything (no parent package is imported); None when it is not found."""
    parts = module.split(".")
    loaded = sys.modules.get(parts[0])
    spec = getattr(loaded, "__spec__", None) if loaded is not None else None
    if spec is None:
        spec = importlib.machinery.PathFinder.find_spec(parts[0])
    if spec is None:
        return None
    if spec.origin and spec.origin not in ("built-in", "frozen") and len(parts) == 1:
        return Path(spec.origin)
    search = [Path(p) for p in spec.submodule_search_locations or []]
    origin = Path(spec.origin) if spec.origin not in (None, "built-in", "frozen") else None
    if origin is None and search:
        origin = search[0]
    for part in parts[1:]:  # the file system, folder by folder: nothing is imported
        found = _find_in(search, part)
        if found is None:
            return None
        origin, search = found
    return origin


def _find_in(folders: list[Path], part: str) -> tuple[Path, list[Path]] | None:
    """``part`` in one of ``folders``: (its file or package folder, folders to search next)."""
    suffixes = importlib.machinery.all_suffixes()
    namespace: list[Path] = []
    for folder in folders:
        package = folder / part
        if (package / "__init__.py").is_file():
            return package / "__init__.py", [package]
        for suffix in suffixes:
            if (folder / f"{part}{suffix}").is_file():
                return folder / f"{part}{suffix}", []
        if package.is_dir():
            namespace.append(package)
    return (namespace[0], namespace) if namespace else None


def untrusted(path: str) -> str | None:
    """Why importing the module of ``path`` (``module:Class``) would run code from outside
    the installed packages and the project, or None when it would not (already imported,
    built in, under :func:`trusted_roots`, or not found at all: the import then fails)."""
    module = path.partition(":")[0]
    if module in sys.modules:
        return None
    try:
        origin = module_origin(module)
    except (ImportError, ValueError, OSError):
        return None
    if origin is None:
        return None
    resolved = origin.resolve()
    if any(resolved.is_relative_to(root) for root in trusted_roots()):
        return None
    return f"module {module} ({origin}) is outside the installed packages and the project"


def defines_class(path: str) -> str | None:
    """Why the source of ``path``'s module (found without importing it) does not define
    its class at the top level, or None when it does."""
    module, _, name = path.partition(":")
    origin = module_origin(module)
    if origin is None:
        return f"no module named '{module}' (is its folder on PYTHONPATH?)"
    file = origin / "__init__.py" if origin.is_dir() else origin
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError) as exc:
        return f"cannot read {file}: {exc}"
    names = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    names |= {
        alias.asname or alias.name.rpartition(".")[2]
        for n in tree.body
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for alias in n.names
    }
    return None if name in names else f"{file} defines no class {name}"
