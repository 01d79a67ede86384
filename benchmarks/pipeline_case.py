"""(a) This project's own stage task and merge task on the same batch and target as the baselines.

Untimed set-up: a schema under `case.work_dir`; the pipeline's stage tables created (a steady-state run
finds them); the target table created by the pipeline itself and loaded with the case's target rows plus
the lineage columns a first merge would have written (its change data feed on, as the pipeline creates it, or
turned off for a like-for-like comparison with approaches that keep none); the batch CSVs copied into a landing
folder, dated so they count as settled. Timed: `stage_new_files`, then `merge_pending`, each on its own.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from benchmarks.cases import Case
from order_tracking.config import StageConfig, Tables, TargetConfig
from order_tracking.local.counting import CostCounter
from order_tracking.local.session import LOCAL_CATALOG, create_local_schema
from order_tracking.merge import merge_pending
from order_tracking.stage import stage_new_files
from order_tracking.tables import CHANGE_DATA_FEED, ensure_stage_tables, ensure_target_tables

SEED_BATCH = "00000000T000000000000Z-seed"  # sorts before any real batch id
SETTLED_AGE_S = 3600.0


def stage_config(tables: Tables, root: str) -> StageConfig:
    """Task 1's settings for a benchmark: landing, archive and rejected folders under `root`, no settling wait."""
    return StageConfig(
        tables=tables,
        landing_path=os.path.join(root, "landing"),
        archive_path=os.path.join(root, "archive"),
        rejected_path=os.path.join(root, "rejected"),
        settle_seconds=0.0,
        max_wait_seconds=0.0,
    )


def _configs(case: Case, schema: str) -> tuple[StageConfig, TargetConfig]:
    tables = Tables(LOCAL_CATALOG, schema)
    return stage_config(tables, os.path.join(case.work_dir, "pipeline")), TargetConfig(tables)


def seed_target(spark: SparkSession, case: Case, tables: Tables, *, change_data_feed: bool = True) -> None:
    """The target as earlier merges would have left it: typed contract columns, extras as text, lineage; its
    change data feed turned off when `change_data_feed` is False (as docs/operating.md tells a user to)."""
    ensure_target_tables(spark, tables)
    if not change_data_feed:
        spark.sql(f"ALTER TABLE {tables.target} SET TBLPROPERTIES ('{CHANGE_DATA_FEED}' = 'false')")
    loaded_at = datetime(2000, 1, 1, tzinfo=timezone.utc)
    rows = spark.read.parquet(case.target_parquet).select(
        "tracking_num",
        "order_id",
        "status",
        F.col("status_ts").try_cast("timestamp").alias("status_ts"),
        F.lit(SEED_BATCH).alias("_batch_id"),
        F.lit("initial.csv").alias("_source_file"),
        F.lit(loaded_at).alias("_file_mtime"),
        F.monotonically_increasing_id().alias("_source_row"),
        F.lit(loaded_at).alias("_updated_at"),
        "carrier",
        "destination_zip",
    )
    rows.write.format("delta").mode("append").option("mergeSchema", "true").saveAsTable(tables.target)


def land_batch(case: Case, landing_path: str) -> None:
    os.makedirs(landing_path, exist_ok=True)
    for source in case.csv_files():
        path = shutil.copy(source, landing_path)
        stamp = time.time() - SETTLED_AGE_S
        os.utime(path, (stamp, stamp))


def has_change_data_feed(spark: SparkSession, table: str) -> bool:
    properties = {row["key"]: row["value"] for row in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    return properties.get(CHANGE_DATA_FEED, "false").lower() == "true"


def run_pipeline_case(spark: SparkSession, case: Case, *, change_data_feed: bool = True) -> dict[str, float]:
    """Time the project's stage task and merge task on `case`, and count what each costs."""
    schema = f"pipeline_{case.name}"
    tables_dir = os.path.join(case.work_dir, "pipeline", "db")
    create_local_schema(spark, schema, tables_dir)
    stage_config, target_config = _configs(case, schema)
    try:
        ensure_stage_tables(spark, stage_config.tables)
        seed_target(spark, case, target_config.tables, change_data_feed=change_data_feed)
        feed = has_change_data_feed(spark, target_config.tables.target)
        land_batch(case, stage_config.landing_path)

        counter = CostCounter(spark, tables_dir)
        with counter.span() as stage_cost:
            staged = stage_new_files(spark, stage_config)
        with counter.span() as merge_cost:
            merged = merge_pending(spark, target_config)
    finally:
        spark.sql(f"DROP SCHEMA IF EXISTS {LOCAL_CATALOG}.`{schema}` CASCADE")
    return {
        **stage_cost.as_result("pipeline_stage"),
        **merge_cost.as_result("pipeline_merge"),
        "pipeline_rows_staged": float(staged.rows_staged),
        "pipeline_rows_inserted": float(merged.rows_inserted),
        "pipeline_rows_updated": float(merged.rows_updated),
        "pipeline_target_change_data_feed": float(feed),
    }
