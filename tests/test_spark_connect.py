"""The whole job over Spark Connect, as Databricks serverless runs it: no sparkContext, no RDDs, no JVM in Python.

pyspark switches a whole process to Connect once a remote session exists, which would break the suite's classic
session, so the job runs in a child process against its own local server and reports what it found as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from order_tracking.local.session import CODEGEN_CACHE, RUNTIME_FILTERS, shared_settings

HERE = Path(__file__).resolve().parent
PARITY_SETTINGS = ("spark.sql.ansi.enabled", "spark.sql.session.timeZone", *RUNTIME_FILTERS, *CODEGEN_CACHE)
TARGET_COLUMNS = ["tracking_num", "order_id", "status", "status_ts", "carrier"]
EXPECTED_TARGET = [
    ["000123456", "ORD-1001", "Delivered", "2026-11-02 11:05:00", "UPS"],
    ["000123457", "ORD-1002", "Delivered", "2026-11-03 10:00:00", "DHL"],
    ["000123458", "ORD-1003", "Exception", "2026-11-02 12:00:00", "UPS"],  # the late Shipped loses
    ["000123460", "ORD-1007", "Created", "2026-11-02 13:20:00", "DHL"],
    ["000123461", "ORD-1008", "Created", "2026-11-03 11:00:00", "UPS"],
    ["TRK0099A", "ORD-1004", "Created", "2026-11-01 09:00:00", "FedEx, Ground"],
]


def _rows(df) -> list[dict]:
    return sorted((row.asDict() for row in df.collect()), key=lambda row: row["tracking_num"])


def sql_merge(spark, target: str, source, condition: str):
    """Stand-in for `merge._merge`: the same MERGE in SQL, because DeltaTable needs Delta Connect's server plugin.

    Databricks serverless has that plugin; Maven Central here does not serve io.delta:delta-connect-server,
    so a local Connect server plans SQL MERGE but not the DeltaTable builder.
    """
    from order_tracking.merge import update_condition

    view = "_connect_merge_source"
    source.createOrReplaceTempView(view)
    update = update_condition(source.columns, spark.table(target).columns)
    # Delta 4.0 adds new source columns only with autoMerge on; WITH SCHEMA EVOLUTION alone parses but adds none.
    spark.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
    try:
        return spark.sql(
            f"MERGE WITH SCHEMA EVOLUTION INTO {target} t USING {view} s ON {condition} "
            f"WHEN MATCHED AND {update} THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
        ).first()
    finally:
        spark.conf.unset("spark.databricks.delta.schema.autoMerge.enabled")
        spark.catalog.dropTempView(view)


def run_job_over_connect(root: Path) -> dict:
    """Child process: the samples, then a file of updates, through both notebooks on a Connect session."""
    from pyspark.sql import functions as F

    from conftest import Workspace, jvm_time_zone
    from order_tracking import maintenance, merge
    from order_tracking.config import Tables
    from order_tracking.local.connect import local_connect_spark
    from order_tracking.local.session import LOCAL_CATALOG, create_local_schema
    from test_end_to_end import SAMPLES, UPDATES, run_once

    assert callable(merge._merge)
    merge._merge = sql_merge  # the only stand-in; see sql_merge
    # Record the session's last commit version as read after each MERGE: the target version must come from it here too.
    read_after_merge, read_version = [], merge.last_commit_version

    def recorded_version(spark):
        read_after_merge.append(read_version(spark))
        return read_after_merge[-1]

    merge.last_commit_version = recorded_version
    # The second run compacts both logs, so DESCRIBE DETAIL and OPTIMIZE run over Connect too.
    maintenance.LOG_COMPACTION_MIN_FILES = 2
    started = time.monotonic()
    with local_connect_spark(str(root / "warehouse")) as spark:
        ready = time.monotonic()
        ws = Workspace(root, Tables(LOCAL_CATALOG, "connect_e2e"))
        create_local_schema(spark, ws.tables.schema, str(root / "db"))
        ws.landing.mkdir(parents=True)
        for sample in sorted(SAMPLES.glob("*.csv")):
            shutil.copy(sample, ws.landing / sample.name)
        first = run_once(spark, ws)
        ws.drop("orders_2026-11-03.csv", UPDATES)
        second = run_once(spark, ws)
        tables = ws.tables
        report = {
            "runs": [first.as_dict(), second.as_dict()],
            "target": [
                [row.get(c) for c in TARGET_COLUMNS]
                for row in _rows(spark.table(tables.target).withColumn("status_ts", F.col("status_ts").cast("string")))
            ],
            "quarantine": [
                list(r)
                for r in spark.table(tables.quarantine)
                .select("_source_file", "_source_row", "reason", "tracking_num")
                .orderBy("_source_file", "_source_row")
                .collect()
            ],
            "file_log": [
                list(r)
                for r in spark.table(tables.file_log)
                .select("file_name", "outcome", "rows_read", "rows_staged", "rows_quarantined")
                .orderBy("file_name")
                .collect()
            ],
            "archived": ws.archived(),
            "landing": sorted(p.name for p in ws.landing.iterdir()),
            "settings": {key: spark.conf.get(key) for key in PARITY_SETTINGS},
            "jvm_time_zone": jvm_time_zone(spark),
            "read_after_merge": read_after_merge,
            "seconds": {"server_start": round(ready - started, 1), "job": round(time.monotonic() - ready, 1)},
        }
    report["seconds"]["total"] = round(time.monotonic() - started, 1)
    return report


@pytest.mark.slow  # a second JVM (the Connect server) and two job runs: minutes on a busy machine
def test_the_job_runs_over_spark_connect_on_the_samples_then_a_file_of_updates(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run(
        [sys.executable, __file__, str(tmp_path)], env=env, capture_output=True, text=True, timeout=1500
    )
    report_path = tmp_path / "report.json"
    if child.returncode != 0 or not report_path.exists():
        pytest.fail(
            f"the Connect run failed (exit {child.returncode}):\n{child.stdout[-4000:]}\n{child.stderr[-4000:]}"
        )
    report = json.loads(report_path.read_text())
    print("Spark Connect timings (s):", report["seconds"])

    first, second = report["runs"]
    assert first["status"] == "succeeded", first["error"]
    assert (first["tasks"]["orders_stage"]["rows_staged"], first["tasks"]["orders_stage"]["rows_quarantined"]) == (9, 2)
    assert first["tasks"]["orders_target"]["rows_inserted"] == 5
    assert second["status"] == "succeeded", second["error"]
    target = second["tasks"]["orders_target"]
    assert (target["rows_inserted"], target["rows_updated"], target["rows_unchanged"]) == (1, 1, 1)
    assert report["target"] == EXPECTED_TARGET
    assert report["quarantine"] == [
        ["orders_2026-11-01.csv", 6, "blank tracking_num", None],
        ["orders_2026-11-01.csv", 7, "unparseable status_ts: yesterday", "000123459"],
    ]
    assert report["file_log"] == [
        ["orders_2026-11-01.csv", "staged", 7, 5, 2],
        ["orders_2026-11-02.csv", "staged", 4, 4, 0],
        ["orders_2026-11-03.csv", "staged", 3, 3, 0],
    ]
    assert report["archived"] == ["orders_2026-11-01.csv", "orders_2026-11-02.csv", "orders_2026-11-03.csv"]
    assert report["landing"] == []
    compacted = [
        (
            run["tasks"]["orders_stage"]["file_log_files_compacted"],
            run["tasks"]["orders_target"]["merge_log_files_compacted"],
        )
        for run in (first, second)
    ]
    assert compacted == [(None, None), (2, 2)]  # and the file log above was read after its compaction
    # each merge's target version was the session's last commit version, read over Connect right after the MERGE
    versions = [run["tasks"]["orders_target"]["target_version"] for run in (first, second)]
    assert versions == [1, 2]
    assert report["read_after_merge"] == ["1", "2"]
    # the server runs with the local session's settings: ANSI, UTC (SQL and JVM), the runtime filters, the code cache
    assert report["settings"] == {key: shared_settings("unused")[key] for key in PARITY_SETTINGS}
    assert report["jvm_time_zone"] == "UTC"


if __name__ == "__main__":
    work = Path(sys.argv[1])
    result = run_job_over_connect(work)
    (work / "report.json").write_text(json.dumps(result, default=str, indent=2))
