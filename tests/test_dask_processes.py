"""The CLI sweep as separate processes: on a `dask scheduler` with two `dask worker`s started
here on 127.0.0.1, and stopped by Ctrl-C (SIGINT) or kill -9 without leaving workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from servers import free_port, wait_until

from research_lib.cli import cli
from research_lib.store import ResultsStore

BIN = Path(sys.executable).parent
SWEEP = [
    "sweep", "sma_crossover", "--data", "mock", "--start", "2024-01-02", "--end", "2024-01-03",
    "--grid", "fast_period=5,10", "--grid", "slow_period=20,30", "--no-progress",
]  # fmt: skip
# Long enough to be running when the signal comes: 15 points on two months of bars.
LONG_SWEEP = [
    "sweep", "sma_crossover", "--data", "mock", "--start", "2024-01-02", "--end", "2024-02-29",
    "--grid", "fast_period=5:19", "--workers", "2", "--no-progress",
]  # fmt: skip
pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and process groups")


def _metrics(store: ResultsStore) -> dict[tuple, tuple]:
    runs = store.list(limit=None)
    out = {}
    for run_id in runs["id"]:
        run = store.get(run_id)
        key = (run.config["fast_period"], run.config["slow_period"])
        trades = run.trades.drop(columns=["run_id"], errors="ignore")
        out[key] = (run.status, run.metrics, trades.to_dict("list"))
    return out


@pytest.fixture
def remote_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes on loopback; yields the address."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": tmp_path}
    procs = [
        subprocess.Popen(
            [
                BIN / "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            **common,
        )
    ]
    try:
        for name in ("w1", "w2"):
            procs.append(
                subprocess.Popen(
                    [
                        BIN / "dask",
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--name",
                        name,
                        "--death-timeout",
                        "60",
                    ],
                    **common,
                )
            )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_sweep_on_a_remote_scheduler_matches_the_local_one(tmp_path, remote_cluster):
    here, there = tmp_path / "here.duckdb", tmp_path / "there.duckdb"
    local = CliRunner().invoke(cli, ["--results", str(here), *SWEEP, "--workers", "1"])
    assert local.exit_code == 0, local.output
    remote = CliRunner().invoke(
        cli, ["--results", str(there), *SWEEP, "--scheduler", remote_cluster]
    )
    assert remote.exit_code == 0, remote.output
    assert f"4 of 4 points to run (on {remote_cluster}, via runner)" in remote.output
    assert "4 completed, 0 failed, 0 skipped" in remote.output
    want, got = _metrics(ResultsStore(here)), _metrics(ResultsStore(there))
    assert len(got) == 4 and got == want


def _start_long_sweep(tmp_path: Path) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """The CLI sweep in a process of its own, once its two workers run points."""
    proc = subprocess.Popen(
        [BIN / "research-lib", "--results", str(tmp_path / "r.duckdb"), *LONG_SWEEP],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    main = psutil.Process(proc.pid)
    workers: list[psutil.Process] = []

    def running() -> bool:
        workers[:] = [p for p in main.children(recursive=True) if "resource_tracker" not in
                      " ".join(p.cmdline())]  # fmt: skip
        busy = [p for p in workers if p.cpu_percent(0.1) > 0]
        return len(workers) >= 2 and len(busy) >= 1

    wait_until(running, what="the sweep's workers to start")
    return proc, list(workers)


def _gone(processes: list[psutil.Process]) -> bool:
    return not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes)


def test_ctrl_c_stops_the_sweep_and_its_workers(tmp_path):
    proc, workers = _start_long_sweep(tmp_path)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "interrupted: " in out and "the other points were cancelled" in out
    wait_until(lambda: _gone(workers), what="the workers to exit after Ctrl-C")
    store = ResultsStore(tmp_path / "r.duckdb")
    runs = store.list(limit=None) if store.path.exists() else []
    assert len(runs) < 15  # the queued points were cancelled, the finished ones kept


def test_kill_9_of_the_sweep_leaves_no_worker_behind(tmp_path):
    proc, workers = _start_long_sweep(tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    wait_until(lambda: _gone(workers), what="the workers to exit after kill -9 of the sweep")
