"""Read exactly the listed CSV files, every column as text, with lineage and a validation reason per row."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from order_tracking.contract import BATCH_ID, FILE_MTIME, SOURCE_FILE, SOURCE_ROW
from order_tracking.files import LandingFile, Sniff
from order_tracking.transforms import (
    BAD_BYTES,
    CORRUPT_RECORD,
    with_bad_bytes_flag,
    with_raw_record,
    with_row_problems,
    with_typed_columns,
)

_GLOB_CHARACTERS = re.compile(r"([\\*?\[\]{}])")


def escape_glob(path: str) -> str:
    """Spark treats `*?[]{}` in a path as a pattern; escape them so a path names exactly one file."""
    return _GLOB_CHARACTERS.sub(r"\\\1", path)


Loadable = Sequence[tuple[LandingFile, Sniff]]


def group_by_layout(files: Loadable) -> dict[tuple[tuple[str, ...], bool, bool], list[LandingFile]]:
    """Group files that share a header, quoting and UTF-8 validity: each group is one Spark read, one schema."""
    groups: dict[tuple[tuple[str, ...], bool, bool], list[LandingFile]] = defaultdict(list)
    for landing_file, sniffed in files:
        groups[(sniffed.header.columns, sniffed.has_quotes, sniffed.invalid_utf8)].append(landing_file)
    return groups


def _landing_name(files: list[LandingFile]):
    """The landing file name of each row.

    Spark reports `_metadata.file_name` percent-encoded (`a%5B1%5D.csv` for `a[1].csv`); '+' is not
    encoded, so it is protected from url_decode's form decoding. A name reported as is wins.
    """
    reported = F.col("_metadata.file_name")
    decoded = F.expr("try_url_decode(replace(_metadata.file_name, '+', '%2B'))")
    names = F.array(*[F.lit(f.name) for f in files])
    return F.when(F.array_contains(names, reported), reported).otherwise(F.coalesce(decoded, reported))


def _read_group(
    spark: SparkSession, columns: tuple[str, ...], multiline: bool, invalid_utf8: bool, files: list[LandingFile]
) -> DataFrame:
    schema = ", ".join(f"`{c}` STRING" for c in columns) + f", `{CORRUPT_RECORD}` STRING"
    raw = (
        spark.read.schema(schema)
        .option("header", "true")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        # A quoted field may hold a newline only in a file that has quotes; other files stay splittable.
        .option("multiLine", "true" if multiline else "false")
        .option("encoding", "UTF-8")
        # RFC 4180 escapes a quote inside a quoted field by doubling it (as Excel and Python's csv write);
        # Spark's default escape is a backslash, which splits such a field at its next newline or comma.
        .option("escape", '"')
        .csv([escape_glob(f.path) for f in files])
        .select(
            "*",
            _landing_name(files).alias(SOURCE_FILE),
            F.col("_metadata.file_block_start").alias("_block_start"),
            F.monotonically_increasing_id().alias("_read_order"),
        )
    )
    if invalid_utf8:
        raw = with_bad_bytes_flag(raw, columns)
    typed = with_typed_columns(with_raw_record(raw, columns), columns)
    return with_row_problems(typed)


def read_landed_files(
    spark: SparkSession,
    files: Loadable,
    batch_id: str,
) -> DataFrame:
    """All rows of the given files, with `_reason` NULL for valid rows, plus lineage columns.

    `_source_row` is the data row's number in its file, without sorting the rows: see `_split_offsets`.
    """
    parts = [_read_group(spark, *layout, group) for layout, group in group_by_layout(files).items()]
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part, allowMissingColumns=True)
    mtimes = spark.createDataFrame(
        [(f.name, f.mtime) for f, _ in files], f"{SOURCE_FILE} STRING, {FILE_MTIME} TIMESTAMP"
    )
    split = [SOURCE_FILE, "_block_start"]
    return (
        # A left join: a row whose file cannot be named gets a NULL mtime, and the NOT NULL column
        # then fails the write loudly instead of the row vanishing from an inner join.
        rows.join(F.broadcast(mtimes), SOURCE_FILE, "left")
        .join(F.broadcast(_split_offsets(spark, rows)), split, "left")
        .withColumn(SOURCE_ROW, (F.col("_read_order") - F.col("_first_read") + F.col("_rows_before") + 1))
        .withColumn(BATCH_ID, F.lit(batch_id))
        .drop("_block_start", "_read_order", "_first_read", "_rows_before", CORRUPT_RECORD, "_status_ts_raw", BAD_BYTES)
    )


def _split_offsets(spark: SparkSession, rows: DataFrame) -> DataFrame:
    """For each split Spark reads of a file: the read order of its first row, and the file's rows before it.

    Spark reads a large file in splits and packs splits into partitions by size, not by position; within a
    partition it reads a split's rows in file order, numbered consecutively by `monotonically_increasing_id`.
    So a row's number in its file is (its read order - the split's first) + the rows of earlier splits + 1.
    Counting the splits is a light pass over the files (no columns parsed), collected to the driver; a window
    over the file would instead sort every row on one core, per file.
    """
    counted = (
        rows.groupBy(SOURCE_FILE, "_block_start")
        .agg(F.min("_read_order").alias("_first_read"), F.count(F.lit(1)).alias("_rows"))
        .collect()
    )
    offsets, before = [], defaultdict(int)
    for split in sorted(counted, key=lambda r: (r[SOURCE_FILE] or "", r["_block_start"])):
        offsets.append((split[SOURCE_FILE], split["_block_start"], split["_first_read"], before[split[SOURCE_FILE]]))
        before[split[SOURCE_FILE]] += split["_rows"]
    return spark.createDataFrame(
        offsets, f"{SOURCE_FILE} STRING, _block_start BIGINT, _first_read BIGINT, _rows_before BIGINT"
    )


def batch_id_for(now: datetime, suffix: str, after: str | None = None) -> str:
    """A batch id that sorts after `after` (the last committed one): arrival order is string order.

    It is the start time, so ids read naturally; should the clock step back, the id still moves
    forward, because the merge treats every batch after the newest merged one as pending.
    """
    stamp = f"{now:%Y%m%dT%H%M%S%f}Z"
    if after is not None and stamp <= after[: len(stamp)]:
        previous = datetime.strptime(after[: len(stamp) - 1], "%Y%m%dT%H%M%S%f")
        stamp = f"{previous + timedelta(microseconds=1):%Y%m%dT%H%M%S%f}Z"
    return f"{stamp}-{suffix}"
