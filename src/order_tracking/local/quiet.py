"""Local JVMs print warnings and errors, not the notices every start prints.

Two layers: log4j2 (`log4j2.properties`, given to the JVM) sets Spark's and Hadoop's log levels; what the JVM prints
outside log4j (the JVM's own "Using incubator modules" warning for the module Spark's launcher adds, Ivy's report when
it fetches Delta's jars) is filtered line by line on its way to this process's stderr.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator

LOG4J2_PROPERTIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.properties")

_NOTICES = re.compile(
    r"^WARNING: Using incubator modules: "
    r"|^Using Spark's default log4j profile: "
    r"|^Setting default log level to "
    r"|^To adjust logging level use sc\.setLogLevel"
)
_IVY_STARTS = re.compile(r"^:: loading settings :: |^Ivy Default Cache set to: ")
_IVY_ENDS = re.compile(r"^\s*\d+ artifacts copied, \d+ already retrieved")
_IVY_FAILS = re.compile(r":: problems summary ::|UNRESOLVED DEPENDENCIES|Exception")


class StartupNoticeFilter:
    """Drops start-up notices and a successful Ivy report from a stream of lines, keeping everything else.

    Ivy's report is held back until it ends; a report that fails, or never ends, is let through whole.
    """

    def __init__(self) -> None:
        self._ivy: list[str] | None = None

    def feed(self, line: str) -> list[str]:
        """The lines to print now, given the next line of the stream."""
        if self._ivy is not None:
            self._ivy.append(line)
            if _IVY_ENDS.search(line):
                self._ivy = None
            elif _IVY_FAILS.search(line):
                return self.close()
            return []
        if _IVY_STARTS.search(line):
            self._ivy = [line]
            return []
        return [] if _NOTICES.search(line) else [line]

    def close(self) -> list[str]:
        """The lines still held back, at the end of the stream."""
        held, self._ivy = self._ivy or [], None
        return held


def _forward(read_fd: int, started: threading.Event, to_fd: int) -> None:
    notices = StartupNoticeFilter()
    with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            kept = notices.feed(line)
            started.wait()  # until the JVM has its stderr: before that, to_fd is the pipe itself
            for text in kept:
                os.write(to_fd, text.encode("utf-8"))
        for text in notices.close():
            os.write(to_fd, text.encode("utf-8"))


@contextlib.contextmanager
def jvm_stderr_filtered(stderr_fd: int = 2) -> Iterator[None]:
    """Hold this around the start of a JVM that inherits this process's stderr: the JVM gets a pipe as its stderr,
    for life, and a thread forwards what `StartupNoticeFilter` keeps to this process's stderr (whatever it is then).
    """
    read_fd, write_fd = os.pipe()
    started = threading.Event()
    forwarder = threading.Thread(target=_forward, args=(read_fd, started, stderr_fd), name="jvm-stderr", daemon=True)
    forwarder.start()
    saved = os.dup(stderr_fd)
    os.dup2(write_fd, stderr_fd)
    os.close(write_fd)
    try:
        yield
    except BaseException:
        _restore(saved, stderr_fd, started)
        forwarder.join(timeout=5)  # a JVM that failed to start has said why and exited: print it before we go on
        raise
    _restore(saved, stderr_fd, started)


def _restore(saved: int, stderr_fd: int, started: threading.Event) -> None:
    os.dup2(saved, stderr_fd)
    os.close(saved)
    started.set()
