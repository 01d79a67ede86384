"""A long local run shows it is alive: which task runs, for how long, and what Spark is doing."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator


def spark_activity(tracker) -> str:
    """Spark's active jobs and stages, from a `StatusTracker` (local only: it comes from the SparkContext)."""
    parts = []
    for stage_id in sorted(tracker.getActiveStageIds()):
        info = tracker.getStageInfo(stage_id)
        if info is not None:
            parts.append(f"stage {stage_id} {info.numCompletedTasks}/{info.numTasks} tasks")
    jobs = len(tracker.getActiveJobsIds())
    if not jobs and not parts:
        return ""
    return f"{jobs} Spark job(s)" + (": " + ", ".join(parts) if parts else "")


def _stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Progress:
    """Says when each task starts and ends, and every `interval` seconds that the running one still runs.

    Lines go to `write` (stderr by default, so that stdout keeps only the report and `--json`'s line).
    """

    def __init__(
        self,
        *,
        interval: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        activity: Callable[[], str] = lambda: "",
        write: Callable[[str], None] = _stderr_line,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.activity = activity
        self.write = write
        self.task: str | None = None
        self._started = self._last = 0.0
        self._lock = threading.Lock()

    def task_started(self, key: str) -> None:
        with self._lock:
            self.task, self._started = key, self.clock()
            self._last = self._started
        self.write(f"{key}: started")

    def task_finished(self, key: str, failed: bool = False) -> None:
        with self._lock:
            seconds, self.task = self.clock() - self._started, None
        self.write(f"{key}: {'failed' if failed else 'done'} after {seconds:.1f}s")

    def beat(self) -> str | None:
        """One heartbeat line if a task has run `interval` seconds since the last line, else None."""
        with self._lock:
            now = self.clock()
            if self.task is None or now - self._last < self.interval:
                return None
            self._last = now
            line = f"{self.task}: running for {now - self._started:.0f}s"
        activity = self.activity()
        line += f"; {activity}" if activity else ""
        self.write(line)
        return line

    @contextlib.contextmanager
    def heartbeat(self, poll_seconds: float = 1.0) -> Iterator[Progress]:
        """Beat from a background thread while the body runs."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(poll_seconds):
                self.beat()

        thread = threading.Thread(target=loop, name="order-tracking-heartbeat", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=5)
