"""Export a stored run's trades and equity curve to CSV or JSON files."""

from __future__ import annotations

import json
from pathlib import Path

from research_lib.errors import ResultsError, did_you_mean
from research_lib.store import ResultsStore
from research_lib.store.records import json_safe

__all__ = ["FORMATS", "export_run"]

FORMATS = ("csv", "json")


def export_run(
    store: ResultsStore, run_id: str, fmt: str = "json", output: str | Path | None = None
) -> list[Path]:
    """Write a run's trades and stored equity curve; returns the files written.

    ``json``: one file ``output`` with ``run``, ``trades`` and ``equity``. ``csv``: two files,
    ``<output>_trades.csv`` and ``<output>_equity.csv`` (a ``.csv`` suffix on ``output`` is
    dropped first). ``output`` defaults to ``run-<id8>`` (``run-<id8>.json``) in the cwd.
    """
    if fmt not in FORMATS:
        raise ResultsError(
            f"unknown export format '{fmt}':{did_you_mean(fmt, FORMATS)} use csv or json"
        )
    run = store.get(run_id)
    default = f"run-{run.id[:8]}" + (".json" if fmt == "json" else "")
    output = Path(output if output is not None else default)
    output.parent.mkdir(parents=True, exist_ok=True)
    equity = run.equity.rename("equity").reset_index()
    if fmt == "csv":
        stem = output.with_suffix("") if output.suffix.lower() == ".csv" else output
        files = [Path(f"{stem}_trades.csv"), Path(f"{stem}_equity.csv")]
        run.trades.to_csv(files[0], index=False)
        equity.to_csv(files[1], index=False)
        return files
    document = {
        "run": json_safe(run.run),
        "trades": json_safe(run.trades.to_dict(orient="records")),
        "equity": json_safe(equity.to_dict(orient="records")),
    }
    output.write_text(json.dumps(document, indent=1))
    return [output]
