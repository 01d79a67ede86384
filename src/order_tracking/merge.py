"""Task 2: merge every pending stage batch into the target, SCD type 1, newest status per parcel wins."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from order_tracking import faults
from order_tracking.config import Tables, TargetConfig
from order_tracking.contract import BATCH_ID, EVENT_TIME, KEY, ORDER_COLUMNS
from order_tracking.maintenance import append_to_log, compact_when_fragmented
from order_tracking.tables import ensure_target_tables, sql_string
from order_tracking.transforms import latest_per_key

UPDATED_AT = "_updated_at"
# Every merge leaves a few small files and deletion vectors in the target. On a 1M-row target aged to 229 files, the
# merge task took 26.8 s before OPTIMIZE and 18.7 s after, and Z-ordering by key did not pay (22.6 s): `make
# bench-aged`, docs/decisions.md. The merge task compacts, not the maintenance job: an OPTIMIZE that commits while a
# MERGE runs fails that MERGE, and merges never run beside each other (one job run at a time).
TARGET_COMPACTION_VERSIONS = 50
_NOT_COMPARED = {*ORDER_COLUMNS[1:], "_staged_at", UPDATED_AT}


@dataclass
class MergeSummary:
    """What task 2 did; the notebook's exit value."""

    merge_id: str
    batches: list[str] = field(default_factory=list)
    rows_pending: int = 0
    source_rows: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    target_version: int | None = None
    merge_log_files_compacted: int | None = None  # data files the merge log held before this run compacted it
    target_compacted: bool = False  # this run compacted the target (every TARGET_COMPACTION_VERSIONS versions)

    def as_dict(self) -> dict:
        return asdict(self)


def merge_condition(key_range: tuple[str, str] | None = None) -> str:
    """Keys match; NULL keys never reach the merge (stage rejects them), so plain equality is safe.

    With the batch's key range, the condition also holds a predicate on the target alone, which Delta uses to
    skip target files whose key statistics (min/max) lie outside the range. Carriers issue tracking numbers
    roughly in sequence, so a batch of recent parcels then reads a few recent files instead of the table.
    """
    equal = f"t.{KEY} = s.{KEY}"
    if key_range is None:
        return equal
    first, last = (sql_string(key) for key in key_range)
    return f"t.{KEY} BETWEEN {first} AND {last} AND {equal}"


def newer_condition() -> str:
    """The incoming row comes later in ORDER_COLUMNS than the target row (NULL status_ts sorts first).

    Without this guard a late file carrying an older status would overwrite a newer one.
    """
    ts = EVENT_TIME
    arrival = ORDER_COLUMNS[1:]
    source_arrival = ", ".join(f"s.`{c}`" for c in arrival)
    target_arrival = ", ".join(f"t.`{c}`" for c in arrival)
    return (
        f"((s.{ts} IS NOT NULL AND t.{ts} IS NULL) OR s.{ts} > t.{ts} OR "
        f"(s.{ts} <=> t.{ts} AND struct({source_arrival}) > struct({target_arrival})))"
    )


def changed_condition(source_columns: Sequence[str], target_columns: Iterable[str]) -> str:
    """NULL-safe 'something changed' over business columns; a column new to the target changes it when set."""
    existing = set(target_columns)
    parts = []
    for column in source_columns:
        if column in _NOT_COMPARED:
            continue
        quoted = f"`{column}`"
        parts.append(f"NOT (t.{quoted} <=> s.{quoted})" if column in existing else f"s.{quoted} IS NOT NULL")
    return "(" + " OR ".join(parts) + ")" if parts else "false"


def update_condition(source_columns: Sequence[str], target_columns: Iterable[str]) -> str:
    return f"{newer_condition()} AND {changed_condition(source_columns, target_columns)}"


@dataclass(frozen=True)
class Pending:
    """Committed stage batches not merged yet, with their staged row counts (oldest first), and the number of data
    files the merge log holds (whether this run's log append makes it due for compaction)."""

    batches: dict[str, int]
    merge_log_files: int
    last_target_version: int | None = None  # the newest target version the merge log records


