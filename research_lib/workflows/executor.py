"""Run many independent tasks (backtests) on Dask distributed: one executor, laptop to cluster.

:func:`run_tasks` runs ``fn(task, shared)`` for every task and hands each result to
``on_result`` in this process (the client) as soon as it arrives, so the client is the only
one that writes results anywhere. Where the tasks run:

* ``workers=1`` and no scheduler: here, one after the other, no cluster (for debugging);
* otherwise, without a scheduler: a :class:`distributed.LocalCluster` of ``workers`` process
  workers with one thread each (Nautilus runs one engine per process at a time), closed
  when the tasks are done;
* with ``scheduler="tcp://host:8786"`` (or ``$RESEARCH_LIB_SCHEDULER``): an existing
  cluster (``dask scheduler`` / ``dask worker``, dask-jobqueue, Kubernetes...).

Both cluster cases go through the same code; only the address differs. ``shared`` (the
bars) reaches each worker once, in a worker plugin the scheduler hands every worker when it
joins (a restarted one too), not once per task; the same plugin imports ``preload`` modules
(Nautilus) once per worker. Nautilus keeps memory per engine (nautilus_trader#3721), so a
local worker is restarted after ``lifetime`` (Dask's worker lifetime: it stops taking
tasks, hands over its results and its nanny starts a fresh process), and its nanny
restarts one that passes its ``memory_limit``.

Faults: a task whose worker dies (killed, out of memory) runs once more elsewhere
(``allowed-failures`` 1 on a local cluster; an existing scheduler keeps its own setting),
then goes to ``on_lost`` with the reason. Ctrl-C cancels the tasks not finished, keeps the
results already handed over, and closes a local cluster's processes.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import importlib.util
import logging
import os
import signal
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from research_lib.errors import ResearchError
from research_lib.settings import ENV_VARS

__all__ = [
    "Cluster",
    "SchedulerError",
    "TaskPlugin",
    "cpu_count",
    "local_workers",
    "run_tasks",
    "scheduler_address",
]

# A worker of a sweep imports Nautilus and holds one engine: about this much memory.
WORKER_MEMORY = 500 * 2**20
# How often a task may lose its worker before it is given up (1: one retry).
ALLOWED_FAILURES = 1
# Seconds a worker waits for a scheduler it lost (the sweep's process died) before exiting.
DEATH_TIMEOUT = 10
CONNECT_TIMEOUT = 10


class SchedulerError(ResearchError):
    """The Dask scheduler cannot be reached or fails."""


def cpu_count() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def scheduler_address(given: str | None = None, config: str | None = None) -> str | None:
    """The scheduler to use: ``given`` (``--scheduler``), else ``$RESEARCH_LIB_SCHEDULER``,
    else ``config`` (a YAML value), else None (a local cluster). ``local`` means None."""
    for value in (given, os.environ.get(ENV_VARS["scheduler"]), config):
        if value:
            return None if value.strip() == "local" else value.strip()
    return None


def local_workers(asked: int, memory: float | None = None) -> tuple[int, str | None]:
    """How many local workers to start for ``asked``: at most one per core and as many as
    the available memory holds (:data:`WORKER_MEMORY` each), with a warning when fewer."""
    if memory is None:
        import psutil

        memory = psutil.virtual_memory().available
    cores, fits = cpu_count(), max(1, int(memory // WORKER_MEMORY))
    workers = min(asked, cores, fits)
    if workers == asked:
        return workers, None
    reasons = []
    if asked > cores:
        reasons.append(f"{cores} cores")
    if asked > fits:
        reasons.append(
            f"{memory / 2**30:.1f} GB of memory available ({WORKER_MEMORY // 2**20} MB a worker)"
        )
    return workers, f"{asked} workers asked for, {workers} started: {' and '.join(reasons)}"


class TaskPlugin(WorkerPlugin):
    """The worker plugin of one :func:`run_tasks` call: imports ``preload`` once per worker
    and holds ``shared`` for its tasks (the scheduler hands it to every worker that joins)."""

    idempotent = False

    def __init__(self, name: str, shared: Any, preload: Sequence[str]):
        self.name = name
        self.shared = shared
        self.preload = tuple(preload)

    def setup(self, worker: Any) -> None:  # pragma: no cover - runs in the worker processes
        if threading.current_thread() is threading.main_thread():
            # Ctrl-C belongs to the client, which cancels the points and closes the workers:
            # a worker that took it too would print a KeyboardInterrupt traceback
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        for module in self.preload:
            importlib.import_module(module)
        if not _QUIET_EXIT:
            _QUIET_EXIT.append(True)
            atexit.register(_quiet_exit)

    def teardown(self, worker: Any) -> None:  # pragma: no cover - in the worker processes
        self.shared = None


_QUIET_EXIT: list[bool] = []


def _quiet_exit() -> None:  # pragma: no cover - runs as a worker process exits
    """Collect a worker's cycles as it exits, before the interpreter's teardown, where
    DuckDB's bindings would report them ("nanobind: leaked ...") on stderr."""
    gc.collect()


