"""The job as the bundle defines it: both notebooks, run by the local runner, on the sample CSVs."""

from __future__ import annotations

import argparse
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from conftest import Workspace, assert_rows
from order_tracking.cli import repo_root
from order_tracking.local import commands
from order_tracking.local.job import load_job, local_parameters
from order_tracking.local.progress import Progress
from order_tracking.local.runner import run_job
from order_tracking.local.watch import Watcher

SAMPLES = Path(repo_root()) / "src" / "order_tracking" / "samples"

UPDATES = """tracking_num,order_id,status,status_ts,carrier
000123457,ORD-1002,Delivered,2026-11-03T10:00:00Z,DHL
000123458,ORD-1003,Shipped,2026-11-01T20:00:00Z,UPS
000123461,ORD-1008,Created,2026-11-03T11:00:00Z,UPS
"""


def job_parameters(ws: Workspace) -> dict[str, str]:
    spec = load_job(repo_root(), "dev")
    return local_parameters(
        spec, str(ws.landing), str(ws.archive), str(ws.rejected), "spark_catalog", ws.tables.schema, settle_seconds=0
    )


def run_once(spark, ws: Workspace, progress: Progress | None = None):
    return run_job(spark, load_job(repo_root(), "dev"), job_parameters(ws), progress=progress)


def target_rows(spark, ws: Workspace):
    return spark.table(ws.tables.target).select(
        "tracking_num", "order_id", "status", F.col("status_ts").cast("string").alias("status_ts"), "carrier"
    )


def test_the_job_on_the_samples_then_a_file_of_updates(spark, ws, capsys) -> None:
    for sample in SAMPLES.glob("*.csv"):
        shutil.copy(sample, ws.landing / sample.name)
    said = []
    first = run_once(spark, ws, Progress(write=said.append))
    assert first.status == "succeeded", first.error
    assert [line.split(" after ")[0] for line in said] == [
        "orders_stage: started",
        "orders_stage: done",
        "orders_target: started",
        "orders_target: done",
    ]
    # What the notebooks print is kept with the run, not printed: `run --verbose` shows it.
    assert '"rows_staged": 9' in first.printed["orders_stage"]
    assert '"rows_staged"' not in capsys.readouterr().out
    assert first.tasks["orders_stage"]["rows_staged"] == 9
    assert first.tasks["orders_stage"]["rows_quarantined"] == 2
    assert first.tasks["orders_target"]["rows_inserted"] == 5

    ws.drop("orders_2026-11-03.csv", UPDATES)
    second = run_once(spark, ws)
    assert second.status == "succeeded", second.error
    target = second.tasks["orders_target"]
    assert (target["rows_inserted"], target["rows_updated"], target["rows_unchanged"]) == (1, 1, 1)
    assert_rows(
        target_rows(spark, ws),
        [
            ("000123456", "ORD-1001", "Delivered", "2026-11-02 11:05:00", "UPS"),
            ("000123457", "ORD-1002", "Delivered", "2026-11-03 10:00:00", "DHL"),
            ("000123458", "ORD-1003", "Exception", "2026-11-02 12:00:00", "UPS"),  # the late Shipped loses
            ("000123460", "ORD-1007", "Created", "2026-11-02 13:20:00", "DHL"),
            ("000123461", "ORD-1008", "Created", "2026-11-03 11:00:00", "UPS"),
            ("TRK0099A", "ORD-1004", "Created", "2026-11-01 09:00:00", "FedEx, Ground"),
        ],
    )
    assert sorted(ws.archived()) == ["orders_2026-11-01.csv", "orders_2026-11-02.csv", "orders_2026-11-03.csv"]
    assert list(ws.landing.iterdir()) == []

    capsys.readouterr()
    show = argparse.Namespace(warehouse=str(ws.root / "unused"), schema=ws.tables.schema, limit=20)
    assert commands.show(show, repo_root()) == 0
    printed = capsys.readouterr().out
    assert re.search(r"\|TRK0099A\s*\|ORD-1004\|Created", printed)
    assert re.search(r"orders_target\s+6 rows", printed)


def test_a_failing_task_fails_the_run_and_stops_the_job(spark, ws) -> None:
    parameters = {**job_parameters(ws), "schema": "orders; DROP TABLE x"}
    run = run_job(spark, load_job(repo_root(), "dev"), parameters)
    assert run.status == "failed"
    assert run.failed_task == "orders_stage"
    assert "not a valid identifier" in run.error
    assert "orders_target" not in run.tasks


def test_the_watcher_runs_the_job_once_per_settled_group_of_files(spark, ws) -> None:
    spec, parameters = load_job(repo_root(), "dev"), job_parameters(ws)
    watcher = Watcher(
        str(ws.landing),
        lambda: run_job(spark, spec, parameters),
        wait_after_last_change=1.0,
        min_time_between_triggers=0.0,
        poll_seconds=0.1,
    )
    thread = threading.Thread(target=watcher.loop, daemon=True)
    thread.start()
    try:
        for name in ("a.csv", "b.csv"):  # one group: both land within the quiet period
            ws.drop(name, f"tracking_num,order_id,status\nW-{name},1,Created\n", age_seconds=0)
            time.sleep(0.3)
        _wait_for(lambda: len(watcher.runs) == 1, seconds=120)
        ws.drop("c.csv", "tracking_num,order_id,status\nW-a.csv,1,Shipped\n", age_seconds=0)
        _wait_for(lambda: len(watcher.runs) == 2, seconds=120)
        time.sleep(1.5)  # nothing new has landed: no further run
    finally:
        watcher.stop.set()
        thread.join(timeout=120)
    assert len(watcher.runs) == 2
    assert [r.tasks["orders_stage"]["files_staged"] for r in watcher.runs] == [2, 1]
    statuses = {r.tracking_num: r.status for r in spark.table(ws.tables.target).collect()}
    assert statuses == {"W-a.csv": "Shipped", "W-b.csv": "Created"}


def _wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the watcher")
        time.sleep(0.1)