def pending_batches(spark: SparkSession, tables: Tables) -> Pending:
    """The pending batches and the merge log's file count, in one query (5 Spark jobs; a GROUP BY and a separate
    count took 9).

    Every merge takes all pending batches, and batch ids grow with each commit, so the merged
    batches are always a prefix: pending = committed after the newest merged one. After a failed
    merge that is every batch since, so none is ever skipped.
    """
    rows = spark.sql(
        "SELECT f.batch_id, f.rows_staged, m.files, m.target_version FROM "
        "(SELECT max(batch_id) AS merged, count(DISTINCT _metadata.file_path) AS files, "
        f"max(target_version) AS target_version FROM {tables.merge_log}) m "
        f"LEFT JOIN {tables.file_log} f ON f.outcome = 'staged' AND f.batch_id > coalesce(m.merged, '')"
    ).collect()
    batches: dict[str, int] = {}
    for row in sorted((r for r in rows if r["batch_id"] is not None), key=lambda r: r["batch_id"]):
        batches[row["batch_id"]] = batches.get(row["batch_id"], 0) + row["rows_staged"]
    return Pending(batches, rows[0]["files"], rows[0]["target_version"])


@dataclass(frozen=True)
class PendingProfile:
    """One aggregate over the pending stage rows: what the MERGE needs to know before it runs."""

    rows: int
    keys: int
    first_key: str
    last_key: str

    @property
    def has_duplicate_keys(self) -> bool:
        return self.keys < self.rows


def profile_pending(pending: DataFrame) -> PendingProfile:
    counted = pending.agg(F.count(F.lit(1)), F.count_distinct(KEY), F.min(KEY), F.max(KEY)).first()
    return PendingProfile(*counted)


def merge_source(pending: DataFrame, profile: PendingProfile, updated_at: datetime) -> DataFrame:
    """The pending rows, one per key, as the MERGE's source.

    Deduplicate only when a key repeats: a source that is only a filter and projection of a Delta table is
    read as it is, while any other (the window) is first materialized by Delta's MERGE: an extra pass and a
    cached copy of every pending row. Reading it twice is safe: pending batches are committed, and a committed
    batch's stage rows never change (stage only deletes rows of uncommitted attempts).
    """
    one_per_key = latest_per_key(pending) if profile.has_duplicate_keys else pending
    return one_per_key.drop("_staged_at").withColumn(UPDATED_AT, F.lit(updated_at))


# Delta sets this session setting to the version of each commit the session makes, whatever the table.
LAST_COMMIT_VERSION = "spark.databricks.delta.lastCommitVersionInSession"


def forget_last_commit_version(spark: SparkSession) -> bool:
    """Unset the session's last Delta commit version, so that a value read after the MERGE can only be the MERGE's
    (the target's version and the previous commit's, on another table, are often the same number). False where the
    platform does not allow it."""
    try:
        spark.conf.unset(LAST_COMMIT_VERSION)
    except Exception:  # a platform may refuse the setting; the version then comes from the table's history
        return False
    return True


def last_commit_version(spark: SparkSession) -> str | None:
    """The session's last Delta commit version as Delta recorded it, or None where it is unset or cannot be read."""
    try:
        return spark.conf.get(LAST_COMMIT_VERSION, None)
    except Exception:  # as above
        return None


def _merge_version(spark: SparkSession, target: str, forgotten_before_merge: bool) -> int | None:
    """Version of the MERGE just committed.

    Read from the session's last commit version, unset before the MERGE: exact whatever another writer (an
    OPTIMIZE, predictive optimization) commits meanwhile, and no query. Where that is not available, the newest
    history entry, if it is a MERGE, else None.
    """
    merged = last_commit_version(spark) if forgotten_before_merge else None
    if merged is not None:
        return int(merged)
    last = spark.sql(f"DESCRIBE HISTORY {target} LIMIT 1").select("version", "operation").first()
    return last["version"] if last["operation"] == "MERGE" else None