def _call(fn: Callable[[Any, Any], Any], task: Any, plugin: str) -> Any:  # pragma: no cover
    """Run one task on a worker with the shared value its plugin holds."""
    return fn(task, get_worker().plugins[plugin].shared)


@dataclass
class Cluster:
    """How to reach the workers: the client, the dashboard link (or None) and the thread
    count, for progress."""

    client: Any
    dashboard: str | None
    threads: int


@contextlib.contextmanager
def connect(
    workers: int,
    scheduler: str | None,
    memory_limit: str | float | None = None,
    lifetime: str | None = None,
) -> Iterator[Cluster]:
    """A client on ``scheduler``, or on a new local cluster of ``workers`` processes."""
    bokeh = importlib.util.find_spec("bokeh") is not None
    local = {
        "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
        # Only the task a worker runs is on it: a dead worker makes no other task suspect.
        "distributed.scheduler.worker-saturation": 1.0,
        "distributed.worker.daemon": True,
        # A backtest is one long Python call: the statistical profiler sampling its stack
        # every 10 ms cost about a sixth of its time here; the monitors need not poll often.
        "distributed.worker.profile.enabled": False,
        "distributed.admin.tick.interval": "1s",
        "distributed.worker.memory.monitor-interval": "1s",
        "distributed.admin.system-monitor.interval": "5s",
        "distributed.admin.system-monitor.gil.enabled": False,
    }
    with contextlib.ExitStack() as stack:
        stack.enter_context(dask.config.set(local))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore", UserWarning)  # port in use, dashboard off...
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    memory_limit=memory_limit or "auto",
                    dashboard_address=":0" if bokeh else None,
                    silence_logs=logging.CRITICAL,
                    death_timeout=DEATH_TIMEOUT,
                    **({"lifetime": lifetime, "lifetime_restart": True} if lifetime else {}),
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout=CONNECT_TIMEOUT))
            except (OSError, TimeoutError, ValueError) as exc:
                raise SchedulerError(
                    f"cannot reach the Dask scheduler at {scheduler}: {exc}; start one with "
                    "`dask scheduler`, or leave --scheduler and $RESEARCH_LIB_SCHEDULER unset "
                    "for a local cluster"
                ) from None
        threads = sum(client.nthreads().values())
        yield Cluster(client, client.dashboard_link if bokeh else None, threads)


