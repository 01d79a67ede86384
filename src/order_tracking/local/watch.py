"""The file-arrival trigger on a laptop: poll the landing folder and run the job as Databricks would."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from order_tracking.files import is_candidate


def snapshot(landing: str) -> dict[str, tuple[int, int]]:
    """Candidate files in the landing folder: name -> (size, mtime_ns)."""
    result = {}
    with os.scandir(landing) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False) and is_candidate(entry.name):
                stat = entry.stat(follow_symlinks=False)
                result[entry.name] = (stat.st_size, stat.st_mtime_ns)
    return result


class Watcher:
    """Fires `run` when new file names have appeared and the folder has been quiet long enough.

    Like the Databricks trigger: only new names fire (a file left behind does not fire again), a
    trigger waits `wait_after_last_change` after the last change, runs are at least
    `min_time_between_triggers` apart, and one run at a time (a trigger during a run is queued,
    since the loop looks again as soon as the run ends).
    """

    def __init__(
        self,
        landing: str,
        run: Callable[[], Any],
        *,
        wait_after_last_change: float,
        min_time_between_triggers: float,
        poll_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.landing = landing
        self.run = run
        self.wait_after_last_change = wait_after_last_change
        self.min_time_between_triggers = min_time_between_triggers
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.stop = threading.Event()
        self.runs: list[Any] = []
        self._seen: set[str] = set()
        self._last_state: dict[str, tuple[int, int]] = {}
        self._last_change = clock()
        self._last_trigger: float | None = None

    def due(self) -> bool:
        """One poll: is a run due now?"""
        state = snapshot(self.landing)
        now = self.clock()
        if state != self._last_state:
            self._last_state, self._last_change = state, now
        self._seen &= set(state)  # a name that left and lands again is a new arrival
        new_names = set(state) - self._seen
        if not new_names or now - self._last_change < self.wait_after_last_change:
            return False
        return self._last_trigger is None or now - self._last_trigger >= self.min_time_between_triggers

    def loop(self, max_runs: int | None = None) -> None:
        """Poll until stopped (or until `max_runs` runs have finished)."""
        while not self.stop.is_set():
            if self.due():
                self._seen |= set(self._last_state)
                self._last_trigger = self.clock()
                self.runs.append(self.run())
                if max_runs is not None and len(self.runs) >= max_runs:
                    return
                continue
            self.stop.wait(self.poll_seconds)


def install_interrupt_handler(watcher: Watcher) -> None:
    """Ctrl-C asks the watcher to stop after the run in progress instead of killing it mid-commit."""

    def request_stop(signum: int, frame: object) -> None:
        print("stopping after the run in progress...", flush=True)
        watcher.stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
