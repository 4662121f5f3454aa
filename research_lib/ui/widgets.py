"""An ipywidgets panel to run one backtest from a notebook and look at it.

``BacktestPanel(catalog, results).display()`` shows: a strategy dropdown; parameter controls
built from the registry's parameter specs (types, defaults, bounds), rebuilt when the strategy
changes; the data source (catalog or mock), symbol, bar spec and dates from the catalog (the
bar spec choices follow the symbol and the dates the bar spec); a Run button; a
status line with a progress bar while it runs; a one-line error in red; a metrics table and
the price and equity figures.

The panel owns its two figure areas (``price_view`` and ``equity_view``, ``Output`` widgets in
the panel from the start, showing a "press Run" placeholder) and replaces what they show on
every run (:func:`show_figure`), so the charts redraw wherever the panel is displayed, also
after a click in JupyterLab or Voilà when no cell is running. (plotly's ``FigureWidget`` would
need ``anywidget``, which this environment does not install.)

Runs go through :func:`research_lib.workflows.record.run_backtest` with ``source="notebook"``
and are saved to the results store like any other. The panel keeps ``last_result``,
``last_figures`` and ``last_error`` so notebooks and tests can use what it showed. The metrics
table's rows are :func:`research_lib.ui.tables.summary_rows`, the same the CLI prints.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from IPython.display import display

from research_lib.data.catalog import Catalog
from research_lib.errors import ResearchError, one_line
from research_lib.model.dates import when_text
from research_lib.model.defaults import DEFAULT_SYMBOL, DEFAULT_TRADE_SIZE, MOCK_END, MOCK_START
from research_lib.model.execution import SIZINGS
from research_lib.store import ResultsStore
from research_lib.strategies import registry
from research_lib.ui.plots import equity_figure, price_figure
from research_lib.ui.tables import summary_rows
from research_lib.workflows import record

if TYPE_CHECKING:
    from research_lib.model.params import Parameter
    from research_lib.model.run import BacktestResult

__all__ = [
    "BacktestPanel",
    "figure_bundle",
    "label_style",
    "metrics_table",
    "parameter_widget",
    "placeholder_figure",
    "show_figure",
]

ERROR_COLOR = "#c62828"
BIG = 1e15  # "no bound" for Bounded*Text widgets (whose own default max is 100)
DESCRIPTION_WIDTH = {"description_width": "140px"}
PLACEHOLDER_HEIGHT = 220
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def label_style(names: Any) -> dict[str, str]:
    """A description style wide enough for the longest of ``names`` (at least as wide as the
    panel's other labels), so that no parameter name is cut off."""
    longest = max((len(str(name)) for name in names), default=0)
    return {"description_width": f"max(140px, {longest + 2}ch)"}


def parameter_widget(param: Parameter, style: dict[str, str] | None = None) -> w.ValueWidget:
    """A control for one registry :class:`~research_lib.strategies.registry.Parameter`.

    ints: ``BoundedIntText`` when the parameter has a bound, else ``IntText``; floats and
    Decimals: ``BoundedFloatText`` (unbounded sides get +/-1e15). ``trade_size`` has no
    default in the config and gets the runner's (:data:`DEFAULT_TRADE_SIZE`). Open bounds
    (``> 0``) are left to the config's own check, whose message the panel shows. ``style``
    is the description style (default: wide enough for the parameter's name).
    """
    default = param.default
    if default is None and param.name == "trade_size":
        default = DEFAULT_TRADE_SIZE
    style = style or label_style([param.name])
    common = {"description": param.name, "style": style, "tooltip": param.help}
    if param.name == "sizing":
        return w.Dropdown(options=list(SIZINGS), value=default or SIZINGS[0], **common)
    if param.type == "str":
        return w.Text(value="" if default is None else str(default), **common)
    low = -BIG if param.low is None else param.low
    high = BIG if param.high is None else param.high
    if param.type == "int":
        value = int(default if default is not None else max(low, 0))
        if param.low is None and param.high is None:
            return w.IntText(value=value, **common)
        return w.BoundedIntText(value=value, min=int(low), max=int(min(high, 2**53)), **common)
    value = float(default if default is not None else max(low, 0.0))
    return w.BoundedFloatText(value=value, min=float(low), max=float(high), step=0.1, **common)


def _param_value(param: Parameter, value: Any) -> Any:
    """The control's value as the config expects it (ints stay ints; whole Decimals too)."""
    if param.type == "str" or param.name == "sizing":
        return str(value)
    if param.type == "int":
        return int(value)
    if param.type == "Decimal" and float(value).is_integer():
        return int(value)
    return float(value)


class BacktestPanel:
    """Pick a strategy, its parameters and data, run it, see metrics and figures.

    ``catalog``: a ``Catalog`` or its root; ``results``: a ``ResultsStore`` or its path (both
    default to :mod:`research_lib.settings`). When the catalog has no bars the panel
    starts on mock data and says so.
    """

    def __init__(self, catalog: Any = None, results: Any = None, strategy: str | None = None):
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        self.results = results if isinstance(results, ResultsStore) else ResultsStore(results)
        self.last_result: BacktestResult | None = None
        self.last_figures: list[Any] = []
        self.last_error: str | None = None
        self.last_exception: BaseException | None = None
        self.params: dict[str, w.ValueWidget] = {}
        self._specs: dict[str, Parameter] = {}
        self._catalog_problem: str | None = None

        names = registry.names()
        self.strategy = w.Dropdown(
            options=names,
            value=registry.get(strategy).name if strategy else names[0],
            description="strategy",
            style=DESCRIPTION_WIDTH,
        )
        self.description = w.HTML()
        self.params_box = w.VBox()
        self.source = w.ToggleButtons(options=["catalog", "mock"], description="data")
        self.symbol = w.Dropdown(options=[], description="symbol", style=DESCRIPTION_WIDTH)
        self.bar_spec = w.Dropdown(options=[], description="bar spec", style=DESCRIPTION_WIDTH)
        self.start = w.DatePicker(description="start", style=DESCRIPTION_WIDTH)
        self.end = w.DatePicker(description="end", style=DESCRIPTION_WIDTH)
        self.note = w.HTML()
        self.fill_timing = w.ToggleButtons(
            options=[("close", "close"), ("next open", "next_open")],
            description="fill at",
            tooltip="close: the signal bar's close; next open: the next bar's open",
        )
        self.commission_bps = w.BoundedFloatText(
            value=0.0, min=0.0, max=1000.0, step=0.5, description="commission bps",
            style=DESCRIPTION_WIDTH, tooltip="Commission per fill, basis points of notional",
        )  # fmt: skip
        self.slippage_ticks = w.BoundedIntText(
            value=0, min=0, max=1000, description="slippage ticks", style=DESCRIPTION_WIDTH,
            tooltip="Slippage per fill, whole ticks against the order",
        )  # fmt: skip
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.progress = w.IntProgress(
            value=0, min=0, max=1, bar_style="info", layout=w.Layout(width="160px", display="none")
        )
        self.status = w.HTML()
        self.error = w.HTML()
        self.metrics = w.HTML()
        self.price_view = w.Output()
        self.equity_view = w.Output()
        self._show_placeholders("press Run to see")

        self._symbols = self._load_symbols()
        symbols = list(dict.fromkeys(self._symbols["symbol"].astype(str)))
        self.symbol.options = symbols
        self.symbol.value = symbols[0] if symbols else None
        self._set_bar_specs()
        self._build_params()
        self.strategy.observe(lambda _: self._build_params(), names="value")
        self.symbol.observe(lambda _: self._set_bar_specs(), names="value")
        self.bar_spec.observe(lambda _: self._set_dates(), names="value")
        self.source.observe(lambda _: self._source_changed(), names="value")
        self.run_button.on_click(lambda _: self.run())
        if self.symbol.options:
            self.source.value = "catalog"
            self._source_changed()
        else:
            self.source.value = "mock"  # fires _source_changed

        self.widget = w.VBox(
            [
                w.HBox([self.strategy, self.description]),
                self.params_box,
                w.HBox([self.source]),
                w.HBox([self.symbol, self.bar_spec, self.start, self.end]),
                self.note,
                w.HBox([self.fill_timing, self.commission_bps, self.slippage_ticks]),
                w.HBox([self.run_button, self.progress, self.status]),
                self.error,
                self.metrics,
                self.price_view,
                self.equity_view,
            ]
        )

    # -- building -----------------------------------------------------------------------------

    def _load_symbols(self) -> pd.DataFrame:
        """The catalog's symbols, or an empty frame (with a note) when it cannot be read."""
        try:
            return self.catalog.symbols()
        except Exception as exc:  # an unreadable catalog must not break the panel
            self._catalog_problem = one_line(exc)
            return pd.DataFrame(columns=["symbol", "bar_spec", "venue", "first", "last", "rows"])

    def _build_params(self) -> None:
        """Controls for the selected strategy's parameters (rebuilt on every change)."""
        info = registry.get(self.strategy.value)
        self.description.value = f"<i>{html.escape(info.description)}</i>"
        self._specs = {p.name: p for p in info.parameters()}
        style = label_style(self._specs)
        self.params = {name: parameter_widget(p, style) for name, p in self._specs.items()}
        self.params_box.children = tuple(self.params.values())

    def _source_changed(self) -> None:
        mock = self.source.value == "mock"
        self.symbol.disabled = self.bar_spec.disabled = mock
        self.bar_spec.layout.display = "none" if mock else None  # mock bars have one spec
        if mock:
            self.start.value = dt.date.fromisoformat(MOCK_START)
            self.end.value = dt.date.fromisoformat(MOCK_END)
            if self.symbol.options:
                self.note.value = f"mock data: seeded synthetic {DEFAULT_SYMBOL} minute bars"
            else:
                why = self._catalog_problem
                self.note.value = html.escape(
                    f"The catalog at {self.catalog.root} has no bars"
                    + (f" ({why})" if why else "")
                    + ": using mock data (import bars with `research-lib data import-csv`)."
                )
        else:
            self.note.value = ""
            self._set_dates()

    def _rows(self) -> pd.DataFrame:
        """The catalog's rows (one per bar spec) of the selected symbol."""
        return self._symbols[self._symbols["symbol"].astype(str) == self.symbol.value]

    def _set_bar_specs(self) -> None:
        """The bar spec choices to the selected symbol's, keeping the chosen one if it has it;
        the dates follow."""
        specs = list(dict.fromkeys(self._rows()["bar_spec"].astype(str)))
        keep = self.bar_spec.value if self.bar_spec.value in specs else None
        self.bar_spec.options = specs
        self.bar_spec.value = keep or (specs[0] if specs else None)
        self._set_dates()

    def _set_dates(self) -> None:
        """Start and end pickers to the first and last bar dates of the selected symbol's
        chosen bar spec."""
        rows = self._rows()
        rows = rows[rows["bar_spec"].astype(str) == self.bar_spec.value]
        if self.source.value != "catalog" or rows.empty:
            return
        self.start.value = pd.Timestamp(rows["first"].min()).date()
        self.end.value = pd.Timestamp(rows["last"].max()).date()

    # -- running ------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The strategy parameters as set in the controls."""
        return {name: _param_value(self._specs[name], c.value) for name, c in self.params.items()}

    def costs(self) -> dict[str, Any]:
        """The costs as set in the controls (``run_backtest``'s ``costs``)."""
        return {
            "commission_rate": float(self.commission_bps.value) / 1e4,
            "slippage_ticks": int(self.slippage_ticks.value),
        }

    def run(self) -> BacktestResult | None:
        """Run the backtest as set up; show its metrics and figures, or a one-line error."""
        self.error.value = ""
        self.last_error = self.last_exception = None
        self.status.value = "running…"
        self.run_button.disabled = True
        self.progress.value, self.progress.layout.display = 1, None
        started = time.perf_counter()
        catalog = self.source.value == "catalog"
        try:
            result = record.run_backtest(
                self.strategy.value,
                self.values(),
                data=self.source.value,
                symbol=self.symbol.value if catalog else None,
                bar_spec=self.bar_spec.value if catalog else None,
                start=when_text(self.start.value),
                end=when_text(self.end.value),
                catalog=self.catalog,
                results=self.results,
                source="notebook",
                fill_timing=self.fill_timing.value,
                costs=self.costs(),
            )
            figures = [price_figure(result), equity_figure(result)]
        except Exception as exc:
            return self._failed(exc, time.perf_counter() - started)
        finally:
            self.run_button.disabled = False
            self.progress.value, self.progress.layout.display = 0, "none"
        self.last_result, self.last_figures = result, figures
        self.metrics.value = metrics_table(result)
        show_figure(self.price_view, figures[0])
        show_figure(self.equity_view, figures[1])
        elapsed = time.perf_counter() - started
        if result.saved_to == str(self.results.path):
            saved = f"saved as run {result.run_id[:8]}"
        else:
            saved = f"run {result.run_id[:8]} NOT saved to the store (kept in {result.saved_to})"
        self.status.value = html.escape(f"done in {elapsed:.1f} s, {saved}")
        return result

    def _failed(self, exc: Exception, elapsed: float) -> None:
        message = one_line(exc)
        if not isinstance(exc, ResearchError):  # a bug, not a user error: name its type
            message = f"{type(exc).__name__}: {message} (details: panel.last_exception)"
        self.last_error, self.last_exception = message, exc
        self.error.value = f'<span style="color:{ERROR_COLOR}">{html.escape(message)}</span>'
        self.status.value = f"failed after {elapsed:.1f} s"
        self.metrics.value = ""
        self.last_figures = []
        self._show_placeholders("the run failed: no")
        return None

    def _show_placeholders(self, why: str) -> None:
        """Empty figures titled ``"<why> price and trades"`` and ``"<why> equity and
        drawdown"``."""
        show_figure(self.price_view, placeholder_figure(f"{why} price and trades"))
        show_figure(self.equity_view, placeholder_figure(f"{why} equity and drawdown"))

    # -- showing ------------------------------------------------------------------------------

    def display(self) -> None:
        """Show the panel in the notebook."""
        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def metrics_table(result: BacktestResult) -> str:
    """The run's headline numbers (:func:`research_lib.ui.tables.summary_rows`) and its
    warnings as a small HTML table."""
    rows = summary_rows(result) + [("Warning", text) for text in result.warnings]
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
        f"<td style='text-align:right'>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table class='research-lib-metrics'>{body}</table>"


def placeholder_figure(title: str) -> go.Figure:
    """An empty, low figure titled ``title`` (what a figure area shows before a run)."""
    fig = go.Figure(layout={"title": {"text": title}, "height": PLACEHOLDER_HEIGHT})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def figure_bundle(fig: go.Figure) -> dict[str, Any]:
    """The figure's display bundle: plotly's own JSON mime type (drawn by JupyterLab's and
    VS Code's plotly renderer) and, for front ends without it (Voilà, classic Notebook), an
    HTML ``<div>`` that loads plotly.js from its CDN."""
    return {
        PLOTLY_MIME: json.loads(pio.to_json(fig, validate=False, remove_uids=False)),
        "text/html": pio.to_html(fig, include_plotlyjs="cdn", full_html=False),
        "text/plain": f"<{type(fig).__name__}: {fig.layout.title.text or ''}>",
    }


def show_figure(output: w.Output, fig: go.Figure) -> None:
    """Make ``output`` show ``fig`` (only it), by setting the widget's outputs.

    The bundle is set on the widget itself, not captured with ``with output: display(...)``
    or built by IPython's display formatter: both publish to the cell that is running, and
    after a click in the browser none is, so the chart would not redraw.
    """
    output.outputs = ({"output_type": "display_data", "data": figure_bundle(fig), "metadata": {}},)