def merge_pending(
    spark: SparkSession,
    config: TargetConfig,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    checkpoint: Callable[[str], None] = faults.checkpoint,
) -> MergeSummary:
    """Run task 2 once. Running it again with nothing new pending changes nothing."""
    tables = config.tables
    ensure_target_tables(spark, tables)
    summary = MergeSummary(merge_id=f"{clock():%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(3)}")
    pending = pending_batches(spark, tables)
    summary.batches, summary.rows_pending = list(pending.batches), sum(pending.batches.values())
    if not summary.batches:
        return summary
    if not summary.rows_pending:  # every pending file had only quarantined rows: nothing to merge, only to log
        _log_merge(spark, tables, summary, clock(), pending.merge_log_files)
        return summary
    pending_rows = spark.table(tables.stage).filter(F.col(BATCH_ID).isin(summary.batches))
    profile = profile_pending(pending_rows)
    source = merge_source(pending_rows, profile, clock())
    checkpoint("target.before_merge")
    forgotten = forget_last_commit_version(spark)
    changed = _merge(spark, tables.target, source, merge_condition((profile.first_key, profile.last_key)))
    checkpoint("target.merged")
    summary.source_rows = profile.keys
    summary.rows_inserted, summary.rows_updated = changed["num_inserted_rows"], changed["num_updated_rows"]
    summary.rows_unchanged = summary.source_rows - summary.rows_inserted - summary.rows_updated
    # A MERGE that changes nothing commits nothing, so it has no version.
    committed = summary.rows_inserted or summary.rows_updated
    summary.target_version = _merge_version(spark, tables.target, forgotten) if committed else None
    _log_merge(spark, tables, summary, clock(), pending.merge_log_files)
    checkpoint("target.logged")
    if compaction_due(pending.last_target_version, summary.target_version):
        # After the run's commit: the OPTIMIZE commits the same rows, so a crash in it changes nothing.
        spark.sql(f"OPTIMIZE {tables.target}")
        summary.target_compacted = True
    return summary


def compaction_due(previous_version: int | None, merged_version: int | None) -> bool:
    """Whether this merge's commit crossed a multiple of TARGET_COMPACTION_VERSIONS since the last logged merge.

    Crossing rather than landing on a multiple: the target's versions also advance by its own OPTIMIZE and by any
    other writer, so a merge can skip the multiple itself."""
    if merged_version is None:
        return False
    return merged_version // TARGET_COMPACTION_VERSIONS > (previous_version or 0) // TARGET_COMPACTION_VERSIONS


def _merge(spark: SparkSession, target: str, source: DataFrame, condition: str) -> Row:
    """MERGE the source into the target on `condition`; returns the rows it inserted and updated."""
    target_columns = spark.table(target).columns
    return (
        DeltaTable.forName(spark, target)
        .alias("t")
        .merge(source.alias("s"), condition)
        .whenMatchedUpdateAll(condition=update_condition(source.columns, target_columns))
        .whenNotMatchedInsertAll()
        .withSchemaEvolution()  # new optional columns in stage become target columns
        .execute()
        .first()
    )


def _log_merge(spark: SparkSession, tables: Tables, summary: MergeSummary, merged_at: datetime, log_files: int) -> None:
    """Record the merged batches in one append (one file: every run reads the whole log), then keep the log compact."""
    rows = [
        (
            batch,
            summary.merge_id,
            merged_at,
            summary.target_version,
            summary.source_rows,
            summary.rows_inserted,
            summary.rows_updated,
            summary.rows_unchanged,
        )
        for batch in summary.batches
    ]
    append_to_log(spark, tables.merge_log, rows)
    summary.merge_log_files_compacted = compact_when_fragmented(spark, tables.merge_log, log_files + 1)
