"""The workbench in a real browser: Debian's Chromium driven by Playwright, against JupyterLab
and the Voilà dashboard started here on 127.0.0.1, and an HTML report opened from disk.

Each test does what a user does (open the page, change a parameter, press Run, pick runs,
compare) and asserts what the page then draws: the plotly figures' titles and traces as the
browser holds them, and no error in the browser's console. The tests skip only when no
Chromium is installed (``.ci/run`` installs Debian's ``chromium`` with apt-get).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from browser import (
    Console,
    browser,
    chromium_path,
    open_offline,
    plot_titles,
    plot_traces,
    plots,
    wait_for_titles,
)
from servers import free_port, kernel_processes, server, wait_until

from research_lib.store import ResultsStore
from research_lib.ui.report import write_report
from research_lib.ui.study_report import write_study_report
from research_lib.workflows.record import run_backtest
from research_lib.workflows.study import run_study
from research_lib.workflows.sweep import ensure_demo_sweep

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = chromium_path()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium installed: browser tests need Debian's `chromium` package "
        "(.ci/run installs it with apt-get)",
    ),
]


def trade_count(title: str) -> int:
    found = re.search(r"(\d+) trades", title)
    assert found, title
    return int(found.group(1))


PRICE_TITLE = re.compile(r"^\S+ on .+\): \d+ trades")


def is_price(title: str) -> bool:
    """A price figure's title: ``sma_crossover on AAPL (1-MINUTE-LAST): 443 trades...``."""
    return bool(PRICE_TITLE.match(title))


def drawn_run(titles: list[str], other_than: str | None = None) -> bool:
    """The panel shows one run: one price figure (not ``other_than``) and its equity."""
    prices = [t for t in titles if is_price(t)]
    equity = [t for t in titles if t.startswith("Equity and drawdown: ")]
    return len(prices) == 1 and prices[0] != other_than and len(equity) == 1


def price_title(titles: list[str]) -> str:
    [title] = [t for t in titles if is_price(t)]
    return title


def button(page, text: str):
    """The widget button labelled ``text`` (its icon aside)."""
    return page.locator("button.jupyter-button", has_text=re.compile(rf"^\s*{text}\s*$"))


def set_parameter(page, name: str, value: int) -> None:
    """Type ``value`` into the panel's ``name`` box and leave it, as a user does."""
    field = page.get_by_label(name, exact=True)
    field.fill(str(value))
    field.press("Tab")


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A project folder with the notebooks, an empty catalog (the panel uses mock bars) and
    a results store of its own; the servers started by the tests inherit it."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'browser-check'\n", encoding="utf-8")
    shutil.copy(ROOT / "notebooks" / "02_interactive_backtest.ipynb", root / "notebooks")
    monkeypatch.setenv("RESEARCH_LIB_CATALOG", str(root / "parquet_catalog"))
    monkeypatch.setenv("RESEARCH_LIB_RESULTS", str(root / "results" / "results.duckdb"))
    for name, sub in (
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"),
    ):
        monkeypatch.setenv(name, str(tmp_path / sub))
    return root


def test_dashboard_runs_compares_and_culls_its_kernel(project: Path, tmp_path: Path) -> None:
    store = ResultsStore(project / "results" / "results.duckdb")
    sweep_id = ensure_demo_sweep(store)
    port = free_port()
    command = [sys.executable, "-m", "research_lib", "dashboard", "--no-open",
               f"--port={port}", "--cull-after=5"]  # fmt: skip
    with (
        server(command, port, tmp_path / "dashboard.log", dict(os.environ), project) as voila,
        browser(CHROMIUM) as chromium,
    ):
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        console = Console()
        console.watch(page)
        page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
        wait_for_titles(page, lambda t: "press Run to see price and trades" in t)

        set_parameter(page, "fast_period", 5)
        button(page, "Run").click()
        first = price_title(wait_for_titles(page, drawn_run))
        first_traces = plot_traces(page)
        set_parameter(page, "fast_period", 8)
        button(page, "Run").click()
        second = price_title(wait_for_titles(page, lambda t: drawn_run(t, other_than=first)))
        assert trade_count(second) != trade_count(first)
        assert plot_traces(page) != first_traces  # the figures were redrawn, not added to
        status = page.get_by_text(re.compile(r"done in [\d.]+ s, saved as run [0-9a-f]{8}$"))
        status.wait_for(timeout=30_000)  # the status line says the run was saved

        # Runs: both new runs are listed with their parameters; compare them
        page.get_by_role("tab", name="Runs").click()
        listing = page.locator("select[multiple]")
        options = listing.locator("option")
        texts = [options.nth(i).inner_text().replace("\xa0", " ") for i in range(options.count())]
        assert len(texts) == 2 + 4  # the two new runs, newest first, and the demo sweep's 4
        assert "fast=8 slow=20" in texts[0] and "fast=5 slow=20" in texts[1]
        listing.select_option(index=[0, 1])
        button(page, "Compare").click()
        wait_for_titles(page, lambda t: any(x.startswith("Equity curves") for x in t))
        [overlay] = [names for title, names in plots(page) if title.startswith("Equity curves")]
        assert sorted(overlay) == ["fast=5", "fast=8"]  # labelled by the differing parameter
        assert page.locator("table.research-lib-comparison").count() == 1

        # Sweeps: the stored sweep's heatmap
        page.get_by_role("tab", name="Sweeps").click()
        wait_for_titles(page, lambda t: any(x.startswith(f"Sweep {sweep_id[:8]}") for x in t))
        assert console.errors == []

        assert len(kernel_processes(voila.pid)) == 1
        page.close()
        wait_until(lambda: not kernel_processes(voila.pid), 90, "the closed page's kernel culled")


