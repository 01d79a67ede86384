"""Task 1's load: write a batch's rows, setting aside the files that make the write fail, then commit the batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import SparkSession

from order_tracking import faults
from order_tracking.config import StageConfig, Tables
from order_tracking.contract import BATCH_ID, HeaderCheck, extra_columns
from order_tracking.failures import TaskFailed, describe, spark_errors
from order_tracking.files import LandingFile, Sniff, archive_folder, sniff
from order_tracking.isolation import VANISHED, FileFailure, isolate
from order_tracking.maintenance import append_to_log
from order_tracking.moves import FilePlan
from order_tracking.reading import Loadable
from order_tracking.tables import delete_stage_rows, sql_string
from order_tracking.writing import Counts, probe_batch, write_batch

# Runs in which a file's load may fail without the failure reproducing (an I/O error, a lost task) before the
# file is rejected: it can hold the folder up for a few runs, never for good.
MAX_ATTEMPTS = 3
NO_ROWS_READ = "Spark read no rows from this file although it has rows after its header"


@dataclass(frozen=True)
class FileResult:
    """What the batch made of one new file: staged, rejected (moved aside with the reason) or failed (left)."""

    file: LandingFile
    outcome: str
    reason: str | None = None
    rows_staged: int = 0
    rows_quarantined: int = 0
    extra_columns: tuple[str, ...] = ()

    def plan(self, folders: dict[str, str]) -> FilePlan | None:
        """Where the file goes once the batch is committed; a failed file stays where it is."""
        if self.outcome == "failed":
            return None
        return FilePlan(self.file.path, self.file.name, folders[self.outcome], self.reason)


def write_isolating(
    spark: SparkSession,
    tables: Tables,
    loadable: Loadable,
    batch_id: str,
    started: datetime,
    checkpoint: Callable[[str], None],
) -> tuple[Counts, dict[str, FileFailure]]:
    """Write the batch; while its write fails, take out the files that cause it and write the rest again.

    Returns the counts written and the files set aside. Raises TaskFailed when no single file explains a failure.
    """
    sniffed = {f.name: s for f, s in loadable}
    set_aside: dict[str, FileFailure] = {}
    remaining = list(loadable)
    attempt = 0

    def probe(files: Sequence[LandingFile]) -> BaseException | None:
        try:
            probe_batch(spark, [(f, sniffed[f.name]) for f in files], batch_id, faults.failing_reads(1))
        except spark_errors() as failure:
            return failure
        return None

    while remaining:
        try:
            counts = write_batch(spark, tables, remaining, batch_id, started, checkpoint, faults.failing_reads(attempt))
            return counts, set_aside
        except spark_errors() as error:
            checkpoint("stage.isolating")
            # A failed write leaves stage rows behind when the quarantine write was the one that failed.
            delete_stage_rows(spark, tables, f"{BATCH_ID} = {sql_string(batch_id)}")
            found = isolate([f for f, _ in remaining], error, probe)
            if not found:
                raise TaskFailed(
                    f"the batch failed to load and no single file explains it: {describe(error)}"
                ) from None
            set_aside |= found
            remaining = [(f, s) for f, s in remaining if f.name not in found]
            attempt += 1
            checkpoint("stage.isolated")
    return {}, set_aside


def file_result(
    landing_file: LandingFile, sniffed: Sniff, counts: Counts, failure: FileFailure | None, failed_before: int
) -> FileResult:
    """The outcome of one file in this batch (`failed_before`: earlier runs whose load of it failed)."""
    columns = extra_columns(sniffed.header.columns)
    if not sniffed.header.ok:
        return FileResult(landing_file, "rejected", sniffed.header.reason)
    if failure is not None and failure.vanished:  # nothing left to load or move; should it come back, it is new
        return FileResult(landing_file, "failed", failure.reason)
    if failure is not None and failure.reproduced:
        return FileResult(landing_file, "rejected", f"unreadable: {failure.reason}")
    if failure is not None and failed_before + 1 >= MAX_ATTEMPTS:
        return FileResult(landing_file, "rejected", f"gave up after {MAX_ATTEMPTS} attempts: {failure.reason}")
    if failure is not None:
        return FileResult(landing_file, "failed", f"attempt {failed_before + 1} of {MAX_ATTEMPTS}: {failure.reason}")
    staged, quarantined = (
        counts.get((landing_file.name, "staged"), 0),
        counts.get((landing_file.name, "quarantined"), 0),
    )
    if sniffed.has_rows and staged + quarantined == 0:
        return FileResult(landing_file, "rejected", NO_ROWS_READ)
    return FileResult(landing_file, "staged", None, staged, quarantined, columns)


def _unopened(landing_file: LandingFile, error: OSError) -> FileFailure:
    if isinstance(error, FileNotFoundError):
        return FileFailure(landing_file.name, VANISHED, False, vanished=True)
    return FileFailure(landing_file.name, f"could not be opened: {type(error).__name__}: {error.strerror}", True)


def load_and_commit(
    spark: SparkSession,
    config: StageConfig,
    fresh: list[LandingFile],
    failed_before: dict[str, int],
    batch_id: str,
    started: datetime,
    checkpoint: Callable[[str], None],
) -> tuple[list[FileResult], list[FilePlan]]:
    """Read, write and commit the new files; each file's result, and where each file goes next."""
    sniffed, unopened = {}, {}
    for landing_file in fresh:
        try:
            sniffed[landing_file.name] = sniff(landing_file.path)
        except OSError as error:  # removed since the listing, or not readable: that file alone
            unopened[landing_file.name] = _unopened(landing_file, error)
            sniffed[landing_file.name] = Sniff(HeaderCheck())
    loadable = [(f, sniffed[f.name]) for f in fresh if sniffed[f.name].header.ok and f.name not in unopened]
    counts, set_aside = write_isolating(spark, config.tables, loadable, batch_id, started, checkpoint)
    set_aside |= unopened
    results = [
        file_result(f, sniffed[f.name], counts, set_aside.get(f.name), failed_before.get(f.name, 0)) for f in fresh
    ]
    folders = {
        "staged": archive_folder(config.archive_path, batch_id, started),
        "rejected": archive_folder(config.rejected_path, batch_id, started),
        "failed": config.landing_path,
    }
    log_rows = [
        (
            batch_id,
            r.file.name,
            r.file.size,
            r.file.mtime,
            r.outcome,
            r.reason,
            r.rows_staged + r.rows_quarantined,
            r.rows_staged,
            r.rows_quarantined,
            folders[r.outcome],
            started,
        )
        for r in results
    ]
    append_to_log(spark, config.tables.file_log, log_rows)
    checkpoint("stage.committed")
    return results, [plan for plan in (r.plan(folders) for r in results) if plan is not None]
