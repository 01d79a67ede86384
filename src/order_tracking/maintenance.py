"""Keeping the two log tables small in files, so that the queries every run makes on them stay fast.

Every run that loads files appends one small file to `orders_file_log` (task 1), every merge one to
`orders_merge_log` (task 2), and every run reads each log whole: the newest committed batch, the pending
batches. Delta opens every data file of a table it reads in full, so without compaction each run would cost a
little more than the one before: a file log of 1,258 files took 1.84 s to query against 0.74 s after OPTIMIZE
(docs/decisions.md).

The job compacts a log itself once it holds `LOG_COMPACTION_MIN_FILES` files. Delta's auto compaction would
do it at every new process's first write locally, and predictive optimization is not on in every workspace.
The logs hold one row per file or batch, so rewriting a whole log is cheap. Stage, quarantine and the target are
left alone: the runs read stage and quarantine only by batch and the target only by the batch's key range, where
data skipping passes over the other files without opening them, and compacting them would write every row they
hold once more.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import SparkSession

from order_tracking.literals import local_rows

LOG_COMPACTION_MIN_FILES = 50


def append_to_log(spark: SparkSession, table: str, rows: Sequence[tuple]) -> None:
    """Append `rows` (in the log's column order) as one file (a local relation spreads rows over every local
    partition, a file each); nothing, not even an empty commit, when there are none."""
    if not rows:
        return
    columns = [(field.name, field.dataType.simpleString()) for field in spark.table(table).schema.fields]
    local_rows(spark, columns, rows).coalesce(1).write.format("delta").mode("append").saveAsTable(table)


def data_files(spark: SparkSession, table: str) -> int:
    """Data files in the table's current version (`DESCRIBE DETAIL`): for maintenance and tests. A task does not
    call it: right after a commit the query first builds the new snapshot, 0.3-0.5 s at CI size and four Spark jobs."""
    return spark.sql(f"DESCRIBE DETAIL {table}").select("numFiles").first()[0]


def compact_when_fragmented(spark: SparkSession, table: str, files: int) -> int | None:
    """OPTIMIZE `table` once it holds LOG_COMPACTION_MIN_FILES data files or more; `files`, if it did, else None.

    `files` comes from the query the task already makes on the log (its distinct `_metadata.file_path`, plus the
    file the task appended), not from a query of its own (docs/decisions.md). Should another writer have compacted
    the log since, the count is high and one OPTIMIZE too many runs, which changes nothing. Compaction commits a
    new version with the same rows, so a crash during it changes nothing either. Reads by batch id keep working:
    every compacted file has the min/max statistics of the rows it holds.
    """
    if files < LOG_COMPACTION_MIN_FILES:
        return None
    spark.sql(f"OPTIMIZE {table}")
    return files
