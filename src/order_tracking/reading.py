"""Read exactly the listed CSV files, every column as text, with lineage and a validation reason per row."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from order_tracking.contract import BATCH_ID, FILE_MTIME, SOURCE_FILE, SOURCE_ROW
from order_tracking.files import LandingFile, Sniff
from order_tracking.literals import local_rows
from order_tracking.transforms import (
    BAD_BYTES,
    CORRUPT_RECORD,
    NUL_CHARACTER,
    with_character_flag,
    with_raw_record,
    with_row_problems,
    with_typed_columns,
)

_GLOB_CHARACTERS = re.compile(r"([\\*?\[\]{}])")


def escape_glob(path: str) -> str:
    """Spark treats `*?[]{}` in a path as a pattern; escape them so a path names exactly one file."""
    return _GLOB_CHARACTERS.sub(r"\\\1", path)


Loadable = Sequence[tuple[LandingFile, Sniff]]


Layout = tuple[tuple[str, ...], bool, bool, bool]


def group_by_layout(files: Loadable) -> dict[Layout, list[LandingFile]]:
    """Group files that share a header, quoting, UTF-8 validity and NUL bytes: each group is one Spark read."""
    groups: dict[Layout, list[LandingFile]] = defaultdict(list)
    for landing_file, sniffed in files:
        layout = (sniffed.header.columns, sniffed.has_quotes, sniffed.invalid_utf8, sniffed.has_nul)
        groups[layout].append(landing_file)
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
    spark: SparkSession,
    columns: tuple[str, ...],
    multiline: bool,
    invalid_utf8: bool,
    has_nul: bool,
    files: list[LandingFile],
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
    # Only for files whose scan found them: checking every field of every row costs as much again as trimming.
    if invalid_utf8:  # the UTF-8 decoder puts U+FFFD in place of invalid bytes (in a valid file it is a character)
        raw = with_character_flag(raw, columns, "\ufffd", BAD_BYTES)
    if has_nul:
        raw = with_character_flag(raw, columns, "\u0000", NUL_CHARACTER)
    typed = with_typed_columns(with_raw_record(raw, columns), columns)
    return with_row_problems(typed)


def _failing(rows: DataFrame, files: Loadable, failing: Mapping[str, bool]) -> DataFrame:
    """Rows whose read fails for the files named in `failing`, as a file's unreadable record would (tests inject
    faults this way); where `failing` says True, the message names the file's path too."""
    if not failing:
        return rows
    paths = {f.name: f.path for f, _ in files}
    message = F.lit("injected read failure: ")
    for name, with_path in sorted(failing.items()):
        text = f"injected read failure: {name}" + (f" in file {paths.get(name, '')}" if with_path else "")
        message = F.when(F.col(SOURCE_FILE) == name, F.lit(text)).otherwise(message)
    in_file = F.col(SOURCE_FILE).isin(sorted(failing))
    return rows.filter(F.when(in_file, F.raise_error(message)).otherwise(F.lit(True)))


def read_landed_files(
    spark: SparkSession, files: Loadable, batch_id: str, failing: Mapping[str, bool] | None = None
) -> DataFrame:
    """All rows of the given files, with `_reason` NULL for valid rows, plus lineage columns.

    `_source_row` is the data row's number in its file, without sorting the rows: see `_split_offsets`. The files
    named in `failing` fail to read (a test hook: `faults.failing_reads`).
    """
    parts = [_read_group(spark, *layout, group) for layout, group in group_by_layout(files).items()]
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part, allowMissingColumns=True)
    rows = _failing(rows, files, failing or {})
    mtimes = local_rows(
        spark, [(SOURCE_FILE, "STRING"), (FILE_MTIME, "TIMESTAMP")], [(f.name, f.mtime) for f, _ in files]
    )
    split = [SOURCE_FILE, "_block_start"]
    return (
        # A left join: a row whose file cannot be named gets a NULL mtime, and the NOT NULL column
        # then fails the write loudly instead of the row vanishing from an inner join.
        rows.join(F.broadcast(mtimes), SOURCE_FILE, "left")
        .join(F.broadcast(_split_offsets(rows)), split, "left")
        .withColumn(SOURCE_ROW, (F.col("_read_order") - F.col("_first_read") + F.col("_rows_before") + 1))
        .withColumn(BATCH_ID, F.lit(batch_id))
        .drop(
            "_block_start",
            "_read_order",
            "_first_read",
            "_rows_before",
            CORRUPT_RECORD,
            "_status_ts_raw",
            BAD_BYTES,
            NUL_CHARACTER,
        )
    )


def _split_offsets(rows: DataFrame) -> DataFrame:
    """For each split Spark reads of a file: the read order of its first row, and the file's rows before it.

    Spark reads a large file in splits and packs splits into partitions by size, not by position; within a
    partition it reads a split's rows in file order, numbered consecutively by `monotonically_increasing_id`.
    So a row's number in its file is (its read order - the split's first) + the rows of earlier splits + 1.
    Counting the splits is a light pass over the files (no columns parsed); a window over the file's rows would
    instead sort every row on one core, per file. The counts are part of the plan that writes the rows, so both
    scans are split in the same execution, with the same settings: split sizes follow the session's
    `spark.sql.files.*` settings and the cluster's parallelism, which may change between two queries.
    """
    splits = rows.groupBy(SOURCE_FILE, "_block_start").agg(
        F.min("_read_order").alias("_first_read"), F.count(F.lit(1)).alias("_rows")
    )
    earlier = Window.partitionBy(SOURCE_FILE).orderBy("_block_start").rowsBetween(Window.unboundedPreceding, -1)
    rows_before = F.coalesce(F.sum("_rows").over(earlier), F.lit(0)).alias("_rows_before")
    return splits.select(SOURCE_FILE, "_block_start", "_first_read", rows_before)


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
