"""The benchmark harness end to end at its smallest size, on the suite's Spark session."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from benchmarks import cases, pipeline_case, run

from order_tracking import generate as gen
from order_tracking.config import Tables
from order_tracking.local.session import LOCAL_CATALOG, create_local_schema


def test_spark_target_has_exactly_the_generators_initial_rows(spark, tmp_path):
    for random_keys in (False, True):
        report = gen.generate(
            str(tmp_path / str(random_keys)), parcels=500, days=0, events_per_day=100, random_keys=random_keys
        )
        with open(report.files[0], newline="", encoding="utf-8") as f:
            expected = [tuple(r) for r in csv.reader(f)][1:]
        plan = gen.Plan(500, 100)  # 30 new parcels a day: 500 parcels span every age, so every status rule
        frame = cases.target_frame(spark, 500, plan.rate, random_keys, cases.start_epoch())
        assert tuple(frame.columns) == gen.HEADER
        assert [tuple(r) for r in frame.collect()] == expected
        assert {r[2] for r in expected} >= {"Created", "Delivered", "Returned", "Exception"}


def test_the_pipeline_cases_target_keeps_its_change_data_feed_unless_asked_to_compare_without(spark, tmp_path):
    case = cases.Case(200, 600, "local", str(tmp_path / "data"))
    cases.prepare(spark, case)
    create_local_schema(spark, "bench_feed", str(tmp_path / "db"))
    tables = Tables(LOCAL_CATALOG, "bench_feed")
    try:
        pipeline_case.seed_target(spark, case, tables)
        assert pipeline_case.has_change_data_feed(spark, tables.target)  # as the pipeline creates it
        spark.sql(f"DROP TABLE {tables.target}")
        pipeline_case.seed_target(spark, case, tables, change_data_feed=False)
        assert not pipeline_case.has_change_data_feed(spark, tables.target)
        assert spark.table(tables.target).count() == 600
    finally:
        spark.sql(f"DROP SCHEMA {LOCAL_CATALOG}.bench_feed CASCADE")
    assert run.parse_args(["--target-feed", "off"]).target_feed == "off" and run.parse_args([]).target_feed == "on"


@pytest.mark.slow  # ~35 s on 2 quiet cores: cold Delta writes and MERGE dominate
def test_smoke_size_runs_every_baseline_and_writes_the_results(spark, tmp_path):
    argv = [
        "--sizes",
        "smoke",
        "--keys",
        "local",
        "--no-warm-up",
        "--data-dir",
        str(tmp_path / "data"),
        "--out-dir",
        str(tmp_path / "results"),
        "--name",
        "smoke",
        "--keep-data",
    ]

    [result] = run.main(argv, spark=spark)

    for timing in (
        "seed_stage_s",
        "seed_merge_s",
        "plain_csv_to_parquet_s",
        "plain_csv_to_delta_s",
        "plain_full_rewrite_s",
        "pyarrow_csv_s",
        "deltars_merge_s",
    ):
        assert result[timing] > 0, timing
    assert result.get("pipeline") == "pending" or result["pipeline_merge_s"] > 0
    assert result["jvm_peak_rss_mib"] > 0
    saved = json.loads((tmp_path / "results" / "smoke.json").read_text())
    assert saved["results"][0]["name"] == "local_2000_into_6000" and saved["machine"]["cpu_cores"]
    assert "| local_2000_into_6000 |" in (tmp_path / "results" / "smoke.md").read_text()
    assert (tmp_path / "results" / "merge_vs_target_smoke.png").stat().st_size > 0
    # the floors did the same work: new parcels inserted, updated ones replaced, nothing lost
    case = cases.Case(2_000, 6_000, "local", str(tmp_path / "data"))
    keys = {line.split(",")[0] for path in case.csv_files() for line in Path(path).read_text().splitlines()[1:]}
    expected = 6_000 + sum(int(k[3:]) > 6_000 for k in keys)
    assert spark.read.parquet(f"{case.work_dir}/plain_target_rewritten").count() == expected
    assert spark.read.format("delta").load(f"{case.work_dir}/deltars_target").count() == expected
    batch_rows = sum(len(Path(path).read_text().splitlines()) - 1 for path in case.csv_files())
    assert spark.read.format("delta").load(f"{case.work_dir}/plain_batch_delta").count() == batch_rows
