"""HOOK (a): this project's own stage task and merge task on the same batch and target as the baselines.

To be filled in by the pipeline's owner. Until then `run_pipeline_case` raises NotImplementedError and
`benchmarks.run` reports the pipeline columns as "pending" instead of failing.

What an implementation should do, with only the two timed calls inside timed spans:
1. untimed: create a schema for the case under `case.work_dir` (the session has no metastore);
   build the pipeline's target table from `case.target_parquet` (all-string columns in `HEADER` order,
   `case.target_rows` distinct keys) with whatever lineage columns the target carries;
   copy `case.csv_files()` into a landing folder under `case.work_dir`, dated so they count as settled;
   make a `StageConfig` (settle_seconds=0) and a `TargetConfig` for that schema.
2. timed: `order_tracking.stage.stage_new_files(spark, stage_config)` -> "pipeline_stage_s".
3. timed: `order_tracking.merge.merge_pending(spark, target_config)` -> "pipeline_merge_s".
4. return both, e.g. `{"pipeline_stage_s": 12.3, "pipeline_merge_s": 45.6}`; extra float keys are
   reported as they are (e.g. rows inserted/updated taken from the summaries, as a check).
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from benchmarks.cases import Case


def run_pipeline_case(spark: SparkSession, case: Case) -> dict[str, float]:
    """Time the project's stage task and merge task on `case`; see the module docstring for the contract."""
    raise NotImplementedError("the pipeline case is not wired yet: see benchmarks/pipeline_case.py")
