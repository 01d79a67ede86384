"""Task 1: load every settled CSV in the landing folder into the stage table, then archive it.

Commit protocol, so a crash at any point loses nothing and loads nothing twice:
1. rows of a crashed earlier attempt (batch ids newer than the last file-log commit) are deleted;
2. invalid rows are appended to quarantine, valid rows to stage, both tagged with the batch id;
3. one append to the file log commits the batch: it names every file with its identity and outcome;
4. only then are files moved. A rerun finds committed-but-unmoved files in the file log and moves them.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from order_tracking import faults
from order_tracking.config import StageConfig, Tables
from order_tracking.contract import BATCH_ID, CONTRACT_COLUMNS, LINEAGE_COLUMNS, SOURCE_FILE, extra_columns
from order_tracking.files import LandingFile, Listing, archive_folder, from_epoch_micros, list_landing, sniff
from order_tracking.maintenance import append_to_log, compact_when_fragmented
from order_tracking.moves import FilePlan, carry_out, plans_from_log
from order_tracking.reading import Loadable, batch_id_for, read_landed_files
from order_tracking.tables import ensure_stage_tables, sql_string
from order_tracking.transforms import RAW_RECORD, REASON, filter_invalid, filter_valid

Clock = Callable[[], datetime]
_MAX_OBSERVED_FILES = 50  # two counts per file in one aggregate; beyond this, read the counts back


class StageIntegrityError(RuntimeError):
    """Spark's reading disagrees with the file itself; nothing is committed, so nothing is lost."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class StageSummary:
    """What task 1 did; the notebook's exit value and task 2's task values."""

    batch_id: str
    files_staged: int = 0
    files_skipped: int = 0
    files_rejected: int = 0
    files_unsettled: int = 0
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    file_log_files_compacted: int | None = None  # data files the file log held before this run compacted it
    files: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def task_values(self) -> dict[str, object]:
        """The small, JSON-safe part of the summary that task 2 and the job UI see."""
        return {k: v for k, v in self.as_dict().items() if k != "files"}


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


def file_log_state(
    spark: SparkSession, tables: Tables, files: tuple[LandingFile, ...]
) -> tuple[str | None, dict[tuple, dict]]:
    """The newest committed batch id, and the file-log rows of files whose identity (name, size, mtime) was
    already committed: one query, as each query on a Delta table costs a snapshot and a job."""
    log = spark.table(tables.file_log)
    # PySpark returns a TIMESTAMP as a naive datetime in the Python process's local time zone, so on a machine
    # outside UTC the logged mtime would never match the file's: read epoch microseconds, exact everywhere.
    logged = log.filter(F.col("file_name").isin([f.name for f in files])).select(
        F.lit(False).alias("_newest"), "*", F.unix_micros("file_mtime").alias("file_mtime_micros")
    )
    newest = log.agg(F.max("batch_id").alias("batch_id")).select(F.lit(True).alias("_newest"), "batch_id")
    rows = logged.unionByName(newest, allowMissingColumns=True).collect()
    last = next(r["batch_id"] for r in rows if r["_newest"])
    known = {
        (r.file_name, r.file_size, from_epoch_micros(r.file_mtime_micros)): r.asDict() for r in rows if not r["_newest"]
    }
    return last, known


def discard_uncommitted_batches(spark: SparkSession, tables: Tables, last: str | None) -> None:
    """Delete stage and quarantine rows of attempts that crashed before their file-log commit.

    Those are the rows of batches after the last committed one (every row, if none was ever committed). Data
    skipping prunes every committed file, and a DELETE that matches nothing commits nothing.
    """
    uncommitted = f"{BATCH_ID} > {sql_string(last)}" if last is not None else "true"
    for table in (tables.stage, tables.quarantine):
        spark.sql(f"DELETE FROM {table} WHERE {uncommitted}")


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
    last, known = file_log_state(spark, config.tables, listing.ready)
    discard_uncommitted_batches(spark, config.tables, last)
    summary = StageSummary(batch_id=batch_id_for(started, secrets.token_hex(3), after=last))
    summary.files_unsettled = len(listing.unsettled)
    checkpoint("stage.listed")

    plans = plans_from_log([known[f.identity] | {"path": f.path} for f in listing.ready if f.identity in known])
    summary.files_skipped = len(plans)
    fresh = [f for f in listing.ready if f.identity not in known]
    if fresh:
        plans += _load_and_commit(spark, config, fresh, summary, started, checkpoint)
    carry_out(plans, checkpoint)
    if fresh:  # only a commit adds a file to the log
        summary.file_log_files_compacted = compact_when_fragmented(spark, config.tables.file_log)
    return summary


def _stage_rows(rows: DataFrame, staged_at: datetime) -> DataFrame:
    valid = filter_valid(rows)
    extras = sorted(c for c in valid.columns if c not in CONTRACT_COLUMNS and not c.startswith("_"))
    return valid.select(*CONTRACT_COLUMNS, *extras, *LINEAGE_COLUMNS, F.lit(staged_at).alias("_staged_at"))


def _quarantine_rows(rows: DataFrame, staged_at: datetime) -> DataFrame:
    return filter_invalid(rows).select(
        BATCH_ID,
        SOURCE_FILE,
        "_file_mtime",
        "_source_row",
        F.col(REASON).alias("reason"),
        F.col(RAW_RECORD).alias("raw_record"),
        "tracking_num",
        F.lit(staged_at).alias("_quarantined_at"),
    )


