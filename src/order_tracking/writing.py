"""Edge of task 1: append one batch's rows to stage (valid) and quarantine (invalid), and count them per file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from order_tracking.config import Tables
from order_tracking.contract import BATCH_ID, CONTRACT_COLUMNS, LINEAGE_COLUMNS, SOURCE_FILE
from order_tracking.reading import Loadable, read_landed_files
from order_tracking.transforms import RAW_RECORD, REASON, filter_invalid, filter_valid

_MAX_OBSERVED_FILES = 50  # two counts per file in one aggregate; beyond this, read the counts back

Counts = dict[tuple[str, str], int]  # (file, 'staged' | 'quarantined') -> rows


def is_spark_connect(spark: SparkSession) -> bool:
    """Whether `spark` is a Spark Connect session, as on serverless and standard access mode."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


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


def counts_by_file(spark: SparkSession, tables: Tables, batch_id: str) -> Counts:
    """Rows per file and outcome, read back from what was written for this batch."""

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

    One count per file and outcome, so only for a handful of files; `write_batch` reads back otherwise.
    """
    invalid = F.col(REASON).isNotNull()
    counts = [F.count_if(invalid).alias("quarantined")]
    for i, name in enumerate(names):
        in_file = F.col(SOURCE_FILE) == F.lit(name)
        counts += [F.count_if(in_file & ~invalid).alias(f"s{i}"), F.count_if(in_file & invalid).alias(f"q{i}")]
    observation = Observation()
    return rows.observe(observation, *counts), observation


def write_batch(
    spark: SparkSession,
    tables: Tables,
    loadable: Loadable,
    batch_id: str,
    started: datetime,
    checkpoint: Callable[[str], None],
    failing: Mapping[str, bool] | None = None,
) -> Counts:
    """Append valid rows to stage, and invalid ones (if any) to quarantine, reading the files once when all are valid.

    In a classic session, counting during the stage write tells whether any row is invalid: when none is, the
    quarantine write (a second parse of every file) and the read-back of the counts are both skipped. Over Spark
    Connect (serverless, standard access mode) no metric is awaited: a Delta write runs its own query there, its
    observation may stay empty, and Databricks documents `Observation.get` as blocking until the metrics arrive.
    """
    rows = read_landed_files(spark, loadable, batch_id, failing)
    names = [f.name for f, _ in loadable]
    observe = not is_spark_connect(spark) and len(names) <= _MAX_OBSERVED_FILES
    observed, observation = _observed(rows, names) if observe else (rows, None)
    (
        _stage_rows(observed, started)
        .write.format("delta")
        .mode("append")
        .option("mergeSchema", "true")
        .saveAsTable(tables.stage)
    )
    checkpoint("stage.stage_written")
    metrics = observation.get if observation is not None else {}
    observed_counts = "quarantined" in metrics
    if not observed_counts or metrics["quarantined"]:
        _quarantine_rows(rows, started).write.format("delta").mode("append").saveAsTable(tables.quarantine)
    checkpoint("stage.quarantine_written")
    if not observed_counts:
        return counts_by_file(spark, tables, batch_id)
    counts = {(name, "staged"): metrics[f"s{i}"] for i, name in enumerate(names)}
    return counts | {(name, "quarantined"): metrics[f"q{i}"] for i, name in enumerate(names)}


def probe_batch(
    spark: SparkSession, loadable: Loadable, batch_id: str, failing: Mapping[str, bool] | None = None
) -> None:
    """Read, type and check the files as `write_batch` does, writing nothing: raises where that read would."""
    read_landed_files(spark, loadable, batch_id, failing).write.format("noop").mode("overwrite").save()
