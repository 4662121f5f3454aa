"""Notebooks as runs: where the project's folders are, and executing notebooks with papermill.

:func:`run_notebook` executes a notebook with parameters through papermill, in the current
environment's ``python3`` kernel, with the notebook's folder as working directory. It injects
``source="papermill"`` and ``notebook_path=<output notebook>`` (and absolute ``results`` and
``catalog`` paths) when the notebook declares those parameters, so the ``run_backtest`` call in
the notebook records where it ran. A notebook that fails in a cell keeps its output notebook, is
recorded as a failed run (unless the failing ``run_backtest`` call already recorded one), and
raises :class:`NotebookExecutionError` naming the cell and the error in one line.

Paths follow :mod:`research_lib.settings`, so notebooks find the project's catalog and
results store whether they run from the repo root, from ``notebooks/`` (Jupyter, nbmake) or
from papermill.
"""

from __future__ import annotations

import re
import time
import traceback as tb
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from research_lib.engine.runner import settings_from
from research_lib.errors import NotebookError, did_you_mean
from research_lib.model.run import RunRecord
from research_lib.settings import catalog_root, notebooks_dir, results_path
from research_lib.store import ResultsStore
from research_lib.workflows.record import record_failure

__all__ = [
    "NotebookExecutionError",
    "NotebookRun",
    "default_output",
    "notebook_parameters",
    "notebook_path",
    "run_notebook",
]

OUTPUT_DIR = "output"
PARAMETERISED = "03_parameterised_backtest.ipynb"
DEFAULT_KERNEL = "python3"
# Parameters run_notebook fills in when the notebook declares them and the caller did not.
RECORDING_PARAMETERS = ("source", "notebook_path", "results", "catalog")
# The kernel's own log (not cell output) at ERROR: no start-up notices on the terminal.
QUIET_KERNEL = ("--IPKernelApp.log_level=ERROR",)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# -- where things are ---------------------------------------------------------------------


def notebook_path(name: str = PARAMETERISED) -> Path:
    """A notebook of the project's notebooks folder
    (:func:`research_lib.settings.notebooks_dir`)."""
    return notebooks_dir() / name


def default_output(notebook: str | Path) -> Path:
    """``<notebooks folder>/output/<stem>-<UTC timestamp>.ipynb`` (gitignored)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return notebooks_dir() / OUTPUT_DIR / f"{Path(notebook).stem}-{stamp}.ipynb"


# -- executing ----------------------------------------------------------------------------


@dataclass
class NotebookRun:
    """One executed notebook: where it was written and the runs it recorded."""

    notebook: Path
    output: Path
    parameters: dict[str, Any]
    run_ids: list[str] = field(default_factory=list)
    results: Path | None = None
    duration_seconds: float = 0.0

    @property
    def run_id(self) -> str | None:
        """The last run the notebook recorded, if any."""
        return self.run_ids[-1] if self.run_ids else None


class NotebookExecutionError(NotebookError):
    """Raised by :func:`run_notebook` when a cell fails; the output notebook is kept.

    ``run_ids`` are the runs the execution recorded (the failed one included).
    """

    def __init__(self, message: str, output: Path, run_ids: list[str]) -> None:
        super().__init__(message)
        self.output = output
        self.run_ids = run_ids

    def __reduce__(self):  # picklable across processes (sweeps)
        return (type(self), (str(self), self.output, self.run_ids))


def notebook_parameters(path: str | Path) -> dict[str, Any]:
    """The parameters a notebook declares in its ``parameters`` cell, with their defaults."""
    import papermill

    path = _existing(path)
    try:
        found = papermill.inspect_notebook(str(path))
    except Exception as exc:  # nbformat/json errors: not a readable notebook
        raise NotebookError(f"cannot read notebook {path}: {_joined_lines(str(exc))}") from exc
    return {name: info.get("default") for name, info in found.items()}


def run_notebook(
    path: str | Path,
    parameters: dict[str, Any] | None = None,
    output: str | Path | None = None,
    *,
    results: Any = None,
    catalog: Any = None,
    kernel_name: str | None = None,
    progress: bool = False,
    timeout: float | None = None,
    record_as: str | Path | None = None,
) -> NotebookRun:
    """Execute the notebook at ``path`` with ``parameters`` through papermill.

    ``output`` defaults to :func:`default_output`. ``results``/``catalog`` (a store or
    catalog, or a path) default to ``parameters["results"/"catalog"]``, then to
    :func:`results_path`/:func:`catalog_root`. ``record_as`` is the notebook path the runs
    record (default ``output``; a sweep worker writes elsewhere and hands the notebook back).
    Parameter values must be text, numbers, booleans, None, lists or mappings of them; dates
    and times become ISO text and sets sorted lists. Returns the :class:`NotebookRun` with the
    ids of the runs the notebook recorded; raises :class:`NotebookExecutionError` when a cell
    fails.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillException, PapermillExecutionError

    path = _existing(path)
    output = Path(output) if output is not None else default_output(path)
    output = output.resolve()
    declared = notebook_parameters(path)
    params = {key: _plain(value, key) for key, value in (parameters or {}).items()}
    unknown = [key for key in params if declared and key not in declared]
    if unknown:
        raise NotebookError(
            f"{path.name} has no parameter '{unknown[0]}';{did_you_mean(unknown[0], declared)} "
            f"its parameters: {', '.join(declared)}"
        )
    store_path = results_path(results if results is not None else params.get("results"))
    store_path = store_path.resolve()
    recorded = str(record_as or output)
    filled = {
        "source": "papermill",
        "notebook_path": recorded,
        "results": str(store_path),
        "catalog": str(catalog_root(catalog).resolve()),
    }
    for key in RECORDING_PARAMETERS:
        if key in declared and params.get(key) is None:
            params[key] = filled[key]
    kernel = kernel_name or _kernel_of(nbformat.read(path, as_version=4))
    output.parent.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(path),
            str(output),
            parameters=params,
            kernel_name=kernel,
            cwd=str(path.parent),
            progress_bar=progress,
            log_output=False,
            execution_timeout=timeout,
            extra_arguments=list(QUIET_KERNEL),
        )
    except PapermillExecutionError as exc:
        raise _failed(path, output, recorded, params, store_path, started_at, exc) from None
    except PapermillException as exc:
        raise NotebookError(f"{path.name}: {_joined_lines(str(exc))}") from exc
    except Exception as exc:
        if type(exc).__name__ != "NoSuchKernel":
            raise
        raise NotebookError(
            f"{path.name}: no Jupyter kernel named '{kernel}'; pass kernel_name='python3' "
            "(the environment's own kernel)"
        ) from exc
    return NotebookRun(
        notebook=path,
        output=output,
        parameters=params,
        run_ids=_recorded_runs(store_path, recorded, started_at),
        results=store_path,
        duration_seconds=time.perf_counter() - started,
    )


