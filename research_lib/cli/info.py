"""``research-lib info``: where the catalog, results store and notebooks are, and why."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import click

from research_lib import settings
from research_lib.cli.app import cli, options

ORIGINS = {"argument": "--{kind}"}


@cli.command("info")
def info() -> None:
    """Show the project root, the catalog, results and notebooks locations, and versions.

    \b
    Each location is, in this order: the --catalog/--results option, its
    environment variable, under the project root (the nearest folder with a
    pyproject.toml, from the current directory up), or the current directory.
    """
    opts = options()
    root = settings.find_project_root()
    rows = [("project", str(root) if root else "none found (using the current directory)", "")]
    for kind, where in settings.describe(opts.catalog, opts.results).items():
        origin = ORIGINS.get(where.origin, where.origin).format(kind=kind)
        rows.append((kind, str(where.path), f"({origin})"))
    for package in ("research-lib", "nautilus_trader"):
        try:
            rows.append((package, version(package), ""))
        except PackageNotFoundError:  # pragma: no cover - both are installed with the project
            rows.append((package, "not installed", ""))
    width = max(len(name) for name, _, _ in rows)
    for name, value, why in rows:
        click.echo(f"{name:<{width}}  {value} {why}".rstrip())
