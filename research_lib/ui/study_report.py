"""A self-contained HTML report of a study: one file that opens offline.

:func:`study_report_html` lays out a :class:`~research_lib.workflows.study.StudyResult`: what
was studied (strategy, validation scheme, search, trials, data span, study id and status),
the readings (out of sample, degradation, deflated Sharpe, PBO) in plain sentences, the folds
table, and the figures of :mod:`research_lib.ui.plots.study`. The page is that of the run
reports (:mod:`research_lib.ui.report`: plotly.js embedded once, every value escaped);
:func:`write_study_report` writes it atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from research_lib.files import write_atomic
from research_lib.model.metrics import format_metric
from research_lib.ui.plots.study import fold_timeline, is_vs_oos, oos_equity, parameter_stability
from research_lib.ui.report import _e, _Page, html_table

__all__ = ["scheme_text", "study_report_html", "write_study_report"]

READINGS_NOTE = (
    "Out of sample: the test windows' runs chained into one curve. Degradation: the chosen "
    "point's metric on its train window against its test window. Deflated Sharpe: the chance "
    "that the best Sharpe of all the points tried reflects skill rather than the luck of "
    "trying many. PBO: how often the in-sample best ranks in the bottom half out of sample."
)


def scheme_text(spec: dict[str, Any]) -> str:
    """The validation scheme: ``walk-forward train=6M,test=2M`` or the split's windows."""
    if spec.get("walk_forward"):
        return f"walk-forward {spec['walk_forward']}"
    return f"split: train {spec.get('train')}, test {spec.get('test')}"


def _search_text(spec: dict[str, Any], summary: dict[str, Any]) -> str:
    search = spec.get("search") or "grid"
    asked = f", {spec['trials']} trials per fold" if spec.get("trials") else ""
    tried = summary.get("trials")
    return search + asked + (f" ({tried} distinct points tried)" if tried else "")


def _span_text(spec: dict[str, Any], folds: list[dict[str, Any]]) -> str:
    source = spec.get("data") or "catalog"
    if folds:
        start, end = folds[0]["train_start"][:10], max(f["test_end"] for f in folds)[:10]
    else:
        start, end = spec.get("start") or "—", spec.get("end") or "—"
    symbol = f" {spec['symbol']}" if spec.get("symbol") else ""
    bars = f" {spec['bar_spec']}" if spec.get("bar_spec") else ""
    return f"{source}{symbol}{bars} bars, {start}..{end}"


def _cell(column: str, value: Any, metric: str) -> Any:
    """A folds-table value as text: metrics in their format, the rest as they are."""
    if column in (f"is_{metric}", f"oos_{metric}"):
        return format_metric(metric, value)
    if column == "oos_return":
        return format_metric("total_return", value)
    return value


def _folds_section(page: _Page, result: Any) -> None:
    page.heading("Folds")
    table: pd.DataFrame = result.folds_table
    if table.empty:
        page.note("No fold finished.")
        return
    metric = result.spec.get("metric") or "sharpe"
    columns = [str(c) for c in table.columns]
    rows = [
        [_cell(c, v, metric) for c, v in zip(columns, row, strict=True)]
        for row in table.itertuples(index=False)
    ]
    numeric = [i for i, c in enumerate(columns) if c not in ("train", "test", "oos_run")]
    page.add("<style>.research-lib-folds td{white-space:nowrap}</style>")
    page.add(html_table(rows, columns, numeric=numeric, css_class="research-lib-folds"))
    partial = [str(f["number"]) for f in result.folds if f.get("partial")]
    if partial:
        page.note(f"Partial fold{'s' if len(partial) > 1 else ''} {', '.join(partial)}: "
                  "the test window was cut at the data's end.")  # fmt: skip


def study_report_html(result: Any) -> str:
    """The page of a study (see the module doc)."""
    spec, summary = result.spec or {}, result.summary or {}
    strategy = (spec.get("run_config") or {}).get("strategy_name") or "study"
    page = _Page()
    page.title = f"Study of {strategy}: {result.study_id[:8]}"
    page.add(f"<h1>Study of {_e(strategy)}</h1>")
    page.add(
        f'<p class="meta">Scheme: {_e(scheme_text(spec))} · Search: '
        f"{_e(_search_text(spec, summary))} · Metric: {_e(spec.get('metric'))} · "
        f"Data: {_e(_span_text(spec, result.folds))} · Study <code>{_e(result.study_id)}"
        f"</code> · status {_e(result.status)}</p>"
    )
    page.heading("Readings")
    if summary.get("error"):
        page.add(f"<pre>{_e(summary['error'])}</pre>")
    readings = result.readings
    if readings:
        page.add('<ul class="readings">' + "".join(f"<li>{_e(r)}</li>" for r in readings)
                 + "</ul>")  # fmt: skip
        page.note(READINGS_NOTE)
    else:
        page.note(f"No readings yet: the study is {result.status}.")
    _folds_section(page, result)
    figures = (
        ("Train and test windows", fold_timeline, "study-timeline"),
        ("Out-of-sample equity", oos_equity, "study-oos-equity"),
        ("In sample vs out of sample", is_vs_oos, "study-is-vs-oos"),
        ("Parameter stability", parameter_stability, "study-parameters"),
    )
    for heading, build, div_id in figures:
        page.heading(heading)
        page.figure(build(result), div_id)
    return page.render()


def write_study_report(result: Any, path: str | Path) -> Path:
    """Write :func:`study_report_html` of ``result`` to ``path`` atomically; returns it."""
    return write_atomic(path, study_report_html(result))
