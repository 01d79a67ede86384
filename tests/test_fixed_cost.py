"""What a run costs before it touches the data, counted exactly: Spark jobs, Delta commits, snapshots rebuilt.

Counts, unlike seconds, are the same on any machine, so they can be pinned: a change that adds a query or a
commit to either task fails here and has to raise the budget on purpose (benchmarks/README.md).
"""

from __future__ import annotations

import os

import pytest
from benchmarks import fixed_cost, report

from order_tracking.local.counting import CostCounter, cpu_used, job_kinds, jvm_cpu_by_group
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


def test_jobs_are_told_apart_by_what_spark_and_delta_call_them() -> None:
    descriptions = [
        "Delta: Delta: Filtering files for query: Compute snapshot for version: 5",
        "Delta: Filtering files for query",
        "collect at /src/order_tracking/merge.py:117",
        "first at /src/order_tracking/merge.py:139",
        "MERGE operation - scanning files for matches",
        "Delta: MERGE operation - scanning files for matches: Compute snapshot for version: 5",
        "Delta: Writing Deletion Vectors for modified data - MERGE operation - Rewriting Deletion Vectors",
        "saveAsTable at NativeMethodAccessorImpl.java:0",
        "$anonfun$recordDeltaOperationInternal$1 at DatabricksLogging.scala:128",
        "$anonfun$withThreadLocalCaptured$2 at CompletableFuture.java:1768",
        "csv at NativeMethodAccessorImpl.java:0",
        "run at ThreadPoolExecutor.java:1136",
    ]
    assert job_kinds(descriptions) == {
        "MERGE": 3,  # Delta's own skipping and table state inside the MERGE count as the MERGE's
        "table state": 1,
        "file skipping": 1,
        "query result": 2,
        "write": 1,
        "Delta command": 1,
        "query stage": 1,
        "CSV schema": 1,
        "other": 1,
    }
    assert list(job_kinds(descriptions))[:2] == ["MERGE", "table state"] and job_kinds([]) == {}


def test_cpu_time_is_read_per_thread_group_and_a_name_with_brackets_does_not_confuse_it(tmp_path) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {"1": f"7 (Thread-12) S 1 2 3 4 5 6 7 8 9 10 {3 * ticks} {ticks} 0 0", "2": "8 (C2 CompilerThre) S"}
    stats["2"] += f" 1 2 3 4 5 6 7 8 9 10 {2 * ticks} 0 0 0"
    stats["3"] = f"9 (odd (name) )) R 1 2 3 4 5 6 7 8 9 10 {ticks} 0 0 0"  # a thread may name itself anything
    stats["4"] = f"10 (Executor task l) R 1 2 3 4 5 6 7 8 9 10 {ticks} {ticks} 0 0"  # Linux keeps 15 characters
    proc = tmp_path / "proc" / "42"
    (proc / "task").mkdir(parents=True)
    (proc / "stat").write_text(f"42 (java) S 1 2 3 4 5 6 7 8 9 10 {11 * ticks} {ticks} 0 0")
    for thread_id, line in stats.items():
        (proc / "task" / thread_id).mkdir()
        (proc / "task" / thread_id / "stat").write_text(line)
    read = jvm_cpu_by_group(42, proc_root=str(tmp_path / "proc"))
    assert read == {"driver": 4.0, "JIT": 2.0, "tasks": 2.0, "GC": 0.0, "other": 4.0, "total": 12.0}
    used = cpu_used(read, {**read, "driver": 5.5, "total": 13.5})
    assert used == {**dict.fromkeys(read, 0.0), "driver": 1.5, "total": 1.5}
    assert jvm_cpu_by_group(42, proc_root=str(tmp_path / "nowhere")) == {} and cpu_used({}, read) == {}


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


def test_every_job_of_a_warm_run_has_a_kind_and_the_report_shows_them(warm_pairs) -> None:
    for task, cost in warm_pairs.items():
        assert sum(cost["jobs_by_kind"].values()) == cost["jobs"], task
    merge_jobs = {task: warm_pairs[task]["jobs_by_kind"]["MERGE"] for task in ("pipeline_merge", "seed_merge")}
    assert merge_jobs["pipeline_merge"] >= merge_jobs["seed_merge"] > 0
    assert "MERGE" not in warm_pairs["pipeline_stage"]["jobs_by_kind"]
    table = "\n".join(report.fixed_cost_markdown(warm_pairs))
    assert "Spark jobs by kind" in table and f"| pipeline merge | {merge_jobs['pipeline_merge']} |" in table


def test_a_warm_runs_jvm_cpu_is_counted_by_kind_of_thread(warm_pairs) -> None:
    for task, cost in warm_pairs.items():
        cpu = cost["jvm_cpu"]
        assert cpu["total"] > 0 and cpu["driver"] > 0, task  # every task plans queries on the driver
    assert warm_pairs["pipeline_stage"]["jvm_cpu"]["tasks"] > 0  # it reads and writes files in Spark tasks
    assert warm_pairs["pipeline_merge"]["jvm_cpu"]["total"] > warm_pairs["seed_stage"]["jvm_cpu"]["total"]
    assert "JVM CPU seconds by thread" in "\n".join(report.fixed_cost_markdown(warm_pairs))
