"""Task 1: load every settled CSV in the landing folder into the stage table, then archive it.

Commit protocol, so a crash at any point loses nothing and loads nothing twice:
1. rows of a crashed earlier attempt (batch ids newer than the last file-log commit) are deleted;
2. invalid rows are appended to quarantine, valid rows to stage, both tagged with the batch id;
   should that fail, the batch's rows are deleted, the files that cause it are taken out (`isolation`) and the
   rest is written again;
3. one append to the file log commits the batch: it names every file with its identity and outcome;
4. only then are files moved. A rerun finds committed-but-unmoved files in the file log and moves them.

No single file can stop the pipeline: a file that fails when read alone is rejected at once; one whose failure
does not reproduce stays in the landing folder for the next run, and is rejected after MAX_ATTEMPTS failed runs.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from order_tracking import faults
from order_tracking.config import StageConfig, Tables
from order_tracking.contract import BATCH_ID
from order_tracking.files import LandingFile, Listing, from_epoch_micros, list_landing
from order_tracking.loading import FileResult, load_and_commit
from order_tracking.maintenance import compact_when_fragmented
from order_tracking.moves import carry_out, plans_from_log
from order_tracking.reading import batch_id_for
from order_tracking.tables import delete_stage_rows, ensure_stage_tables, sql_string

Clock = Callable[[], datetime]
MAX_IGNORED_NAMES = 20  # the summary names this many; it counts them all
COMMITTED_OUTCOMES = ("staged", "rejected")  # a file logged as 'failed' is still in the landing folder


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class StageSummary:
    """What task 1 did; the notebook's exit value and task 2's task values."""

    batch_id: str
    files_staged: int = 0
    files_skipped: int = 0
    files_rejected: int = 0
    files_failed: int = 0  # left in the landing folder after a failure that did not reproduce: the next run retries
    files_unsettled: int = 0
    # Names in the landing folder the pipeline never reads (not `*.csv`, or a subfolder): `orders.csv.gz` waits
    # there for ever unless someone sees it, and the file log does not know it.
    files_ignored: int = 0
    ignored_names: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    file_log_files_compacted: int | None = None  # data files the file log held before this run compacted it
    files: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def add(self, results: list[FileResult]) -> None:
        """Count each new file's result in, and list it."""
        for result in results:
            self.files.append(
                {
                    "file": result.file.name,
                    "outcome": result.outcome,
                    "reason": result.reason,
                    "rows_staged": result.rows_staged,
                    "rows_quarantined": result.rows_quarantined,
                    "extra_columns": list(result.extra_columns),
                }
            )
            self.files_staged += result.outcome == "staged"
            self.files_rejected += result.outcome == "rejected"
            self.files_failed += result.outcome == "failed"
            self.rows_staged += result.rows_staged
            self.rows_quarantined += result.rows_quarantined
        self.rows_read = self.rows_staged + self.rows_quarantined

    def task_values(self) -> dict[str, object]:
        """The small, JSON-safe part of the summary that task 2 and the job UI see."""
        return {k: v for k, v in self.as_dict().items() if k not in ("files", "ignored_names")}


def wait_for_settled(config: StageConfig, clock: Clock, sleep: Callable[[float], None]) -> Listing:
    """List the landing folder, waiting (bounded by max_wait_seconds) while files are still being written.

    The trigger fires only for new names: a file skipped now as unsettled would wait for the next
    upload, so the run waits for it instead.
    """
    deadline = clock().timestamp() + config.max_wait_seconds
    listing = list_landing(config.landing_path, clock(), config.settle_seconds)
    while listing.unsettled and clock().timestamp() < deadline:
        newest = max(f.mtime for f in listing.unsettled).timestamp()
        now = clock().timestamp()
        sleep(max(0.05, min(newest + config.settle_seconds - now, deadline - now)))
        listing = list_landing(config.landing_path, clock(), config.settle_seconds)
    return listing


