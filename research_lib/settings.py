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
"""

from __future__ import annotations

import os
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
