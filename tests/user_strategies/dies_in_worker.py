"""The breakout strategy, except that its process dies when it starts in a spawned sweep
worker. The tests use it to check what a sweep does when a worker process dies."""

from __future__ import annotations

import multiprocessing
import os

from breakout import Breakout


class DiesInWorker(Breakout):
    """:class:`breakout.Breakout`, exiting its process at once inside a spawned worker."""

    def on_start(self) -> None:
        if multiprocessing.parent_process() is not None:
            os._exit(3)
        super().on_start()
