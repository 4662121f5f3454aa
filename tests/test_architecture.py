"""The house rules a newcomer relies on: layers point one way, modules stay small, importing
the package changes nothing in the process, and library imports sit at the top of modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "research_lib"
MAX_LINES = 500
# Commands import the library inside the command so that `--help` starts instantly.
LAZY_ALLOWED = ("cli",)
LAZY_MARK = "# heavy:"
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_layers_point_one_way():
    """import-linter's contracts in pyproject.toml (layers, and a plain model layer)."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(no_cache=True))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and "Contracts: 2 kept, 0 broken." in done.stdout


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by concern"


def lazy_imports(path: Path) -> list[tuple[int, str]]:
    """(line, text) of research_lib imports inside functions without a ``# heavy:`` reason."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom):
                names = [inner.module or ""]
            elif isinstance(inner, ast.Import):
                names = [alias.name for alias in inner.names]
            else:
                continue
            if any(name == "research_lib" or name.startswith("research_lib.") for name in names):
                text = lines[inner.lineno - 1]
                if LAZY_MARK not in text:
                    found.append((inner.lineno, text.strip()))
    return found


def test_library_imports_are_at_the_top_of_modules():
    """Only imports that pull in heavy packages (Nautilus, plotly...) wait inside functions,
    each with a ``# heavy: <reason>`` comment; command modules are exempt (start-up time)."""
    problems = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in MODULES
        if path.relative_to(PACKAGE).parts[0] not in LAZY_ALLOWED
        for line, text in lazy_imports(path)
    ]
    assert not problems, "\n".join(problems)


def test_the_contract_checker_sees_a_lazy_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n"
        "    from research_lib.store import ResultsStore\n"
        "    from research_lib.engine import runner  # heavy: Nautilus\n"
    )
    assert lazy_imports(module) == [(2, "from research_lib.store import ResultsStore")]


def test_importing_the_package_leaves_warnings_and_logging_alone():
    code = (  # third-party packages add filters of their own when imported: import them first
        "import logging, warnings, click, duckdb, numpy, pandas, pyarrow, pydantic, yaml; "
        "before = (list(warnings.filters), logging.root.level, "
        "len(logging.root.handlers)); import research_lib, research_lib.cli, "
        "research_lib.store, research_lib.data.catalog; "
        "after = (list(warnings.filters), logging.root.level, len(logging.root.handlers)); "
        "print(before == after)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
