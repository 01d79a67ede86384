"""Declared schemas of the pipeline's Delta tables. Tables are created from these, never by CTAS."""

from __future__ import annotations

from pyspark.sql import SparkSession

from order_tracking.config import Tables

# Deletion vectors let MERGE mark changed rows instead of rewriting whole files: only the target, the one table
# with row-level changes, has them. The other four only ever gain files or lose whole batches, and locally a
# read of a table with the feature costs more even when no file has a deletion vector (0.25 against 0.13 s on a
# few rows): job runs on a few rows took 9-11% less time with them on the target only (docs/decisions.md). They
# are turned off explicitly, so that a workspace which enables them by default does not turn them on either.
# Statistics (min/max per file, for data skipping) only on the columns queries filter by: collecting them for
# every column made the stage write about a quarter slower. Databricks and Delta 4 honour both properties.


def sql_string(value: str) -> str:
    """`value` as a Spark SQL string literal (backslash is the escape character there).

    `$` goes as the escape `\\u0024`: Spark replaces `${...}` in the SQL text before it parses it, literals
    included (an unknown name by nothing), so a key such as `TRK${y}9` would otherwise reach the query as `TRK9`.
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("$", "\\u0024") + "'"


# The target's table property for its change data feed; set only when the pipeline creates the table.
CHANGE_DATA_FEED = "delta.enableChangeDataFeed"


def _properties(stats_columns: str | None, deletion_vectors: bool, change_data_feed: bool = False) -> str:
    properties = [f"'delta.enableDeletionVectors' = '{str(deletion_vectors).lower()}'"]
    if change_data_feed:  # downstream readers take only what each MERGE changed (docs/operating.md)
        properties.append(f"'{CHANGE_DATA_FEED}' = 'true'")
    if stats_columns:
        properties.append(f"'delta.dataSkippingStatsColumns' = '{stats_columns}'")
    return f"TBLPROPERTIES ({', '.join(properties)})"


STAGE_COLUMNS = """
    tracking_num STRING NOT NULL COMMENT 'Parcel key, trimmed; leading zeros kept',
    order_id STRING,
    status STRING,
    status_ts TIMESTAMP COMMENT 'Event time of the status, when the file carries it',
    _batch_id STRING NOT NULL COMMENT 'Stage batch that loaded the row',
    _source_file STRING NOT NULL,
    _file_mtime TIMESTAMP NOT NULL,
    _source_row BIGINT NOT NULL COMMENT 'Data row number within the file, from 1',
    _staged_at TIMESTAMP NOT NULL
"""

QUARANTINE_COLUMNS = """
    _batch_id STRING NOT NULL,
    _source_file STRING NOT NULL,
    _file_mtime TIMESTAMP NOT NULL,
    _source_row BIGINT NOT NULL,
    reason STRING NOT NULL,
    raw_record STRING,
    tracking_num STRING,
    _quarantined_at TIMESTAMP NOT NULL
"""

FILE_LOG_COLUMNS = """
    batch_id STRING NOT NULL,
    file_name STRING NOT NULL,
    file_size BIGINT NOT NULL,
    file_mtime TIMESTAMP NOT NULL,
    outcome STRING NOT NULL COMMENT 'staged or rejected',
    reason STRING,
    rows_read BIGINT NOT NULL,
    rows_staged BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    destination STRING NOT NULL COMMENT 'Folder the file is moved to after the commit',
    logged_at TIMESTAMP NOT NULL
"""

MERGE_LOG_COLUMNS = """
    batch_id STRING NOT NULL,
    merge_id STRING NOT NULL,
    merged_at TIMESTAMP NOT NULL,
    target_version BIGINT,
    source_rows BIGINT NOT NULL,
    rows_inserted BIGINT NOT NULL,
    rows_updated BIGINT NOT NULL,
    rows_unchanged BIGINT NOT NULL
"""

TARGET_COLUMNS = """
    tracking_num STRING NOT NULL,
    order_id STRING,
    status STRING,
    status_ts TIMESTAMP,
    _batch_id STRING,
    _source_file STRING,
    _file_mtime TIMESTAMP,
    _source_row BIGINT,
    _updated_at TIMESTAMP
"""


def create_table_sql(
    name: str,
    columns: str,
    comment: str,
    stats_columns: str | None = None,
    *,
    deletion_vectors: bool = False,
    change_data_feed: bool = False,
) -> str:
    """CREATE TABLE IF NOT EXISTS with a declared schema; `stats_columns` limits data-skipping statistics,
    `deletion_vectors` is for a table with row-level changes (the target)."""
    properties = _properties(stats_columns, deletion_vectors, change_data_feed)
    return (
        f"CREATE TABLE IF NOT EXISTS {name} ({columns.strip()}) USING DELTA COMMENT {sql_string(comment)} {properties}"
    )


def delete_stage_rows(spark: SparkSession, tables: Tables, condition: str) -> None:
    """Delete stage and quarantine rows matching a condition on the batch id (uncommitted attempts only)."""
    for table in (tables.stage, tables.quarantine):
        spark.sql(f"DELETE FROM {table} WHERE {condition}")


def ensure_stage_tables(spark: SparkSession, tables: Tables) -> None:
    """Create the stage task's tables if they are missing."""
    # Stage and quarantine are read by batch only (pending batches, uncommitted attempts).
    stage_comment = "Valid rows of every loaded file, append-only by batch"
    spark.sql(create_table_sql(tables.stage, STAGE_COLUMNS, stage_comment, stats_columns="_batch_id"))
    quarantine_comment = "Rows set aside, with the reason"
    spark.sql(create_table_sql(tables.quarantine, QUARANTINE_COLUMNS, quarantine_comment, stats_columns="_batch_id"))
    spark.sql(
        create_table_sql(
            tables.file_log,
            FILE_LOG_COLUMNS,
            "One row per landed file: the stage commit",
            stats_columns="batch_id,file_name",
        )
    )


def ensure_target_tables(spark: SparkSession, tables: Tables) -> None:
    """Create the target task's tables if they are missing."""
    target_comment = "Newest status per parcel (SCD type 1)"
    spark.sql(
        create_table_sql(tables.target, TARGET_COLUMNS, target_comment, deletion_vectors=True, change_data_feed=True)
    )
    spark.sql(create_table_sql(tables.merge_log, MERGE_LOG_COLUMNS, "Stage batches merged into the target"))