def _failed(
    path: Path,
    output: Path,
    recorded: str,
    params: dict[str, Any],
    store_path: Path,
    started_at: datetime,
    exc: Any,
) -> NotebookExecutionError:
    """Record the failed execution (unless the notebook already did) and build the error."""
    run_ids = _recorded_runs(store_path, recorded, started_at)
    failed = _recorded_runs(store_path, recorded, started_at, status="failed")
    first_line = next((ln.strip() for ln in (exc.source or "").splitlines() if ln.strip()), "")
    error = f"{exc.ename}: {_joined_lines(str(exc.evalue))}"
    where = f"cell [{exc.exec_count}]" if exc.exec_count else f"cell {exc.cell_index}"
    if not failed:
        trace = _ANSI.sub("", "\n".join(exc.traceback or []))
        record = RunRecord.failed(
            f"{error} (in {where} of {path.name})",
            trace or tb.format_exc(),
            strategy=params.get("strategy"),
            config=params.get("params") if isinstance(params.get("params"), dict) else {},
            settings=settings_from(params),
            source=params.get("source") or "papermill",
            tags=params.get("tags") or [],
            sweep_id=params.get("sweep_id"),
            notebook_path=recorded,
            duration_seconds=(datetime.now(UTC) - started_at).total_seconds(),
        )
        record_failure(store_path, record)
        run_ids.append(record.id)
        failed = [record.id]
    message = (
        f"{path.name} failed in {where} `{_clip(first_line)}`: {error} "
        f"(run {failed[-1][:8]} recorded as failed; output kept in {output})"
    )
    return NotebookExecutionError(message, output, run_ids)


def _recorded_runs(
    store_path: Path, output: str, since: datetime, status: str | None = None
) -> list[str]:
    """Ids of the runs (of ``status``, if given) stored since ``since`` whose notebook path is
    ``output``, oldest first: one query."""
    recent = ResultsStore(store_path).list(
        since=since.replace(microsecond=0),
        notebook_path=str(output),
        status=status,
        order_by="created_at",
        limit=None,
    )
    return list(reversed(recent["id"].tolist()))


def _kernel_of(notebook: Any) -> str:
    return notebook.metadata.get("kernelspec", {}).get("name") or DEFAULT_KERNEL


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        hint = ""
        folder = path.parent if path.parent.is_dir() else None
        if folder is not None:
            hint = did_you_mean(path.name, [p.name for p in folder.glob("*.ipynb")])
        raise NotebookError(f"no notebook at {path};{hint}".rstrip(";"))
    return path.resolve()


def _plain(value: Any, name: str) -> Any:
    """A parameter value papermill can write as a Python literal and as notebook JSON: paths
    and dates become text, tuples lists, sets sorted lists; anything else is refused."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (Path, date)):  # datetime is a date
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, (set, frozenset)):
        items = [_plain(item, name) for item in value]
        try:
            return sorted(items)
        except TypeError:  # mixed kinds: a stable order all the same
            return sorted(items, key=repr)
    if isinstance(value, (list, tuple)):
        return [_plain(item, name) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item, name) for key, item in value.items()}
    raise NotebookError(
        f"parameter '{name}': a {type(value).__name__} cannot be passed to a notebook; "
        "give text, a number, true/false, a list or a mapping"
    )


def _joined_lines(text: str) -> str:
    """Every non-empty line of ``text``, joined with `` / `` (a cell error on one line)."""
    return " / ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
