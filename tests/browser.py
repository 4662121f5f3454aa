"""Helpers of the browser tests: Debian's Chromium driven by Playwright, and the servers
(JupyterLab, the Voilà dashboard) started on 127.0.0.1 by the tests themselves.

``playwright install`` cannot download a browser here, so Playwright drives the system
Chromium (``executable_path``). The flags are those a closed network needs: without the
background-networking ones Chromium keeps trying to reach Google's hosts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
START_TIMEOUT = 120.0  # seconds for a server to answer (first start compiles bytecode)


def chromium_path() -> str | None:
    """The system Chromium, or None (``.ci/run`` installs Debian's ``chromium``)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    """Wait until something listens on ``127.0.0.1:port``; fail with the server's log if the
    process ends first or nothing answers in :data:`START_TIMEOUT` seconds."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.25)
    raise AssertionError(f"nothing listens on port {port}:\n{log.read_text()}")


@contextlib.contextmanager
def server(command: list[str], port: int, log: Path, env: dict[str, str], cwd: Path):
    """Run ``command`` (a server on ``port``) for the duration of the block; stop it and
    everything it started afterwards."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_port(port, process, log)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def kernel_processes(server_pid: int) -> list[Any]:
    """The ipykernel processes a server started."""
    import psutil

    try:
        children = psutil.Process(server_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if "ipykernel" in " ".join(child.cmdline()):
                found.append(child)
    return found


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
    deadline = time.monotonic() + timeout
    titles: list[str] = []
    while time.monotonic() < deadline:
        titles = plot_titles(page)
        if predicate(titles):
            return titles
        page.wait_for_timeout(250)
    raise AssertionError(f"figures never matched; last titles: {titles}")
