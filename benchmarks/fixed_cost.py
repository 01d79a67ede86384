"""What a run costs before it touches the data: both tasks, warm, on a file of two rows, beside the seed approach.

Untimed set-up: a schema of its own and a first pair of runs (table creation, first snapshots). Then `pairs`
runs of stage + merge, each on one new two-row file (one new key, one update), and the seed approach's stage +
merge on the same file. Reported: per task, the median seconds, and the Spark jobs, Delta commits and tables
whose snapshot was rebuilt in the median run by jobs (Delta's checkpoint every 10th commit adds jobs to one run),
and that run's jobs by kind (`order_tracking.local.counting.job_kinds`); and the median JVM CPU seconds by kind of
thread (Linux only), which says where a warm run's seconds go when nearly none of them is data work.
"""

from __future__ import annotations

import os
import statistics
import time

from pyspark.sql import SparkSession

from benchmarks import baselines
from benchmarks.pipeline_case import stage_config
from order_tracking.config import Tables, TargetConfig
from order_tracking.local.counting import Cost, CostCounter
from order_tracking.local.session import LOCAL_CATALOG, create_local_schema
from order_tracking.merge import merge_pending
from order_tracking.stage import stage_new_files

SCHEMA = "fixed_cost"
TASKS = ("pipeline_stage", "pipeline_merge", "seed_stage", "seed_merge")


def _land(folder: str, run: int) -> None:
    """One settled two-row file: parcel `run` is new, parcel 0 changes status."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"orders_{run:04d}.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("tracking_num,order_id,status,status_ts\n")
        f.write(f"TRK{run:08d},ORD{run:08d},Created,2026-01-01 00:00:{run % 60:02d}\n")
        f.write(f"TRK00000000,ORD00000000,Step {run},2026-01-02 00:00:{run % 60:02d}\n")
    stamp = time.time() - 60
    os.utime(path, (stamp, stamp))


def _median_run(costs: list[Cost]) -> dict:
    by_jobs = sorted(costs, key=lambda c: c.jobs)[len(costs) // 2]
    return {
        "s": statistics.median(c.seconds for c in costs),
        "jobs": float(by_jobs.jobs),
        "commits": float(by_jobs.total_commits),
        "snapshots": float(by_jobs.snapshot_tables),
        "jobs_by_kind": by_jobs.jobs_by_kind,
        "job_descriptions": by_jobs.job_descriptions,  # what each kind stands for, in the JSON results
        "jvm_cpu": {group: statistics.median(c.jvm_cpu[group] for c in costs) for group in costs[0].jvm_cpu},
    }


def measure(spark: SparkSession, work_dir: str, pairs: int = 7, schema: str = SCHEMA) -> dict[str, dict]:
    """Task -> {s, jobs, commits, snapshots, jobs_by_kind, job_descriptions, jvm_cpu} over `pairs` warm runs on
    two-row files (see the module's doc)."""
    tables_dir = os.path.join(work_dir, "db")
    create_local_schema(spark, schema, tables_dir)
    tables = Tables(LOCAL_CATALOG, schema)
    stage_settings, seed_batch = stage_config(tables, work_dir), os.path.join(work_dir, "seed_batch")
    seed_stage_table, seed_target = f"{LOCAL_CATALOG}.{schema}.seed_stage", f"{LOCAL_CATALOG}.{schema}.seed_target"
    counter = CostCounter(spark, tables_dir)
    costs: dict[str, list[Cost]] = {task: [] for task in TASKS}
    try:
        for run in range(pairs + 1):
            _land(stage_settings.landing_path, run)
            for name in os.listdir(seed_batch) if os.path.isdir(seed_batch) else []:
                os.remove(os.path.join(seed_batch, name))
            _land(seed_batch, run)
            spans = {}
            with counter.span() as spans["pipeline_stage"]:
                stage_new_files(spark, stage_settings)
            with counter.span() as spans["pipeline_merge"]:
                merge_pending(spark, TargetConfig(tables))
            with counter.span() as spans["seed_stage"]:
                baselines.seed_stage(spark, seed_batch, seed_stage_table)
            if run == 0:  # the seed's target as its first run would leave it: the stage table's typed rows
                spark.table(seed_stage_table).limit(0).write.format("delta").saveAsTable(seed_target)
            with counter.span() as spans["seed_merge"]:
                baselines.seed_merge(spark, seed_stage_table, seed_target)
            if run:  # the first pair creates the tables
                for task, cost in spans.items():
                    costs[task].append(cost)
    finally:
        spark.sql(f"DROP SCHEMA IF EXISTS {LOCAL_CATALOG}.`{schema}` CASCADE")
    return {task: _median_run(task_costs) for task, task_costs in costs.items()}
