"""``research-lib dashboard``: the workbench as a web page, served by Voilà on this machine."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import click

from research_lib import settings
from research_lib.cli.app import CommandFailed, cli, options

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
NOTEBOOK = UI_DIR / "workbench.ipynb"  # the page title is its name
TEMPLATES = UI_DIR / "voila"  # holds voila/templates/research-lib (a JUPYTER_PATH entry)
HOST = "127.0.0.1"
# JupyterLab extensions the page must not load: jupytext's needs JupyterLab's document
# manager, fails to start in Voilà and logs an error in the browser console.
NOT_IN_VOILA = ["jupyterlab-jupytext"]


def voila_command(port: int, cull_after: int, open_browser: bool) -> list[str]:
    """The Voilà command line that serves the dashboard on ``127.0.0.1:port``."""
    return [
        sys.executable, "-m", "voila", str(NOTEBOOK),
        f"--port={port}",
        f"--Voila.ip={HOST}",
        "--Voila.open_browser=" + ("True" if open_browser else "False"),
        "--template=research-lib",
        "--theme=light",
        "--show_tracebacks=False",
        *(f"--VoilaConfiguration.extension_denylist={name}" for name in NOT_IN_VOILA),
        # a kernel whose page was closed (no connection left) is shut down once idle this long
        f"--MappingKernelManager.cull_idle_timeout={cull_after}",
        f"--MappingKernelManager.cull_interval={max(5, min(60, cull_after // 2))}",
        "--MappingKernelManager.cull_connected=False",
        "--KernelManager.transport=ipc",  # local sockets: nothing on TCP but the page itself
        "--Voila.log_level=ERROR",
    ]  # fmt: skip


def voila_environment(catalog: Path, results: Path) -> dict[str, str]:
    """This process's environment, with the dashboard's template on ``JUPYTER_PATH`` and the
    catalog and results store the page's kernels must use."""
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(TEMPLATES), env.get("JUPYTER_PATH")) if p)
    env[settings.ENV_VARS["catalog"]] = str(catalog)
    env[settings.ENV_VARS["results"]] = str(results)
    return env


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


@cli.command("dashboard")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8866, show_default=True,
    help="Port on 127.0.0.1 to serve the dashboard on.",
)  # fmt: skip
@click.option(
    "--cull-after", type=click.IntRange(min=5), default=300, show_default=True, metavar="SECONDS",
    help="Shut a page's kernel down this long after the page was closed.",
)  # fmt: skip
@click.option("--open/--no-open", "open_browser", default=True, help="Open it in a browser.")
def dashboard(port: int, cull_after: int, open_browser: bool) -> None:
    """Serve the workbench as a web page: run backtests, browse, filter and
    compare stored runs, open a sweep's heatmap.

    The page is served by Voilà on 127.0.0.1 only (this machine); each open
    page has its own Python kernel, shut down once the page is closed
    (--cull-after). It uses the same catalog and results store as the other
    commands (see `research-lib info`). Ctrl-C stops the server.

    \b
    Examples:
      research-lib dashboard                  http://127.0.0.1:8866/
      research-lib dashboard --port 9000 --no-open
      ssh -L 8866:127.0.0.1:8866 HOST         then open it on your laptop
    """
    opts = options()
    if importlib.util.find_spec("voila") is None:
        raise CommandFailed("the dashboard needs Voilà, which is not installed: uv sync")
    if not _port_free(port):
        raise CommandFailed(f"port {port} on {HOST} is in use: choose another with --port")
    catalog = settings.catalog_root(opts.catalog)
    results = settings.results_path(opts.results)
    click.echo(f"Dashboard at http://{HOST}:{port}/  (Ctrl-C stops it)")
    click.echo(f"  catalog {catalog}\n  results {results}")
    process = subprocess.Popen(
        voila_command(port, cull_after, open_browser), env=voila_environment(catalog, results)
    )
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()  # Voilà shuts its kernels down on SIGTERM
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        click.echo("Dashboard stopped.")
        return
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        raise CommandFailed(f"Voilà exited with code {code}")
