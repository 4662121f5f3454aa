"""Clocks, fresh processes and subprocess timing shared by the benchmarks.

Every measurement records wall time and CPU time: the machine may be shared, and CPU time
(user + system, all threads) is far less disturbed by other processes than wall time.
"""

from __future__ import annotations

import importlib
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]  # the project, so a child can import benchmarks


@dataclass
class Sample:
    """One timed span: wall seconds and CPU seconds (this process's threads and children);
    ``cpu_children`` is the part used by child processes reaped during the span."""

    wall: float = 0.0
    cpu: float = 0.0
    cpu_children: float = 0.0


@dataclass
class Timing:
    """The median of repeated samples, with the samples themselves."""

    wall: float
    cpu: float
    samples: list[Sample] = field(default_factory=list)

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Timing:
        return cls(
            wall=statistics.median(s.wall for s in samples),
            cpu=statistics.median(s.cpu for s in samples),
            samples=list(samples),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.wall,
            "cpu_seconds": self.cpu,
            "samples": [asdict(s) for s in self.samples],
        }


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds of this process (or its reaped children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def max_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MB (Linux reports ``ru_maxrss`` in KB)."""
    return resource.getrusage(who).ru_maxrss / 1024


@contextmanager
def timed() -> Iterator[Sample]:
    """Time the block: wall clock, plus CPU of this process and of children reaped in it."""
    sample = Sample()
    wall, own, kids = time.perf_counter(), cpu_seconds(), cpu_seconds(resource.RUSAGE_CHILDREN)
    try:
        yield sample
    finally:
        sample.wall = time.perf_counter() - wall
        sample.cpu_children = cpu_seconds(resource.RUSAGE_CHILDREN) - kids
        sample.cpu = cpu_seconds() - own + sample.cpu_children


def repeat(func: Callable[[], Any], times: int, setup: Callable[[], Any] | None = None) -> Timing:
    """Median of ``times`` timed calls of ``func`` (``setup`` runs untimed before each)."""
    samples = []
    for _ in range(times):
        if setup is not None:
            setup()
        with timed() as sample:
            func()
        samples.append(sample)
    return Timing.of(samples)


def run_command(args: Sequence[str], times: int, env: dict[str, str] | None = None) -> Timing:
    """Median wall and CPU time of running ``args`` to completion ``times`` times."""
    full_env = {**os.environ, **(env or {})}

    def once() -> None:
        subprocess.run(
            list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env
        )

    return repeat(once, times)


def console_script(name: str) -> Path:
    """The venv's console script ``name`` (next to the running interpreter)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the benchmarks with `uv run`")
    return path


def in_fresh_process(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func(*args, **kwargs)`` in a new Python process; return its result.

    The child is a plain ``python`` subprocess (nothing of this process's ``__main__`` is
    re-imported), so its peak memory is that of the call alone. ``func`` must be a
    module-level function; arguments and result must pickle. The child may start processes of
    its own (a sweep's workers).
    """
    with tempfile.TemporaryDirectory(prefix="bench-child-") as folder:
        task, answer = Path(folder) / "task.pickle", Path(folder) / "answer.pickle"
        task.write_bytes(pickle.dumps((func.__module__, func.__qualname__, args, kwargs)))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        code = "import sys; from benchmarks.timing import child_main; child_main(sys.argv[1])"
        done = subprocess.run(
            [sys.executable, "-c", code, folder], env=env, stderr=subprocess.PIPE, text=True
        )
        if not answer.exists():
            raise RuntimeError(
                f"{func.__name__} died in its process (exit code {done.returncode}):\n"
                f"{done.stderr[-4000:]}"
            )
        status, value = pickle.loads(answer.read_bytes())
    if status == "error":
        raise RuntimeError(f"{func.__name__} failed in its process:\n{value}")
    return value


def child_main(folder: str) -> None:
    """The child side of :func:`in_fresh_process`: run the pickled task, pickle the answer."""
    module, name, args, kwargs = pickle.loads((Path(folder) / "task.pickle").read_bytes())
    try:
        func = getattr(importlib.import_module(module), name)
        outcome = ("ok", func(*args, **kwargs))
    except BaseException:
        outcome = ("error", traceback.format_exc())
    (Path(folder) / "answer.pickle").write_bytes(pickle.dumps(outcome))
