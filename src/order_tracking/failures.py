"""Failures said in one short line: the error class and the cause, never the record text Spark puts in a message.

Spark's message for a CSV record it cannot parse holds the whole record (tens of kilobytes for a broken export) and
the parser's settings; a reason in the file log, a `.reason.txt` or a task's last line must stay readable.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

MAX_REASON_CHARS = 300
CSV_PARSER_MAX_COLUMNS = 20480  # Spark's CSV option maxColumns, left at its default

_ERROR_CLASS = re.compile(r"\[([A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*)\]")
_COLUMN_LIMIT = re.compile(r"exceeded limit of (\d+) columns|Index (\d+) out of bounds for length \2")
_CAUSED_BY = re.compile(r"^Caused by: ([\w.$]+)(?::\s*(.*))?$", re.MULTILINE)
_VANISHED = re.compile(r"FileNotFoundException|PATH_NOT_FOUND|No such file or directory|does not exist")
# What follows these in a message is the data itself.
_RECORD_TEXT = re.compile(r"(Malformed CSV record|Parsed content|Internal state when error was thrown).*", re.DOTALL)


def spark_errors() -> tuple[type[BaseException], ...]:
    """What a failed Spark action raises: PySpark's errors (classic and Connect), and py4j's for a JVM exception
    PySpark does not convert (a classic session's SparkException, as a failed file read raises)."""
    from pyspark.errors import PySparkException

    try:
        from py4j.protocol import Py4JJavaError
    except ImportError:  # a Spark Connect client without py4j
        return (PySparkException,)
    return (PySparkException, Py4JJavaError)


class TaskFailed(RuntimeError):
    """A task failed for a reason no single file explains (a table, a permission, the disk): said in one line."""


def error_class(message: str) -> str | None:
    """Spark's error class (`FAILED_READ_FILE.NO_HINT`), the first one the message names."""
    found = _ERROR_CLASS.search(message)
    return found.group(1) if found else None


def column_limit(message: str) -> int | None:
    """The parser's column limit, when the message says a record went past it."""
    found = _COLUMN_LIMIT.search(message)
    return int(found.group(1) or found.group(2)) if found else None


def _first_line(text: str) -> str:
    text = _RECORD_TEXT.sub("", _ERROR_CLASS.sub("", text, count=1)).strip()
    return text.splitlines()[0].strip() if text else ""


def _cause(message: str) -> str:
    """The innermost `Caused by:` of a JVM trace (the root cause), or the message's own first line."""
    causes = _CAUSED_BY.findall(message)
    if causes:
        name, text = causes[-1]
        return f"{name.rsplit('.', 1)[-1]}: {_first_line(text or '')}".rstrip(": ")
    return _first_line(message)


def describe(error: BaseException | str) -> str:
    """One line, at most MAX_REASON_CHARS: `[ERROR_CLASS] cause`."""
    message = str(error)
    limit = column_limit(message)
    if limit is not None:
        cause = f"a record has more fields than the CSV parser's column limit of {limit:,}"
    elif _VANISHED.search(message):
        cause = "the file was removed or renamed while it was being read"
    else:
        cause = _cause(message) or type(error).__name__
    found = error_class(message)
    line = f"[{found}] {cause}" if found and found not in cause else cause
    return clip(line)


def clip(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """`text` on one line, cut to `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


@contextlib.contextmanager
def said_in_one_line(task: str) -> Iterator[None]:
    """Around a notebook's work: a failure ends the task with one line naming the cause, not a page of record text.

    The original error is not chained (`from None`): its message may hold the whole record that broke it.
    """
    try:
        yield
    except TaskFailed:
        raise
    except Exception as error:  # noqa: BLE001 - every failure is reported the same way
        raise TaskFailed(f"{task} failed: {describe(error)}") from None
