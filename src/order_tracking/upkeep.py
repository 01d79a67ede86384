"""The maintenance job: prune merged stage rows, compact, VACUUM and expire archived files, safely beside `orders`.

Safety while the `orders` job runs rests on three facts. Only batches already merged (batch id at most the newest
in orders_merge_log) are pruned, and a merged batch's rows are never read or written again by the pipeline.
OPTIMIZE commits the same rows, so readers see no change; the target is not compacted here, as that would conflict
with a concurrent MERGE. A write that loses a race with a concurrent commit
(Delta's optimistic concurrency) is retried here, and the job's own tasks are safe to retry.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import SparkSession

from order_tracking.config import ConfigError, Tables
from order_tracking.contract import BATCH_ID
from order_tracking.literals import sql_literal
from order_tracking.maintenance import data_files
from order_tracking.tables import ensure_stage_tables, ensure_target_tables, sql_string

UPKEEP_PARAMETERS = (
    "catalog",
    "schema",
    "landing_path",
    "archive_path",
    "rejected_path",
    "stage_retention_days",
    "archive_retention_days",
    "vacuum_retention_hours",
    "dry_run",
    "replay",
)
# Delta refuses a shorter VACUUM retention unless its safety check is turned off, which this job never does:
# a reader or writer still using an older snapshot could lose files it needs.
MIN_VACUUM_HOURS = 168
_CONFLICT_ATTEMPTS = 4


def _whole_number(params: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = str(params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _flag(params: Mapping[str, str], name: str) -> bool:
    raw = str(params.get(name) or "false").strip().lower()
    if raw not in ("true", "false", "yes", "no", "1", "0"):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw in ("true", "yes", "1")


@dataclass(frozen=True)
class UpkeepConfig:
    """What the maintenance job keeps and for how long."""

    tables: Tables
    archive_path: str
    stage_retention_days: int = 30
    archive_retention_days: int = 90
    vacuum_retention_hours: int = MIN_VACUUM_HOURS
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.vacuum_retention_hours < MIN_VACUUM_HOURS:
            raise ConfigError(f"vacuum_retention_hours must be at least {MIN_VACUUM_HOURS} (Delta's safe default)")

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> UpkeepConfig:
        for name in ("catalog", "schema", "archive_path"):
            if not str(params.get(name) or "").strip():
                raise ConfigError(f"job parameter {name!r} is required")
        return cls(
            tables=Tables(params["catalog"].strip(), params["schema"].strip()),
            archive_path=params["archive_path"].strip(),
            stage_retention_days=_whole_number(params, "stage_retention_days", 30, 1),
            archive_retention_days=_whole_number(params, "archive_retention_days", 90, 1),
            vacuum_retention_hours=_whole_number(params, "vacuum_retention_hours", MIN_VACUUM_HOURS, MIN_VACUUM_HOURS),
            dry_run=_flag(params, "dry_run"),
        )


@dataclass
class UpkeepSummary:
    """Everything one maintenance run removed (or, in a dry run, would remove)."""

    dry_run: bool
    merged_through: str | None = None
    pruned_through: str | None = None
    stage_rows_pruned: int = 0
    quarantine_rows_pruned: int = 0
    files_before_optimize: dict[str, int] = field(default_factory=dict)
    files_after_optimize: dict[str, int] = field(default_factory=dict)
    vacuumed_files: dict[str, int] = field(default_factory=dict)
    archived_files_deleted: list[str] = field(default_factory=list)
    retries: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def is_write_conflict(error: BaseException) -> bool:
    """Delta's optimistic concurrency lost a race (ConcurrentAppendException, ConcurrentDeleteReadException, ...)."""
    return "Concurrent" in type(error).__name__ or "Concurrent" in str(error)[:300]


def with_retry(action: Callable[[], object], summary: UpkeepSummary, sleep: Callable[[float], None] = time.sleep):
    """Run `action`, again after a write conflict: it re-reads the newest snapshot each time."""
    for attempt in range(_CONFLICT_ATTEMPTS):
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - only conflicts are retried, the rest is raised
            if not is_write_conflict(error) or attempt == _CONFLICT_ATTEMPTS - 1:
                raise
            summary.retries += 1
            sleep(0.5 * (attempt + 1))
    return None


def prune_boundary(spark: SparkSession, tables: Tables, older_than: datetime) -> tuple[str | None, str | None]:
    """(newest merged batch, newest batch that may be pruned): the longest run of oldest batches that are all
    merged and all committed before `older_than`.

    Batch ids grow with each commit and every merge takes all pending batches, so "at most the newest merged id"
    is exactly "merged". A prefix, because a clock that stepped back can date a later batch earlier. Stage rows
    of a crashed, uncommitted attempt sort after every committed batch.
    """
    log, cutoff = tables.file_log, sql_literal(older_than)
    row = spark.sql(
        f"SELECT (SELECT max(batch_id) FROM {tables.merge_log}) AS merged, "
        f"(SELECT min(batch_id) FROM {log} WHERE logged_at >= {cutoff}) AS young"
    ).first()
    merged, young = row["merged"], row["young"]
    if merged is None:
        return None, None
    before_young = f"AND batch_id < {sql_string(young)}" if young is not None else ""
    through = spark.sql(
        f"SELECT max(batch_id) FROM {log} WHERE batch_id <= {sql_string(merged)} {before_young}"
    ).first()[0]
    return merged, through