def test_jupyterlab_notebook_02_redraws_on_run(project: Path, tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "research_lib", "lab", "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
        *(["--allow-root"] if os.geteuid() == 0 else []),
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    with (
        server(command, port, tmp_path / "lab.log", dict(os.environ), project),
        browser(CHROMIUM) as chromium,
    ):
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        console = Console()
        console.watch(page)
        url = f"http://127.0.0.1:{port}/lab/tree/notebooks/02_interactive_backtest.ipynb"
        page.goto(url, timeout=120_000)
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        # the kernel has started: the status bar names it, idle
        page.get_by_text(re.compile(r"^Python 3 \(ipykernel\) \| Idle$")).wait_for(timeout=120_000)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
        first = price_title(wait_for_titles(page, drawn_run))

        set_parameter(page, "fast_period", 5)
        button(page, "Run").click()
        second = price_title(wait_for_titles(page, lambda t: drawn_run(t, other_than=first)))
        assert trade_count(second) != trade_count(first)
        assert len([t for t in plot_titles(page) if is_price(t)]) == 1  # redrawn in place
        assert console.errors == []


def test_html_report_renders_offline(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "r.duckdb")
    result = run_backtest(data="mock", start="2024-01-02", end="2024-01-12", results=store)
    path = write_report(store, [result.run_id], tmp_path / "report.html")
    with browser(CHROMIUM) as chromium:
        page, console, asked = open_offline(chromium, path.as_uri())
        titles = wait_for_titles(page, lambda t: len(t) >= 5, timeout=60)
        drawn = page.evaluate(
            "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".map(d => d.querySelectorAll('svg.main-svg').length > 0 && d.data.length > 0)"
        )
        assert drawn and all(drawn)
        assert f"{result.trade_count} trades" in price_title(titles)
        assert any(t.startswith("Equity and drawdown") for t in titles)
        assert asked == [] and console.errors == []


def test_study_report_renders_offline(tmp_path: Path) -> None:
    result = run_study(
        "sma_crossover", {"fast_period": [5, 10], "slow_period": [20, 30]},
        walk_forward="train=1W,test=1W", data="mock", start="2024-01-02", end="2024-01-24",
        results=tmp_path / "r.duckdb", progress=False, workers=1,
    )  # fmt: skip
    path = write_study_report(result, tmp_path / "study.html")
    with browser(CHROMIUM) as chromium:
        page, console, asked = open_offline(chromium, path.as_uri())
        titles = wait_for_titles(page, lambda t: len(t) >= 4, timeout=60)
        drawn = page.evaluate(
            "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".map(d => d.querySelectorAll('svg.main-svg').length > 0 && d.data.length > 0)"
        )
        assert drawn == [True] * 4
        assert [t.split(":")[0] for t in titles] == [
            "Folds", "Out-of-sample equity", "Sharpe ratio", "Chosen parameters per fold"
        ]  # fmt: skip
        folds = len(result.folds)
        # the timeline drew a bar per window, the curve all its points, a marker per fold
        bars = page.locator("#study-timeline g.point").count()
        assert bars == 2 * folds
        traces = dict(plots(page))
        assert traces[titles[2]] == ["y = x (no degradation)", "least squares", "fold"]
        lengths = plot_traces(page)
        assert lengths[1] == [["out-of-sample equity", len(result.oos_equity)]]
        assert page.locator("#study-is-vs-oos g.points path.point").count() == folds
        for reading in result.readings:
            assert page.get_by_text(reading, exact=True).count() == 1
        assert asked == [] and console.errors == []
