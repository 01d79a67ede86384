"""Named crash points, so tests can kill the real process at an exact step boundary.

Set ORDER_TRACKING_CRASH_AT=<point> (and optionally ORDER_TRACKING_CRASH_AFTER=<n>, the number of
times the point is passed before the kill). The process then kills itself with SIGKILL: no cleanup,
no finally blocks, exactly like a lost driver. Unset, a checkpoint costs a dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_passes: Counter[str] = Counter()


def _die() -> None:
    """SIGKILL this process. Tests that simulate the kill inside their own process replace this."""
    os.kill(os.getpid(), signal.SIGKILL)


def checkpoint(point: str) -> None:
    """Die here, hard, if the environment asks for it."""
    if os.environ.get("ORDER_TRACKING_CRASH_AT") != point:
        return
    _passes[point] += 1
    if _passes[point] > int(os.environ.get("ORDER_TRACKING_CRASH_AFTER", "0")):
        _die()


# Read failures injected into named files, so tests can make any file fail inside Spark's read, deterministically
# or only in a run's first attempt. Names are separated by "/", which no file name holds.
# A deterministic failure's message names the file but not its path, so that isolation has to find it by bisection;
# a transient one names the path, as Spark's FAILED_READ_FILE does for an I/O error.
FAIL_READ = "ORDER_TRACKING_FAIL_READ"  # these files fail whenever they are read
FAIL_FIRST_READ = "ORDER_TRACKING_FAIL_FIRST_READ"  # these fail in a run's first load attempt only: transiently


def failing_reads(attempt: int) -> dict[str, bool]:
    """The file names whose read must fail in this load attempt of a run (0 is the first), each with whether its
    message names the path (transient failures do); empty unless a test asks."""
    failing = {name: False for name in os.environ.get(FAIL_READ, "").split("/") if name}
    if attempt == 0:
        failing |= {name: True for name in os.environ.get(FAIL_FIRST_READ, "").split("/") if name}
    return failing
