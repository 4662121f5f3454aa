"""Helpers of the browser tests: Debian's Chromium driven by Playwright (the servers it
talks to are started with :mod:`servers`).

``playwright install`` cannot download a browser here, so Playwright drives the system
Chromium (``executable_path``). The flags are those a closed network needs: without the
background-networking ones Chromium keeps trying to reach Google's hosts.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from servers import wait_until

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """The system Chromium, or None (``.ci/run`` installs Debian's ``chromium``)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Console:
    """What a page reported: console errors and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.errors.append(f"{message.text} ({where})")


@contextlib.contextmanager
def browser(executable: str) -> Iterator[Any]:
    """A headless Chromium, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


PLOT_TITLES = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .map(div => (div.layout && div.layout.title && div.layout.title.text) || '')"""

PLOT_TRACES = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .map(div => (div.data || []).map(t => [t.name || '', (t.x || []).length]))"""


PLOTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .map(div => [(div.layout && div.layout.title && div.layout.title.text) || '',
                 (div.data || []).map(t => t.name || '')])"""


def plots(page: Any) -> list[tuple[str, list[str]]]:
    """Per drawn figure, its title and its traces' names, read at one moment."""
    return [(title, names) for title, names in page.evaluate(PLOTS)]


def plot_titles(page: Any) -> list[str]:
    """The titles of the plotly figures the page has drawn, top to bottom."""
    return page.evaluate(PLOT_TITLES)


def plot_traces(page: Any) -> list[list[list[Any]]]:
    """Per drawn figure, its traces as ``[name, number of x values]``."""
    return page.evaluate(PLOT_TRACES)


def wait_for_titles(page: Any, predicate, timeout: float = 180.0) -> list[str]:
    """Wait until the drawn figures' titles satisfy ``predicate``; returns them."""
    seen: list[list[str]] = [[]]

    def matched() -> bool:
        seen[0] = plot_titles(page)
        return bool(predicate(seen[0]))

    try:
        wait_until(matched, timeout, "the figures to match", page.wait_for_timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last titles: {seen[0]}") from None
    return seen[0]


def open_offline(chromium: Any, url: str) -> tuple[Any, Console, list[str]]:
    """A page at ``url`` (a file) that may fetch nothing else: every other request is
    aborted and listed. Returns (page, its console watcher, the requests refused)."""
    page = chromium.new_page()
    console = Console()
    console.watch(page)
    asked: list[str] = []

    def offline(route) -> None:  # the file must need nothing but itself
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            asked.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto(url)
    return page, console, asked