def _counts_by_file(spark: SparkSession, tables: Tables, batch_id: str) -> dict[tuple[str, str], int]:
    """(file, 'staged' | 'quarantined') -> rows, read back from what was written for this batch."""

    def per_file(table: str, kind: str) -> DataFrame:
        return (
            spark.table(table)
            .filter(F.col(BATCH_ID) == batch_id)
            .groupBy(SOURCE_FILE)
            .count()
            .withColumn("kind", F.lit(kind))
        )

    counted = per_file(tables.stage, "staged").unionByName(per_file(tables.quarantine, "quarantined"))
    return {(r[SOURCE_FILE], r["kind"]): r["count"] for r in counted.collect()}


def _observed(rows: DataFrame, names: list[str]) -> tuple[DataFrame, Observation]:
    """Count rows per file and outcome while the stage write runs, instead of reading them back after.

    One count per file and outcome, so only for a handful of files; `_write_rows` reads back otherwise.
    """
    invalid = F.col(REASON).isNotNull()
    counts = [F.count_if(invalid).alias("quarantined")]
    for i, name in enumerate(names):
        in_file = F.col(SOURCE_FILE) == F.lit(name)
        counts += [F.count_if(in_file & ~invalid).alias(f"s{i}"), F.count_if(in_file & invalid).alias(f"q{i}")]
    observation = Observation()
    return rows.observe(observation, *counts), observation


def _write_rows(
    spark: SparkSession,
    config: StageConfig,
    loadable: Loadable,
    batch_id: str,
    started: datetime,
    checkpoint: Callable[[str], None],
) -> dict[tuple[str, str], int]:
    """Append valid rows to stage, and invalid ones (if any) to quarantine, reading the files once when all are valid.

    Counting during the stage write tells whether any row is invalid: when none is, the quarantine write
    (a second parse of every file) and the read-back of the counts are both skipped.
    """
    rows = read_landed_files(spark, loadable, batch_id)
    names = [f.name for f, _ in loadable]
    observe_files = names if len(names) <= _MAX_OBSERVED_FILES else []
    observed, observation = _observed(rows, observe_files)
    (
        _stage_rows(observed, started)
        .write.format("delta")
        .mode("append")
        .option("mergeSchema", "true")
        .saveAsTable(config.tables.stage)
    )
    checkpoint("stage.stage_written")
    metrics = observation.get
    # Over Spark Connect (serverless) a Delta write reports an empty metrics row, as the write runs its own
    # query; without counts, write quarantine and read the counts back, as when there are too many files.
    observed_counts = "quarantined" in metrics
    if not observed_counts or metrics["quarantined"]:
        _quarantine_rows(rows, started).write.format("delta").mode("append").saveAsTable(config.tables.quarantine)
    checkpoint("stage.quarantine_written")
    if not observe_files or not observed_counts:
        return _counts_by_file(spark, config.tables, batch_id)
    counts = {(name, "staged"): metrics[f"s{i}"] for i, name in enumerate(names)}
    return counts | {(name, "quarantined"): metrics[f"q{i}"] for i, name in enumerate(names)}


def _load_and_commit(
    spark: SparkSession,
    config: StageConfig,
    fresh: list[LandingFile],
    summary: StageSummary,
    started: datetime,
    checkpoint: Callable[[str], None],
) -> list[FilePlan]:
    """Read, write and commit the new files; return where each file goes next."""
    sniffed = {f.name: sniff(f.path) for f in fresh}
    loadable = [(f, sniffed[f.name]) for f in fresh if sniffed[f.name].header.ok]
    counts = _write_rows(spark, config, loadable, summary.batch_id, started, checkpoint) if loadable else {}
    folders = {
        "staged": archive_folder(config.archive_path, summary.batch_id, started),
        "rejected": archive_folder(config.rejected_path, summary.batch_id, started),
    }
    log_rows, plans = [], []
    for f in fresh:
        reason = sniffed[f.name].header.reason
        outcome = "rejected" if reason else "staged"
        staged, quarantined = counts.get((f.name, "staged"), 0), counts.get((f.name, "quarantined"), 0)
        if sniffed[f.name].has_rows and not reason and staged + quarantined == 0:
            raise StageIntegrityError(f"{f.name}: the file has rows after its header but none were read")
        log_rows.append(
            (
                summary.batch_id,
                f.name,
                f.size,
                f.mtime,
                outcome,
                reason,
                staged + quarantined,
                staged,
                quarantined,
                folders[outcome],
                started,
            )
        )
        plans.append(FilePlan(f.path, f.name, folders[outcome], reason))
        summary.files.append(
            {
                "file": f.name,
                "outcome": outcome,
                "reason": reason,
                "rows_staged": staged,
                "rows_quarantined": quarantined,
                "extra_columns": list(extra_columns(sniffed[f.name].header.columns)),
            }
        )
        summary.files_rejected += bool(reason)
        summary.files_staged += not reason
        summary.rows_staged += staged
        summary.rows_quarantined += quarantined
    summary.rows_read = summary.rows_staged + summary.rows_quarantined
    append_to_log(spark, config.tables.file_log, log_rows)
    checkpoint("stage.committed")
    return plans
