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
