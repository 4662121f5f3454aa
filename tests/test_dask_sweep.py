"""Sweeps on a Dask cluster: a local cluster of two process workers shared by this module,
a worker killed in the middle of a point, and the executor's own rules."""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from research_lib.engine.run_config import RunConfig
from research_lib.errors import ConfigError
from research_lib.store import ResultsStore
from research_lib.strategies.sma_crossover import SMACrossover
from research_lib.workflows import executor
from research_lib.workflows.sweep import sweep

TWO_DAYS = {"start": "2024-01-02", "end": "2024-01-03", "data": "mock"}
GRID = {"fast_period": [5, 10], "slow_period": [20, 30]}
# Shared with the worker processes, which import this module for DiesInAWorker.
MARKERS = Path(os.environ.setdefault("RESEARCH_LIB_TEST_MARKERS", tempfile.mkdtemp()))


class DiesInAWorker(SMACrossover):
    """SMA crossover whose worker process is killed (SIGKILL) when a point starts: the first
    time for fast_period 5, every time for fast_period 7; never outside a worker."""

    def on_start(self) -> None:
        fast, marker = self.config.fast_period, MARKERS / str(self.config.fast_period)
        in_worker = multiprocessing.parent_process() is not None
        if in_worker and (fast == 7 or (fast == 5 and not marker.exists())):
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        super().on_start()


DIES = RunConfig(
    strategy_path=f"{__name__}:DiesInAWorker",
    config_path="research_lib.strategies.sma_crossover:SMAConfig",
    strategy_name="dies_in_a_worker",
    params={},
)


@pytest.fixture(scope="module")
def scheduler():
    """The address of a local cluster of two process workers, for the whole module."""
    with executor.connect(2, None) as cluster:
        yield cluster.client.scheduler.address


def _by_point(store: ResultsStore, sweep_id: str) -> dict[tuple, dict]:
    """Each completed run of the sweep by (fast, slow): its metrics and trades."""
    out = {}
    for run_id in store.list(sweep_id=sweep_id, limit=None)["id"]:
        run = store.get(run_id)
        key = (run.config["fast_period"], run.config["slow_period"])
        assert key not in out, f"point {key} stored twice"
        trades = run.trades.drop(columns=["run_id"], errors="ignore")
        out[key] = {"status": run.status, "metrics": run.metrics, "trades": trades}
    return out


def test_a_sweep_on_the_cluster_gives_the_runs_of_a_sweep_here(tmp_path, scheduler):
    here = ResultsStore(tmp_path / "here.duckdb")
    there = ResultsStore(tmp_path / "there.duckdb")
    local = sweep("sma", GRID, results=here, progress=False, workers=1, **TWO_DAYS)
    notices = []
    remote = sweep(
        "sma", GRID, results=there, progress=True, scheduler=scheduler, status=notices.append,
        **TWO_DAYS,
    )  # fmt: skip
    assert local.failed == remote.failed == [] and local.finished == remote.finished == 4
    want, got = _by_point(here, local.sweep_id), _by_point(there, remote.sweep_id)
    assert sorted(got) == sorted(want) == [(5, 20), (5, 30), (10, 20), (10, 30)]
    for key, run in want.items():
        assert got[key]["metrics"] == run["metrics"]
        pd.testing.assert_frame_equal(got[key]["trades"], run["trades"])
    assert set(there.list(limit=None)["source"]) == {"sweep"}


def test_a_killed_worker_costs_one_retry_then_the_point_is_recorded_failed(tmp_path, scheduler):
    # fast 5: killed once, runs again on a worker and is stored; fast 7: killed twice, so
    # recorded as failed with the reason; fast 6 runs normally. None lost, none twice.
    store = ResultsStore(tmp_path / "results.duckdb")
    grid = {"fast_period": [5, 6, 7], "slow_period": [20]}
    done = sweep(DIES, grid, results=store, progress=False, scheduler=scheduler, **TWO_DAYS)
    runs = _by_point(store, done.sweep_id)
    assert sorted(runs) == [(5, 20), (6, 20), (7, 20)]
    assert [runs[(f, 20)]["status"] for f in (5, 6, 7)] == ["completed", "completed", "failed"]
    assert done.finished == 2 and [p for p, _ in done.failed] == [
        {"fast_period": 7, "slow_period": 20}
    ]
    assert "worker process died each time it ran, retry included" in done.failed[0][1]
    failed = store.list(sweep_id=done.sweep_id, status="failed", limit=None).iloc[0]
    assert "worker process died each time it ran, retry included" in failed["error"]
    assert (MARKERS / "5").exists()  # the first run of fast 5 was indeed killed


def _boom(task, shared):
    if task == 2:
        raise ValueError("no good")
    return task * shared


def test_run_tasks_hands_every_result_over_as_it_arrives(scheduler):
    seen = []
    done = executor.run_tasks(
        _boom, [1, 2, 3], scheduler=scheduler, shared=10,
        on_result=lambda task, result: seen.append((task, result)),
        on_lost=lambda task, reason: reason,
        failed=lambda result: isinstance(result, str),
    )  # fmt: skip
    assert sorted(seen, key=lambda s: s[0]) == [(1, 10), (2, "ValueError: no good"), (3, 30)]
    assert sorted(map(str, done)) == ["10", "30", "ValueError: no good"]


def test_run_tasks_in_this_process_with_one_worker():
    got = executor.run_tasks(_boom, [1, 2], workers=1, shared=3, on_lost=lambda t, why: why)
    assert got == [3, "ValueError: no good"]
    with pytest.raises(ValueError, match="no good"):
        executor.run_tasks(_boom, [2], workers=1, shared=3)


def test_an_unreachable_scheduler_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(executor, "CONNECT_TIMEOUT", 1)
    with pytest.raises(executor.SchedulerError, match=r"cannot reach the Dask scheduler at tcp"):
        sweep(
            "sma", {"fast_period": [5]}, results=tmp_path / "r.duckdb", progress=False,
            scheduler="tcp://127.0.0.1:9", **TWO_DAYS,
        )  # fmt: skip
    assert not (tmp_path / "r.duckdb").exists()


def test_the_scheduler_comes_from_the_flag_then_the_environment_then_the_config(monkeypatch):
    monkeypatch.delenv("RESEARCH_LIB_SCHEDULER", raising=False)
    assert executor.scheduler_address(None, None) is None
    assert executor.scheduler_address(None, "tcp://c:1") == "tcp://c:1"
    monkeypatch.setenv("RESEARCH_LIB_SCHEDULER", "tcp://env:1")
    assert executor.scheduler_address(None, "tcp://c:1") == "tcp://env:1"
    assert executor.scheduler_address(" tcp://flag:1 ", "tcp://c:1") == "tcp://flag:1"
    assert executor.scheduler_address("local", None) is None


def test_local_workers_are_capped_by_the_cores_and_the_memory(monkeypatch):
    monkeypatch.setattr(executor, "cpu_count", lambda: 2)
    assert executor.local_workers(2, memory=8 * 2**30) == (2, None)
    assert executor.local_workers(16, memory=8 * 2**30) == (
        2, "16 workers asked for, 2 started: 2 cores"
    )  # fmt: skip
    assert executor.local_workers(2, memory=0.6 * 2**30) == (
        1, "2 workers asked for, 1 started: 0.6 GB of memory available (500 MB a worker)"
    )  # fmt: skip
    assert executor.local_workers(1)[0] == 1  # from the machine's own memory


def test_sweep_workers_must_be_a_positive_whole_number():
    with pytest.raises(ConfigError, match="workers must be"):
        sweep("sma", {"fast_period": [5]}, workers=0)