@dataclass(frozen=True)
class FileLogState:
    """What the file log says about a run's listed files: one query, as each query on a Delta table costs a snapshot
    and a job."""

    last_batch: str | None  # the newest committed batch
    log_files: int  # data files the file log holds: whether this run's append makes it due for compaction
    committed: dict[tuple, dict]  # identity (name, size, mtime) -> its file-log row, for files staged or rejected
    failed_attempts: dict[tuple, int]  # identity -> runs whose load of it failed without reproducing


def file_log_state(spark: SparkSession, tables: Tables, files: tuple[LandingFile, ...]) -> FileLogState:
    """The newest committed batch id, and what the file log holds about these files."""
    log = spark.table(tables.file_log)
    # PySpark returns a TIMESTAMP as a naive datetime in the Python process's local time zone, so on a machine
    # outside UTC the logged mtime would never match the file's: read epoch microseconds, exact everywhere.
    logged = log.filter(F.col("file_name").isin([f.name for f in files])).select(
        F.lit(False).alias("_newest"), "*", F.unix_micros("file_mtime").alias("file_mtime_micros")
    )
    newest = log.agg(
        F.max("batch_id").alias("batch_id"), F.count_distinct("_metadata.file_path").alias("log_files")
    ).select(F.lit(True).alias("_newest"), "batch_id", "log_files")
    rows = logged.unionByName(newest, allowMissingColumns=True).collect()
    newest_row = next(r for r in rows if r["_newest"])
    state = FileLogState(newest_row["batch_id"], newest_row["log_files"], {}, {})
    for row in rows:
        if row["_newest"]:
            continue
        identity = (row.file_name, row.file_size, from_epoch_micros(row.file_mtime_micros))
        if row.outcome in COMMITTED_OUTCOMES:
            state.committed[identity] = row.asDict()
        else:
            state.failed_attempts[identity] = state.failed_attempts.get(identity, 0) + 1
    return state


def discard_uncommitted_batches(spark: SparkSession, tables: Tables, last: str | None) -> None:
    """Delete stage and quarantine rows of attempts that crashed before their file-log commit.

    Those are the rows of batches after the last committed one (every row, if none was ever committed). Data
    skipping prunes every committed file, and a DELETE that matches nothing commits nothing.
    """
    uncommitted = f"{BATCH_ID} > {sql_string(last)}" if last is not None else "true"
    delete_stage_rows(spark, tables, uncommitted)


def stage_new_files(
    spark: SparkSession,
    config: StageConfig,
    *,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    checkpoint: Callable[[str], None] = faults.checkpoint,
) -> StageSummary:
    """Run task 1 once: stage everything settled in the landing folder, then archive or reject each file."""
    for folder in (config.landing_path, config.archive_path, config.rejected_path):
        os.makedirs(folder, exist_ok=True)
    ensure_stage_tables(spark, config.tables)
    started = clock()
    listing = wait_for_settled(config, clock, sleep)
    state = file_log_state(spark, config.tables, listing.ready)
    discard_uncommitted_batches(spark, config.tables, state.last_batch)
    summary = StageSummary(batch_id=batch_id_for(started, secrets.token_hex(3), after=state.last_batch))
    summary.files_unsettled = len(listing.unsettled)
    summary.files_ignored, summary.ignored_names = len(listing.ignored), list(listing.ignored[:MAX_IGNORED_NAMES])
    checkpoint("stage.listed")

    known = state.committed
    plans = plans_from_log([known[f.identity] | {"path": f.path} for f in listing.ready if f.identity in known])
    summary.files_skipped = len(plans)
    fresh = [f for f in listing.ready if f.identity not in known]
    if fresh:
        failed_before = {f.name: state.failed_attempts.get(f.identity, 0) for f in fresh}
        results, more = load_and_commit(spark, config, fresh, failed_before, summary.batch_id, started, checkpoint)
        summary.add(results)
        plans += more
    carry_out(plans, checkpoint)
    if fresh:  # only a commit adds a file to the log
        summary.file_log_files_compacted = compact_when_fragmented(spark, config.tables.file_log, state.log_files + 1)
    return summary
