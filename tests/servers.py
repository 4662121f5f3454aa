"""Servers and processes the tests start on 127.0.0.1 (JupyterLab, the Voilà dashboard, a
Dask scheduler and workers): a free port, waiting for something to hold, stopping a process
group."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

START_TIMEOUT = 120.0  # seconds for a server to answer (first start compiles bytecode)


def wait_until(
    condition: Callable[[], bool],
    timeout: float = 120.0,
    what: str = "",
    sleep: Callable[[float], Any] = lambda ms: time.sleep(ms / 1000),
) -> None:
    """Poll ``condition`` every 250 ms until it holds; fail naming ``what`` if it still does
    not after ``timeout`` seconds (a liveness bound, not a timing check). ``sleep`` takes
    milliseconds (a Playwright page's ``wait_for_timeout`` keeps its events flowing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            break
        sleep(250)
    assert condition(), f"gave up waiting for {what}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    """Wait until something listens on ``127.0.0.1:port``; fail with the server's log if the
    process ends first or nothing answers in :data:`START_TIMEOUT` seconds."""

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        return False

    try:
        wait_until(listening, START_TIMEOUT, f"a server on port {port}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}:\n{log.read_text()}") from None


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
