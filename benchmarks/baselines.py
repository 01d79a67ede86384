"""What the project is measured against, each fed the same duplicate-free batch and the same target rows.

- the seed approach the project replaces (CSV with inferSchema -> overwrite a stage Delta table -> plain MERGE);
- plain Spark without Delta: the engine's floor for each task (CSV -> parquet; full-rewrite upsert), and the same
  CSV read written as a Delta table, the floor of any stage that lands in Delta;
- delta-rs, the single-node Delta peer, and pyarrow's CSV parser.
Set-up (building each flavour of the target) is never inside a timed span.
"""

from __future__ import annotations

import os
import time

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from benchmarks.cases import Case
from order_tracking.generate import HEADER
from order_tracking.local.counting import CostCounter

KEY = "tracking_num"
STRING_SCHEMA = StructType([StructField(c, StringType()) for c in HEADER])


def seed_stage(spark: SparkSession, batch_dir: str, stage: str) -> None:
    """The seed's task 1: infer the schema of every CSV in `batch_dir`, overwrite the stage table with them."""
    batch = spark.read.option("header", True).option("inferSchema", True).csv(batch_dir)
    batch.write.format("delta").mode("overwrite").saveAsTable(stage)


def seed_merge(spark: SparkSession, stage: str, target: str) -> None:
    """The seed's task 2: MERGE the whole stage table into the target on the key, every column."""
    (
        DeltaTable.forName(spark, target)
        .alias("t")
        .merge(spark.table(stage).alias("s"), "s.tracking_num = t.tracking_num")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def seed_approach(spark: SparkSession, case: Case, schema: str, tables_dir: str) -> dict[str, float]:
    """The original notebook: infer the schema, overwrite the stage table, MERGE it into the target.

    `tables_dir` is the schema's folder, where the counter finds each table's commits."""
    stage, target = f"{schema}.seed_stage", f"{schema}.seed_target"
    counter = CostCounter(spark, tables_dir)
    with counter.span() as stage_cost:
        seed_stage(spark, case.batch_dir, stage)

    # The target as earlier runs of the same code left it: columns typed as inferSchema typed them.
    typed = [F.col(f.name).cast(f.dataType).alias(f.name) for f in spark.table(stage).schema]
    spark.read.parquet(case.target_parquet).select(typed).write.format("delta").saveAsTable(target)

    with counter.span() as merge_cost:
        seed_merge(spark, stage, target)
    return {**stage_cost.as_result("seed_stage"), **merge_cost.as_result("seed_merge")}


def _string_csv(spark: SparkSession, case: Case) -> DataFrame:
    """The batch as every column text, with the header: the read both plain floors time."""
    return spark.read.schema(STRING_SCHEMA).option("header", True).csv(case.batch_dir)


def plain_spark(spark: SparkSession, case: Case) -> dict[str, float]:
    """Floors: CSV -> parquet with an explicit string schema, the same into a new Delta table (no parsing, checks or
    lineage: what Delta's writer and commit add on their own), and an upsert that rewrites the whole target."""
    batch_parquet = os.path.join(case.work_dir, "plain_batch")
    began = time.perf_counter()
    _string_csv(spark, case).write.parquet(batch_parquet)
    csv_s = time.perf_counter() - began

    began = time.perf_counter()
    _string_csv(spark, case).write.format("delta").save(os.path.join(case.work_dir, "plain_batch_delta"))
    csv_delta_s = time.perf_counter() - began

    began = time.perf_counter()
    t = spark.read.parquet(case.target_parquet).alias("t")
    s = spark.read.parquet(batch_parquet).withColumn("_in_batch", F.lit(True)).alias("s")
    kept = [
        F.when(F.col("s._in_batch"), F.col(f"s.{c}")).otherwise(F.col(f"t.{c}")).alias(c) for c in HEADER if c != KEY
    ]
    upserted = t.join(s, F.col(f"t.{KEY}") == F.col(f"s.{KEY}"), "full_outer").select(
        F.coalesce(F.col(f"s.{KEY}"), F.col(f"t.{KEY}")).alias(KEY), *kept
    )
    upserted.write.parquet(os.path.join(case.work_dir, "plain_target_rewritten"))
    return {
        "plain_csv_to_parquet_s": csv_s,
        "plain_csv_to_delta_s": csv_delta_s,
        "plain_full_rewrite_s": time.perf_counter() - began,
    }


def delta_rs(case: Case) -> dict[str, float]:
    """pyarrow parses the batch; delta-rs MERGEs it into a Delta copy of the target, in this Python process."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from deltalake import DeltaTable as RsTable
    from deltalake import write_deltalake
    from pyarrow import csv

    path = os.path.join(case.work_dir, "deltars_target")
    write_deltalake(path, ds.dataset(case.target_parquet, format="parquet").scanner().to_reader())

    began = time.perf_counter()
    options = csv.ConvertOptions(column_types=dict.fromkeys(HEADER, pa.string()))
    batch = pa.concat_tables([csv.read_csv(f, convert_options=options) for f in case.csv_files()])
    parse_s = time.perf_counter() - began

    began = time.perf_counter()
    (
        RsTable(path)
        .merge(batch, "t.tracking_num = s.tracking_num", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    return {"pyarrow_csv_s": parse_s, "deltars_merge_s": time.perf_counter() - began}