def prune_merged(spark: SparkSession, tables: Tables, through: str, summary: UpkeepSummary) -> None:
    """Count, then (unless a dry run) delete stage and quarantine rows of batches up to `through`."""
    condition = f"{BATCH_ID} <= {sql_string(through)}"
    counts = spark.sql(
        f"SELECT (SELECT count(*) FROM {tables.stage} WHERE {condition}) AS stage, "
        f"(SELECT count(*) FROM {tables.quarantine} WHERE {condition}) AS quarantine"
    ).first()
    summary.stage_rows_pruned, summary.quarantine_rows_pruned = counts["stage"], counts["quarantine"]
    if summary.dry_run:
        return
    for table, rows in ((tables.stage, counts["stage"]), (tables.quarantine, counts["quarantine"])):
        if rows:
            with_retry(lambda t=table: spark.sql(f"DELETE FROM {t} WHERE {condition}").collect(), summary)


def optimize(spark: SparkSession, table: str, summary: UpkeepSummary) -> None:
    """Compact `table`: the runs read stage, quarantine and the logs whole or by batch."""
    summary.files_before_optimize[table] = data_files(spark, table)
    if summary.dry_run:
        return
    with_retry(lambda: spark.sql(f"OPTIMIZE {table}").collect(), summary)
    summary.files_after_optimize[table] = data_files(spark, table)


# Delta's VACUUM lists a table's folders with this many Spark tasks (10,000 by default): minutes of scheduling
# overhead for a table of a few hundred files on a small cluster or a laptop. Set for the VACUUM only, and only
# where the platform allows the setting.
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


def vacuum(spark: SparkSession, table: str, hours: int, summary: UpkeepSummary) -> None:
    """Delete files no snapshot younger than `hours` needs; a dry run lists them only."""
    previous = _set_if_allowed(spark, LISTING_PARALLELISM, "8")
    try:
        listed = spark.sql(f"VACUUM {table} RETAIN {hours} HOURS DRY RUN").collect()
        summary.vacuumed_files[table] = len(listed)
        if not summary.dry_run and listed:
            spark.sql(f"VACUUM {table} RETAIN {hours} HOURS").collect()
    finally:
        if previous is not None:
            _set_if_allowed(spark, LISTING_PARALLELISM, previous)


def _set_if_allowed(spark: SparkSession, key: str, value: str) -> str | None:
    """Set a session setting; its former value, or None where the platform refuses it."""
    try:
        former = spark.conf.get(key, "10000")
        spark.conf.set(key, value)
    except Exception:  # serverless refuses most settings; VACUUM then runs with the platform's own
        return None
    return former


def expired_archive_folders(archive_path: str, before: date) -> list[str]:
    """Day folders `<archive>/<yyyy>/<mm>/<dd>` (the batch's staging day) older than `before`, oldest first."""
    expired = []
    for year in sorted(_numbered(archive_path)):
        for month in sorted(_numbered(os.path.join(archive_path, year))):
            for day in sorted(_numbered(os.path.join(archive_path, year, month))):
                try:
                    staged_on = date(int(year), int(month), int(day))
                except ValueError:
                    continue
                if staged_on < before:
                    expired.append(os.path.join(archive_path, year, month, day))
    return expired


def _numbered(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        return []
    return [name for name in os.listdir(folder) if name.isdigit() and os.path.isdir(os.path.join(folder, name))]


def expire_archive(archive_path: str, before: date, summary: UpkeepSummary) -> None:
    """Delete archived files staged before `before`; the file log keeps each file's record."""
    for folder in expired_archive_folders(archive_path, before):
        for root, _, names in sorted(os.walk(folder)):
            summary.archived_files_deleted += sorted(
                os.path.relpath(os.path.join(root, n), archive_path) for n in names
            )
        if not summary.dry_run:
            shutil.rmtree(folder)


def run_upkeep(
    spark: SparkSession, config: UpkeepConfig, *, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
) -> UpkeepSummary:
    """One maintenance run: prune, compact, VACUUM, expire the archive. A dry run changes nothing."""
    tables, summary, started = config.tables, UpkeepSummary(dry_run=config.dry_run), now()
    ensure_stage_tables(spark, tables)
    ensure_target_tables(spark, tables)
    merged, through = prune_boundary(spark, tables, started - timedelta(days=config.stage_retention_days))
    summary.merged_through, summary.pruned_through = merged, through
    if through is not None:
        prune_merged(spark, tables, through, summary)
    # Not the target: its OPTIMIZE removes files a concurrent MERGE may have read, and that MERGE then fails
    # (ConcurrentDeleteDeleteException, seen in tests/test_upkeep.py). The merge task compacts it instead.
    for table in (tables.stage, tables.quarantine, tables.file_log, tables.merge_log):
        optimize(spark, table, summary)
    for table in (tables.stage, tables.quarantine, tables.file_log, tables.merge_log, tables.target):
        vacuum(spark, table, config.vacuum_retention_hours, summary)
    expire_archive(config.archive_path, (started - timedelta(days=config.archive_retention_days)).date(), summary)
    return summary
