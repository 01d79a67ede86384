"""Task 1: load every settled CSV in the landing folder into the stage table, then archive it.

Commit protocol, so a crash at any point loses nothing and loads nothing twice:
1. rows of a crashed earlier attempt (batch ids newer than the last file-log commit) are deleted;
2. valid rows are appended to stage, invalid rows to quarantine, both tagged with the batch id;
3. one append to the file log commits the batch: it names every file with its identity and outcome;
4. only then are files moved. A rerun finds moved-not-yet files in the file log and just moves them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from order_tracking import faults
from order_tracking.config import StageConfig, Tables
from order_tracking.contract import BATCH_ID, CONTRACT_COLUMNS, LINEAGE_COLUMNS, SOURCE_FILE, extra_columns
from order_tracking.files import LandingFile, Listing, archive_folder, list_landing, sniff
from order_tracking.moves import FilePlan, carry_out, plans_from_log
from order_tracking.reading import batch_id_for, read_landed_files
from order_tracking.tables import ensure_stage_tables
from order_tracking.transforms import RAW_RECORD, REASON, filter_invalid, filter_valid

Clock = Callable[[], datetime]


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
        pause = max(0.05, min(newest + config.settle_seconds - clock().timestamp(), deadline - clock().timestamp()))
        sleep(pause)
        listing = list_landing(config.landing_path, clock(), config.settle_seconds)
    return listing


def discard_uncommitted_batches(spark: SparkSession, tables: Tables) -> list[str]:
    """Delete stage and quarantine rows of attempts that crashed before their file-log commit."""
    last = spark.table(tables.file_log).agg(F.max("batch_id")).first()[0]
    orphans: set[str] = set()
    for table in (tables.stage, tables.quarantine):
        rows = spark.table(table).select(BATCH_ID)
        if last is not None:
            rows = rows.filter(F.col(BATCH_ID) > F.lit(last))  # data skipping prunes every committed file
        orphans |= {r[0] for r in rows.distinct().collect()}
    if orphans:
        listed = ", ".join("'" + b.replace("'", "") + "'" for b in sorted(orphans))
        for table in (tables.stage, tables.quarantine):
            spark.sql(f"DELETE FROM {table} WHERE {BATCH_ID} IN ({listed})")
    return sorted(orphans)


def logged_files(spark: SparkSession, tables: Tables, files: tuple[LandingFile, ...]) -> dict[tuple, dict]:
    """File-log rows for files whose identity (name, size, mtime) was already committed."""
    if not files:
        return {}
    names = spark.createDataFrame([(f.name,) for f in files], "file_name STRING")
    rows = spark.table(tables.file_log).join(names, "file_name").collect()
    return {(r.file_name, r.file_size, r.file_mtime.replace(tzinfo=timezone.utc)): r.asDict() for r in rows}


def _stage_rows(rows: DataFrame, staged_at: datetime) -> DataFrame:
    valid = filter_valid(rows)
    extras = sorted({c for c in valid.columns if c not in CONTRACT_COLUMNS and not c.startswith("_")})
    return valid.select(*CONTRACT_COLUMNS, *extras, *LINEAGE_COLUMNS, F.lit(staged_at).alias("_staged_at"))


def _quarantine_rows(rows: DataFrame, staged_at: datetime) -> DataFrame:
    return filter_invalid(rows).select(
        BATCH_ID, SOURCE_FILE, "_file_mtime", "_source_row", F.col(REASON).alias("reason"),
        F.col(RAW_RECORD).alias("raw_record"), "tracking_num", F.lit(staged_at).alias("_quarantined_at"),
    )


def _counts_by_file(spark: SparkSession, table: str, batch_id: str) -> dict[str, int]:
    rows = spark.table(table).filter(F.col(BATCH_ID) == batch_id).groupBy(SOURCE_FILE).count().collect()
    return {r[SOURCE_FILE]: r["count"] for r in rows}


def stage_new_files(
    spark: SparkSession,
    config: StageConfig,
    *,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    checkpoint: Callable[[str], None] = faults.checkpoint,
) -> StageSummary:
    """Run task 1 once: stage everything settled in the landing folder, then archive or reject each file."""
    tables = config.tables
    ensure_stage_tables(spark, tables)
    discard_uncommitted_batches(spark, tables)
    started = clock()
    summary = StageSummary(batch_id=batch_id_for(started, secrets.token_hex(3)))
    listing = wait_for_settled(config, clock, sleep)
    summary.files_unsettled = len(listing.unsettled)
    checkpoint("stage.listed")

    known = logged_files(spark, tables, listing.ready)
    plans = plans_from_log([known[f.identity] | {"path": f.path} for f in listing.ready if f.identity in known])
    summary.files_skipped = len(plans)
    fresh = [f for f in listing.ready if f.identity not in known]
    if fresh:
        plans += _load(spark, config, fresh, summary, started, checkpoint)
    carry_out(plans, checkpoint)
    return summary


def _load(spark, config, fresh, summary, started, checkpoint) -> list[FilePlan]:
    tables = config.tables
    archive = archive_folder(config.archive_path, summary.batch_id, started)
    rejected = archive_folder(config.rejected_path, summary.batch_id, started)
    loadable, reasons = [], {}
    for landing_file in fresh:
        sniffed = sniff(landing_file.path)
        if sniffed.header.ok:
            loadable.append((landing_file, sniffed.header.columns, sniffed.has_quotes))
        else:
            reasons[landing_file.name] = sniffed.header.reason
    staged, quarantined = {}, {}
    if loadable:
        rows = read_landed_files(spark, loadable, summary.batch_id)
        _quarantine_rows(rows, started).write.format("delta").mode("append").saveAsTable(tables.quarantine)
        checkpoint("stage.quarantine_written")
        (_stage_rows(rows, started).write.format("delta").mode("append").option("mergeSchema", "true")
         .saveAsTable(tables.stage))
        checkpoint("stage.stage_written")
        staged = _counts_by_file(spark, tables.stage, summary.batch_id)
        quarantined = _counts_by_file(spark, tables.quarantine, summary.batch_id)
    columns_by_name = {f.name: columns for f, columns, _ in loadable}
    log_rows, plans = [], []
    for f in fresh:
        reason = reasons.get(f.name)
        n_staged, n_quarantined = staged.get(f.name, 0), quarantined.get(f.name, 0)
        outcome, folder = ("rejected", rejected) if reason else ("staged", archive)
        log_rows.append((summary.batch_id, f.name, f.size, f.mtime, outcome, reason, n_staged + n_quarantined,
                         n_staged, n_quarantined, folder, started))
        plans.append(FilePlan(f.path, f.name, folder, reason))
        summary.files.append({"file": f.name, "outcome": outcome, "reason": reason, "rows_staged": n_staged,
                              "rows_quarantined": n_quarantined,
                              "extra_columns": list(extra_columns(columns_by_name.get(f.name, ())))})
        if reason:
            summary.files_rejected += 1
        else:
            summary.files_staged += 1
            summary.rows_staged += n_staged
            summary.rows_quarantined += n_quarantined
    summary.rows_read = summary.rows_staged + summary.rows_quarantined
    spark.createDataFrame(log_rows, spark.table(tables.file_log).schema).write.format("delta").mode(
        "append").saveAsTable(tables.file_log)
    checkpoint("stage.committed")
    return plans