def run_tasks(
    fn: Callable[[Any, Any], Any],
    tasks: Sequence[Any],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    shared: Any = None,
    on_result: Callable[[Any, Any], None] = lambda task, result: None,
    on_lost: Callable[[Any, str], Any] | None = None,
    failed: Callable[[Any], bool] = lambda result: False,
    progress: bool = False,
    desc: str = "",
    preload: Sequence[str] = (),
    lifetime: str | None = None,
    memory_limit: str | float | None = None,
    status: Callable[[str], None] = lambda text: None,
    cluster: Cluster | None = None,
) -> list[Any]:
    """Every task's result, in the order they finished.

    ``fn(task, shared)`` must be a module-level function (workers import it by name) and
    should turn its own errors into results; ``failed(result)`` says which results count as
    failed points on the progress bar. ``on_result(task, result)`` runs here as each result
    arrives. A task that cannot finish (its worker died twice, or ``fn`` raised) goes to
    ``on_lost(task, reason)``, whose return value is its result (without ``on_lost`` the
    error is raised). ``workers`` defaults to :func:`cpu_count`; ``status`` gets one-line
    notices (the dashboard link). ``cluster``: one already open (:func:`connect`), for work
    in several rounds; ``workers``, ``scheduler`` and the worker limits are then unused.
    """
    from tqdm.auto import tqdm

    workers = cpu_count() if workers is None else workers
    bar = tqdm(total=len(tasks), desc=desc, unit="run", disable=not progress, leave=progress)
    done: list[Any] = []
    counts = {"failed": 0}

    def finish(task: Any, result: Any) -> None:
        on_result(task, result)
        done.append(result)
        counts["failed"] += bool(failed(result))
        bar.set_postfix(failed=counts["failed"], running=running(), refresh=False)
        bar.update(1)

    threads = 1
    running = lambda: min(threads, len(tasks) - len(done))  # noqa: E731
    with bar:
        if cluster is not None:
            threads = cluster.threads
            _run_on(cluster.client, fn, tasks, shared, preload, on_lost, finish)
            return done
        if workers == 1 and scheduler is None:
            for task in tasks:
                try:
                    result = fn(task, shared)
                except Exception as exc:
                    result = _lost(on_lost, task, f"{type(exc).__name__}: {exc}", exc)
                finish(task, result)
            return done
        with connect(workers, scheduler, memory_limit, lifetime) as cluster:
            threads = cluster.threads
            if cluster.dashboard:
                status(f"Dask dashboard: {cluster.dashboard}")
            _run_on(cluster.client, fn, tasks, shared, preload, on_lost, finish)
    # The cluster's objects form cycles: collected now, not in the interpreter's teardown,
    # where DuckDB's bindings would report them ("nanobind: leaked ...") on stderr.
    gc.collect()
    return done


def _run_on(
    client: Any,
    fn: Callable[[Any, Any], Any],
    tasks: Sequence[Any],
    shared: Any,
    preload: Sequence[str],
    on_lost: Callable[[Any, str], Any] | None,
    finish: Callable[[Any, Any], None],
) -> None:
    """Submit every task to ``client`` and finish each one as it completes."""
    name = f"research-lib-{uuid.uuid4().hex[:8]}"
    client.register_plugin(TaskPlugin(name, shared, preload), name=name)
    futures = {}
    try:
        for index, task in enumerate(tasks):
            future = client.submit(_call, fn, task, name, key=f"{name}-{index}", pure=False)
            futures[future.key] = (future, task)
        finished = as_completed([f for f, _ in futures.values()])
        for future in finished:
            if future.status == "lost":  # its result went with a retiring worker: rerun
                finished.add(future)
                continue
            task = futures.pop(future.key)[1]
            if future.status == "finished":
                result = future.result()
            elif future.status == "error":
                exc = future.exception()
                result = _lost(on_lost, task, _reason(exc), exc)
            else:  # cancelled: the scheduler dropped it
                result = _lost(on_lost, task, f"the Dask scheduler {future.status} it", None)
            future.release()
            finish(task, result)
    finally:  # Ctrl-C or an error: nothing more runs; what finished was handed over
        if futures:
            with contextlib.suppress(Exception):
                client.cancel([f for f, _ in futures.values()], force=True)
        with contextlib.suppress(Exception):
            client.unregister_worker_plugin(name)


def _reason(exc: BaseException | None) -> str:
    if type(exc).__name__ == "KilledWorker":
        return "its worker process died each time it ran, retry included (killed, or out of memory)"
    return f"{type(exc).__name__}: {exc}"


def _lost(
    on_lost: Callable[[Any, str], Any] | None, task: Any, reason: str, exc: BaseException | None
) -> Any:
    if on_lost is None:
        raise exc if exc is not None else SchedulerError(reason)
    return on_lost(task, reason)
