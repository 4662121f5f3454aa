"""The workbench as one page: run a backtest, browse and compare stored runs, open a sweep.

``Dashboard(catalog, results).display()`` shows three tabs:

- **Backtest**: the :class:`~research_lib.ui.widgets.BacktestPanel`; every run it makes is
  saved and appears under **Runs** at once.
- **Runs**: the stored runs, filtered by strategy, symbol, status and sweep, newest first;
  pick one or more and press **Compare** for their metrics side by side, the parameters that
  differ and their equity curves overlaid.
- **Sweeps**: a sweep's metric over two of its parameters as a heatmap (a bar per value
  when one varies). A screened sweep is drawn from its screened points, its points confirmed
  in Nautilus marked, and a line under the figure says how many of them agree.

``research-lib dashboard`` serves this page with Voilà (:mod:`research_lib.cli.dashboard`);
in a notebook, ``Dashboard().display()`` shows the same. Figures are drawn with
:func:`~research_lib.ui.widgets.show_figure`, so they redraw after a click in the browser.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd
from IPython.display import display

from research_lib.errors import ResearchError, one_line
from research_lib.model.metrics import format_metric
from research_lib.model.run import STATUSES
from research_lib.store import ResultsStore
from research_lib.ui.plots import equity_overlay_from_store, sweep_heatmap
from research_lib.ui.plots.runs import confirmed_points, is_screened, run_configs, sweep_bars
from research_lib.ui.report import html_table
from research_lib.ui.tables import comparison_rows, param_text
from research_lib.ui.widgets import (
    DESCRIPTION_WIDTH,
    ERROR_COLOR,
    BacktestPanel,
    placeholder_figure,
    show_figure,
)

__all__ = [
    "ALL",
    "Dashboard",
    "RunsBrowser",
    "SweepViewer",
    "agreement_note",
    "run_choice_label",
    "sweep_choice_label",
]

ALL = "(all)"
SWEEP_METRICS = ("sharpe", "total_return", "max_drawdown", "sortino", "profit_factor", "win_rate")
RUNS_SHOWN = 200
TABLE_STYLE = (  # the comparison table, in a page without the report's stylesheet
    "<style>.research-lib-comparison td,.research-lib-comparison th"
    "{padding:.15em 1em .15em 0;text-align:left}</style>"
)


def run_choice_label(row: pd.Series) -> str:
    """How a stored run is listed: id prefix, strategy, symbol, parameters, Sharpe, return;
    then its engine where that is not plain Nautilus (``[vector]``, a screened point, or
    ``[nautilus, confirms 1a2b3c4d]``, a confirmation of one) and a status not completed."""
    sharpe = format_metric("sharpe", row.get("sharpe"))
    total = format_metric("total_return", row.get("total_return"))
    twin = row.get("twin_id")
    engine = row.get("engine")
    if isinstance(twin, str) and twin:
        engine = f"  [{engine or 'nautilus'}, confirms {twin[:8]}]"
    else:
        engine = f"  [{engine}]" if isinstance(engine, str) and engine != "nautilus" else ""
    return (
        f"{str(row['id'])[:8]}  {row.get('strategy')}  {row.get('symbol')}  "
        f"{param_text(row.get('config_values'), skip=('sizing',))}  Sharpe {sharpe}  return {total}"
        + engine
        + ("" if row.get("status") == "completed" else f"  [{row.get('status')}]")
    )


def sweep_choice_label(row: pd.Series, screened: tuple[int, int] | None = None) -> str:
    """How a sweep is listed: id prefix, its runs (a screened sweep: its screened points and
    how many were confirmed in Nautilus) and when its newest run was made."""
    when = f"{row['created_at']:%Y-%m-%d %H:%M}"
    if screened is None:
        return f"{str(row['sweep_id'])[:8]}  {row['runs']} runs  {when}"
    points, confirmed = screened
    return f"{str(row['sweep_id'])[:8]}  screened  {points} points, {confirmed} confirmed  {when}"


def agreement_note(points: pd.DataFrame, params: list[str]) -> tuple[str, bool]:
    """One line on a screened sweep's confirmed points (:func:`confirmed_points`): how many
    agree with Nautilus, naming those that differ, failed or were not compared; and whether
    all agree. Empty when no point was confirmed."""
    if points.empty:
        return "", True
    agree = int((points["outcome"] == "agrees").sum())
    text = f"{agree} of {len(points)} confirmed points agree with Nautilus"
    others = []
    for _, row in points[points["outcome"] != "agrees"].iterrows():
        where = " ".join(f"{name}={row[name]}" for name in params)
        why = f": {row['detail']}" if row["detail"] else ""
        others.append(f"{where} (run {row['id'][:8]}) {row['outcome']}{why}")
    return text + ("; " + "; ".join(others) if others else ""), not others


def _error_html(message: str) -> str:
    return f'<span style="color:{ERROR_COLOR}">{html.escape(message)}</span>'


class RunsBrowser:
    """Filter the stored runs, pick some, compare them (metrics, parameters, equity)."""

    def __init__(self, store: ResultsStore) -> None:
        self.store = store
        self.last_error: str | None = None
        self._loading = False
        self.strategy = w.Dropdown(options=[ALL], description="strategy", style=DESCRIPTION_WIDTH)
        self.symbol = w.Dropdown(options=[ALL], description="symbol", style=DESCRIPTION_WIDTH)
        self.status = w.Dropdown(
            options=[ALL, *STATUSES], value="completed", description="status",
            style=DESCRIPTION_WIDTH,
        )  # fmt: skip
        self.sweep = w.Dropdown(options=[ALL], description="sweep", style=DESCRIPTION_WIDTH)
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.runs = w.SelectMultiple(
            options=[], rows=12, description="runs", style=DESCRIPTION_WIDTH,
            layout=w.Layout(width="98%"),
        )  # fmt: skip
        self.compare_button = w.Button(description="Compare", button_style="primary")
        self.count = w.HTML()
        self.error = w.HTML()
        self.comparison = w.HTML()
        self.equity_view = w.Output()
        show_figure(self.equity_view, placeholder_figure("pick runs and press Compare"))
        for control in (self.strategy, self.symbol, self.status, self.sweep):
            control.observe(lambda _: self.refresh(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh(reload_choices=True))
        self.compare_button.on_click(lambda _: self.compare())
        self.widget = w.VBox(
            [
                w.HBox([self.strategy, self.symbol]),
                w.HBox([self.status, self.sweep, self.refresh_button]),
                self.count,
                self.runs,
                w.HBox([self.compare_button]),
                self.error,
                self.comparison,
                self.equity_view,
            ]
        )
        self.refresh(reload_choices=True)

    def _choice(self, control: w.Dropdown) -> str | None:
        return None if control.value in (ALL, None) else str(control.value)

    def _reload_choices(self) -> None:
        runs = self.store.list(limit=None)
        sweeps = self.store.sweeps()
        for control, values in (
            (self.strategy, sorted({str(v) for v in runs["strategy"].dropna()})),
            (self.symbol, sorted({str(v) for v in runs["symbol"].dropna()})),
            (self.sweep, [str(v) for v in sweeps["sweep_id"].dropna()]),  # newest first
        ):
            options = [ALL, *values]
            keep = control.value if control.value in options else ALL
            control.options = options  # (the filters' observers wait: self._loading)
            control.value = keep

    def add_run(self, strategy: str, symbol: str) -> None:
        """A run was just stored: offer its strategy and symbol, and list it (cheaper than
        reading every run's choices again)."""
        self._loading = True
        try:
            for control, value in ((self.strategy, strategy), (self.symbol, symbol)):
                if value not in control.options:
                    keep = control.value
                    control.options = [ALL, *sorted({*control.options[1:], value})]
                    control.value = keep
        finally:
            self._loading = False
        self.refresh()

    def refresh(self, reload_choices: bool = False) -> pd.DataFrame:
        """List the runs the filters select (newest first, at most :data:`RUNS_SHOWN`)."""
        if self._loading:
            return pd.DataFrame()
        self.error.value = ""
        try:
            if reload_choices:
                self._loading = True
                try:
                    self._reload_choices()
                finally:
                    self._loading = False
            frame = self.store.list(
                strategy=self._choice(self.strategy),
                symbol=self._choice(self.symbol),
                status=self._choice(self.status),
                sweep_id=self._choice(self.sweep),
                limit=RUNS_SHOWN,
            )
        except ResearchError as exc:
            self._fail(one_line(exc))
            return pd.DataFrame()
        frame = frame.assign(config_values=run_configs(frame))
        selected = set(self.runs.value)
        self.runs.options = [(run_choice_label(row), row["id"]) for _, row in frame.iterrows()]
        self.runs.value = tuple(rid for rid in frame["id"] if rid in selected)
        shown = len(frame)
        self.count.value = html.escape(
            f"{shown} run{'s' if shown != 1 else ''}"
            + (f" (the newest {RUNS_SHOWN})" if shown == RUNS_SHOWN else "")
            + ": pick one or more (Ctrl/Shift-click) and press Compare"
        )
        return frame

    def compare(self) -> None:
        """Metrics side by side, the differing parameters and the equity of the picked runs."""
        self.error.value = ""
        self.last_error = None
        ids = list(self.runs.value)
        if not ids:
            self._fail("pick at least one run to compare")
            return
        try:
            comparison = self.store.compare(ids)
            figure = equity_overlay_from_store(self.store, ids)
        except ResearchError as exc:
            self._fail(one_line(exc))
            return
        labels = [str(c) for c in comparison.metrics.columns]
        rows = [[label, *cells] for label, cells in comparison_rows(comparison.metrics)]
        rows += [[str(name), *values] for name, values in comparison.config_diff.iterrows()]
        table = html_table(rows, ["", *labels], css_class="research-lib-comparison")
        self.comparison.value = TABLE_STYLE + table
        show_figure(self.equity_view, figure)

    def _fail(self, message: str) -> None:
        self.last_error = message
        self.error.value = _error_html(message)


class SweepViewer:
    """A sweep's metric over two of its parameters, as a heatmap (a bar per value when one
    varies); of a screened sweep, its confirmed points marked and how many agree."""

    def __init__(self, store: ResultsStore) -> None:
        self.store = store
        self.last_error: str | None = None
        self.last_figure: Any = None
        self._loading = False
        self.sweep = w.Dropdown(options=[], description="sweep", style=DESCRIPTION_WIDTH)
        self.metric = w.Dropdown(
            options=list(SWEEP_METRICS), value="sharpe", description="metric",
            style=DESCRIPTION_WIDTH,
        )  # fmt: skip
        self.x = w.Dropdown(options=[], description="x", style=DESCRIPTION_WIDTH)
        self.y = w.Dropdown(options=[], description="y", style=DESCRIPTION_WIDTH)
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.note = w.HTML()
        self.error = w.HTML()
        self.view = w.Output()
        self.agreement = w.HTML()  # a screened sweep: how many confirmed points agree
        show_figure(self.view, placeholder_figure("no sweep chosen"))
        self._runs = pd.DataFrame()
        self.sweep.observe(lambda _: self._sweep_changed(), names="value")
        for control in (self.metric, self.x, self.y):
            control.observe(lambda _: self.draw(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.widget = w.VBox(
            [
                w.HBox([self.sweep, self.refresh_button]),
                w.HBox([self.metric, self.x, self.y]),
                self.note,
                self.error,
                self.view,
                self.agreement,
            ]
        )
        self.refresh()

    def refresh(self) -> None:
        """Reload the list of sweeps (newest first)."""
        sweeps = self.store.sweeps()
        screened = self._screened_counts(sweeps) if len(sweeps) else {}
        options = [
            (sweep_choice_label(row, screened.get(str(row["sweep_id"]))), str(row["sweep_id"]))
            for _, row in sweeps.iterrows()
        ]
        keep = self.sweep.value if self.sweep.value in [v for _, v in options] else None
        self.sweep.options = options
        self.note.value = "" if options else "No sweeps stored yet: run `research-lib sweep`."
        self.sweep.value = keep or (options[0][1] if options else None)

    def _screened_counts(self, sweeps: pd.DataFrame) -> dict[str, tuple[int, int]]:
        """Per screened sweep: its screened points and how many Nautilus confirmed."""
        screened = sweeps[sweeps["screened"] > 0]
        return {
            str(row["sweep_id"]): (int(row["screened"]), int(row["confirmed"]))
            for _, row in screened.iterrows()
        }

    def _sweep_changed(self) -> None:
        self._runs = pd.DataFrame()
        self.agreement.value = ""
        if self.sweep.value is None:
            return
        runs = self.store.list(
            sweep_id=self.sweep.value, limit=None, extra_columns=("agreement",)
        )  # a confirmation that failed is marked too
        runs = runs[(runs["status"] == "completed") | runs["twin_id"].notna()]
        runs = runs.reset_index(drop=True)
        configs = run_configs(runs)
        varying = [
            key
            for key in dict.fromkeys(k for c in configs for k in c)
            if len({repr(c.get(key)) for c in configs}) > 1
        ]
        self._runs = runs
        self._loading = True  # one drawing, below, not one per control set
        try:
            self.x.options = varying
            self.y.options = varying
            self.x.value = varying[0] if varying else None
            self.y.value = varying[1] if len(varying) > 1 else (varying[0] if varying else None)
        finally:
            self._loading = False
        if is_screened(runs):
            text, agree = agreement_note(confirmed_points(runs, varying), varying)
            self.agreement.value = html.escape(text) if agree else _error_html(text)
        self.draw()

    def draw(self) -> None:
        """Draw the heatmap of the chosen sweep, metric and parameters."""
        if self._loading:
            return
        self.error.value = ""
        self.last_error = None
        if self._runs.empty or self.x.value is None:
            why = "no completed runs in this sweep" if self.sweep.value else "no sweep chosen"
            show_figure(self.view, placeholder_figure(why))
            return
        try:
            if self.x.value == self.y.value:  # one parameter varies: a bar per value
                figure = self._bars(self.x.value)
            else:
                figure = sweep_heatmap(
                    self._runs, self.x.value, self.y.value, self.metric.value,
                    title=f"Sweep {str(self.sweep.value)[:8]}: {self.metric.value} "
                    f"by {self.x.value}, {self.y.value}",
                )  # fmt: skip
        except (ResearchError, ValueError, KeyError) as exc:  # never break the page
            self.last_error = one_line(exc)
            self.error.value = _error_html(self.last_error)
            show_figure(self.view, placeholder_figure("no figure for this choice"))
            return
        self.last_figure = figure
        show_figure(self.view, figure)

    def _bars(self, name: str) -> Any:
        """The metric per value of the one parameter that varies, in its order."""
        return sweep_bars(
            self._runs, name, self.metric.value,
            title=f"Sweep {str(self.sweep.value)[:8]}: {self.metric.value} by {name}",
        )  # fmt: skip


class Dashboard:
    """The Backtest, Runs and Sweeps tabs on one page (see the module docstring)."""

    def __init__(self, catalog: Any = None, results: Any = None) -> None:
        self.results = results if isinstance(results, ResultsStore) else ResultsStore(results)
        self.backtest = BacktestPanel(catalog=catalog, results=self.results)
        self.runs = RunsBrowser(self.results)
        self.sweeps = SweepViewer(self.results)
        self.title = w.HTML(
            "<h2 style='margin:0.2em 0'>research_lib workbench</h2>"
            f"<div style='color:#666'>results: {html.escape(str(self.results.path))}"
            f" · catalog: {html.escape(str(self.backtest.catalog.root))}</div>"
        )
        self.tabs = w.Tab(children=[self.backtest.widget, self.runs.widget, self.sweeps.widget])
        self.tabs.titles = ("Backtest", "Runs", "Sweeps")
        self.backtest.run_button.on_click(lambda _: self._after_run())
        self.widget = w.VBox([self.title, self.tabs])

    def _after_run(self) -> None:
        # registered after the panel's own handler, so the new run is stored by now (a
        # single backtest adds no sweep)
        result = self.backtest.last_result
        if result is None or self.backtest.last_error is not None:  # stored as a failed run
            self.runs.refresh()
        else:
            self.runs.add_run(str(result.strategy), str(result.symbol))

    def display(self) -> None:
        """Show the dashboard in the notebook (or the Voilà page)."""
        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
