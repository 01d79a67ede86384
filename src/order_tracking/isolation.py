"""Which files make a batch's load fail: a poison file is set aside, so that it cannot stop every later run.

A batch is read and written in one Spark job, so one unreadable file (a record past the parser's column limit, a
file removed between listing and reading, a failing task) fails the whole write, and, left in `incoming/`, every
later run too. Nothing here runs while the write succeeds: the cost on a healthy batch is nil.

When the write fails, files are read again without writing ("probes"):
- a file no longer in the folder has vanished: nothing to load or move;
- a file the error names, or that bisection finds, and that fails when read alone is a deterministic failure;
- when nothing fails any more, the file the error named failed transiently: it waits for the next run.
If no file explains the failure (a table, a permission, the disk), `isolate` finds nothing and the task fails.
"""

from __future__ import annotations

import csv
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from order_tracking.failures import CSV_PARSER_MAX_COLUMNS, describe
from order_tracking.files import LandingFile

# Read the given files as the load does, without writing; the error if that fails, else None.
Probe = Callable[[Sequence[LandingFile]], "BaseException | None"]


VANISHED = "the file left incoming/ after it was listed"


@dataclass(frozen=True)
class FileFailure:
    """Why one file was taken out of the batch; `reproduced` when it failed again read alone (deterministic)."""

    name: str
    reason: str
    reproduced: bool
    vanished: bool = False


def files_named_in(error: BaseException | str, files: Sequence[LandingFile]) -> list[LandingFile]:
    """The files whose path the error message names (Spark's FAILED_READ_FILE does, as a URI)."""
    message = str(error)
    named = []
    for landing_file in files:
        forms = {landing_file.path, urllib.parse.quote(landing_file.path), urllib.parse.quote(landing_file.path, "/:")}
        # The whole path: `f1.csv` must not match `f1.csv.bak` (Spark ends its sentence with a period).
        pattern = "|".join(re.escape(form) for form in forms)
        if re.search(rf"(?:{pattern})(?=$|[\s'\"),;\]]|\.(?:\s|$))", message):
            named.append(landing_file)
    return named


def widest_record(path: str) -> int:
    """The most fields any record of the file has (Python's csv module: no field count or field size limit)."""
    previous = csv.field_size_limit(sys.maxsize)  # the limit is global to the process: put it back
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            return max((len(record) for record in csv.reader(handle)), default=0)
    finally:
        csv.field_size_limit(previous)


def reason_for(error: BaseException, landing_file: LandingFile) -> str:
    """Why a file that fails when read alone is rejected: `describe(error)`, or, where a record goes past the CSV
    parser's column limit, that record's width. The file decides, not the message, which varies: over Spark Connect
    it may hold only the error class, and a JVM that has thrown the same exception often enough drops its text."""
    if os.path.exists(landing_file.path):
        widest = widest_record(landing_file.path)
        if widest > CSV_PARSER_MAX_COLUMNS:
            return (
                f"a record has {widest:,} fields, more than the CSV parser's column limit of {CSV_PARSER_MAX_COLUMNS:,}"
            )
    return describe(error)


def failing_alone(files: Sequence[LandingFile], probe: Probe) -> dict[str, BaseException]:
    """Files that fail on their own, by bisection over `files` (which are known to fail together): a probe per
    half that fails, down to single files."""
    if not files:
        return {}
    if len(files) == 1:
        error = probe(files)
        return {files[0].name: error} if error is not None else {}
    middle = len(files) // 2
    found: dict[str, BaseException] = {}
    for half in (files[:middle], files[middle:]):
        error = probe(half)
        if error is None:
            continue
        found |= {half[0].name: error} if len(half) == 1 else failing_alone(half, probe)
    return found


def isolate(
    files: Sequence[LandingFile],
    error: BaseException,
    probe: Probe,
    exists: Callable[[str], bool] = os.path.exists,
) -> dict[str, FileFailure]:
    """The files to take out of the batch after `error` failed its load; empty when no single file explains it."""
    vanished = {f.name: FileFailure(f.name, VANISHED, False, vanished=True) for f in files if not exists(f.path)}
    if vanished:
        return vanished
    named = files_named_in(error, files)
    failures = {}
    for landing_file in named:
        alone = probe([landing_file])
        if alone is not None:
            failures[landing_file.name] = FileFailure(landing_file.name, reason_for(alone, landing_file), True)
    if failures:
        return failures
    together = probe(files)
    if together is None:  # nothing fails now: the named files failed transiently
        return {f.name: FileFailure(f.name, describe(error), False) for f in named}
    candidates = {f.name: f for f in files if f not in named}
    return {
        name: FileFailure(name, reason_for(found, candidates[name]), True)
        for name, found in failing_alone(list(candidates.values()), probe).items()
    }
