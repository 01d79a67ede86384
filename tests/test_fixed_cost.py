"""What a run costs before it touches the data, counted exactly: Spark jobs, Delta commits, snapshots rebuilt.

Counts, unlike seconds, are the same on any machine, so they can be pinned: a change that adds a query or a
commit to either task fails here and has to raise the budget on purpose (benchmarks/README.md).
"""

from __future__ import annotations

import pytest
from benchmarks import fixed_cost

from order_tracking.local.counting import CostCounter
from order_tracking.local.session import LOCAL_CATALOG, create_local_schema

# A warm pair on a two-row file: measured on the pinned pyspark 4.0.1 + delta-spark 4.0.1 (this file's test).
JOB_BUDGET = {"pipeline_stage": 16, "pipeline_merge": 34}


def test_the_counter_counts_each_commit_of_each_table_and_the_jobs_between(spark, tmp_path) -> None:
    tables_dir = str(tmp_path / "db")
    create_local_schema(spark, "counted", tables_dir)
    spark.sql(f"CREATE TABLE {LOCAL_CATALOG}.counted.a (n BIGINT) USING DELTA")
    spark.sql(f"CREATE TABLE {LOCAL_CATALOG}.counted.b (n BIGINT) USING DELTA")
    counter = CostCounter(spark, tables_dir)
    with counter.span() as cost:
        spark.sql(f"INSERT INTO {LOCAL_CATALOG}.counted.a VALUES (1)")
        spark.sql(f"INSERT INTO {LOCAL_CATALOG}.counted.a VALUES (2)")
        spark.sql(f"INSERT INTO {LOCAL_CATALOG}.counted.b VALUES (3)")
    with counter.span() as read:
        assert spark.table(f"{LOCAL_CATALOG}.counted.a").count() == 2
    spark.sql(f"DROP SCHEMA {LOCAL_CATALOG}.counted CASCADE")
    assert cost.commits == {"a": 2, "b": 1}
    assert cost.jobs >= 3 and len(cost.job_descriptions) == cost.jobs
    assert read.commits == {} and read.jobs >= 1 and read.seconds > 0


@pytest.fixture(scope="module")
def warm_pairs(spark, tmp_path_factory):
    return fixed_cost.measure(spark, str(tmp_path_factory.mktemp("fixed_cost")), pairs=2, schema="fixed_cost_test")


@pytest.mark.parametrize("task", sorted(JOB_BUDGET))
def test_a_warm_run_on_two_rows_stays_within_its_spark_job_budget(warm_pairs, task) -> None:
    jobs = warm_pairs[task]["jobs"]
    assert jobs <= JOB_BUDGET[task], f"{task} started {jobs:.0f} Spark jobs, budget {JOB_BUDGET[task]}"


def test_each_task_commits_once_to_its_table_and_once_to_its_log(warm_pairs) -> None:
    assert warm_pairs["pipeline_stage"]["commits"] == 2  # stage rows, then the file-log commit
    assert warm_pairs["pipeline_merge"]["commits"] == 2  # the MERGE, then the merge log
    assert warm_pairs["seed_stage"]["commits"] == warm_pairs["seed_merge"]["commits"] == 1
    assert all(cost["s"] > 0 and cost["jobs"] > 0 for cost in warm_pairs.values())
