"""Run tasks in this process and in ``workers - 1`` spawned ones, each taking the next task
as soon as it is free.

This process runs tasks itself: it has its imports done, so it starts at once while the
spawned processes import Nautilus. Each spawned process has a pool of its own (a crash breaks
only that one) and a thread that hands it one task at a time. Every task ends as one
:data:`Outcome`; a task whose worker process died is handed to ``crashed``. One engine runs
per process at a time (Nautilus must not run two engines at once in one process).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent import futures
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol

__all__ = ["Outcome", "Tasks", "collect", "hand_out", "outcome", "run_all"]

Outcome = tuple[int, list[str], str | None]  # (task index, run ids, error or None)


class Task(Protocol):
    """Anything picklable with an ``index``."""

    index: int


Run = Callable[[Any], Outcome]  # a module-level function (it is pickled by reference)
Crashed = Callable[[Any, BaseException], Outcome]


class Tasks:
    """The tasks not started yet, taken one at a time by whichever process is free."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self._tasks = deque(tasks)
        self._lock = threading.Lock()
        self.stopped = False

    def take(self) -> Any | None:
        """The next task, or None when there are none left (or the run was stopped)."""
        with self._lock:
            return None if self.stopped or not self._tasks else self._tasks.popleft()

    def give_back(self, task: Task) -> None:
        """Return a task that could not be started, to be taken next."""
        with self._lock:
            self._tasks.appendleft(task)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True


def run_all(
    tasks: Sequence[Task],
    workers: int,
    run: Run,
    crashed: Crashed,
    *,
    progress: bool = False,
    desc: str = "",
) -> list[Outcome]:
    """Every task's outcome (in the order they finished), with a progress bar."""
    from tqdm.auto import tqdm

    outcomes: list[Outcome] = []
    finished: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
    pending = Tasks(tasks)
    helpers = min(workers, len(tasks)) - 1
    bar = tqdm(total=len(tasks), desc=desc, unit="run", disable=not progress)
    context = multiprocessing.get_context("spawn")
    with bar, contextlib.ExitStack() as stack:
        pools = [
            stack.enter_context(ProcessPoolExecutor(max_workers=1, mp_context=context))
            for _ in range(helpers)
        ]
        for pool in pools:
            threading.Thread(
                target=hand_out, args=(pool, pending, finished, run, crashed), daemon=True
            ).start()
        try:
            while len(outcomes) < len(tasks):
                task = pending.take()
                if task is not None:
                    finished.put(run(task))
                # With no task left to take, wait for the other processes' outcomes.
                collect(finished, bar, outcomes, wait=task is None)
        except BaseException:  # Ctrl-C: start no more tasks
            pending.stop()
            for pool in pools:
                pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes


def hand_out(
    pool: ProcessPoolExecutor,
    pending: Tasks,
    finished: queue.SimpleQueue,
    run: Run,
    crashed: Crashed,
) -> None:
    """Feed one spawned process a task at a time until none are left.

    Every task taken ends as one outcome in ``finished``, or is given back (with a ``None``
    in ``finished`` to wake this process) when the pool cannot take it: if the worker died,
    its task goes to ``crashed`` and the rest run elsewhere. After a Ctrl-C (the run is
    stopped) nothing more is recorded.
    """
    while (task := pending.take()) is not None:
        try:
            future = pool.submit(run, task)
        except Exception:  # broken, shut down, or no process could be started
            pending.give_back(task)
            finished.put(None)
            return
        futures.wait([future])
        if pending.stopped:
            return
        try:
            done = outcome(future, task, crashed)
        except BaseException as exc:  # recording the dead worker's task failed as well
            done = (task.index, [], f"{type(exc).__name__}: {exc}")
        finished.put(done)


def collect(finished: queue.SimpleQueue, bar: Any, outcomes: list[Outcome], wait: bool) -> None:
    """Move finished outcomes to ``outcomes`` (waiting for one if ``wait``), advancing the bar.

    A ``None`` in the queue only wakes this process to look for tasks given back.
    """
    try:
        item = finished.get(block=wait)
        while True:
            if item is not None:
                outcomes.append(item)
                _advance(bar, outcomes)
            item = finished.get_nowait()
    except queue.Empty:
        pass


def outcome(future: Future, task: Task, crashed: Crashed) -> Outcome:
    """A task's outcome; a worker that died (not a failed run) goes to ``crashed``."""
    try:
        return future.result()
    except BaseException as exc:  # BrokenProcessPool, or SystemExit raised in the worker
        return crashed(task, exc)


def _advance(bar: Any, outcomes: list[Outcome]) -> None:
    bar.set_postfix(failed=sum(1 for *_, error in outcomes if error is not None), refresh=False)
    bar.update(1)
