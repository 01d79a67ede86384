"""Files that land while a run is in progress, and runs that start together: nothing is moved unloaded, nothing is
loaded twice.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from pyspark.sql import functions as F

from helpers_job import JobFolders, finish, run_job, run_job_here, start_job
from order_tracking.local.runner import job_lock
from order_tracking.local.session import LOCAL_CATALOG
from order_tracking.stage import stage_new_files

HEADER = "tracking_num,order_id,status,status_ts\n"


def _rows(prefix: str, n: int = 2) -> str:
    return HEADER + "".join(f"{prefix}{i},O{i},Created,2026-11-01T08:00:00Z\n" for i in range(n))


def _logged_names(spark, ws) -> list[str]:
    return sorted(r[0] for r in spark.table(ws.tables.file_log).select("file_name").collect())


@pytest.mark.parametrize("point", ["stage.listed", "stage.committed", "stage.moved_one"])
def test_a_file_landing_during_a_run_is_left_in_landing_for_the_next_run(spark, ws, point: str):
    ws.drop("early_1.csv", _rows("E"))
    ws.drop("early_2.csv", _rows("F"))

    def land_late(reached: str) -> None:
        if reached == point and not (ws.landing / "late.csv").exists():
            ws.drop("late.csv", _rows("L"))

    first = stage_new_files(spark, ws.stage_config(), checkpoint=land_late)

    assert [f["file"] for f in first.files] == ["early_1.csv", "early_2.csv"]
    assert os.listdir(ws.landing) == ["late.csv"]
    assert ws.archived() == ["early_1.csv", "early_2.csv"]

    second = stage_new_files(spark, ws.stage_config())

    assert [f["file"] for f in second.files] == ["late.csv"]
    assert os.listdir(ws.landing) == []
    assert _logged_names(spark, ws) == ["early_1.csv", "early_2.csv", "late.csv"]


def test_a_file_landing_while_the_run_waits_for_an_unsettled_one_is_loaded_and_moved_by_that_run(spark, ws):
    now = [datetime.now(timezone.utc)]
    ws.drop("settled.csv", _rows("S"))
    ws.drop("uploading.csv", _rows("U"), age_seconds=0)

    def wait(seconds: float) -> None:
        if not (ws.landing / "arrived.csv").exists():
            ws.drop("arrived.csv", _rows("A"), age_seconds=600)
        now[0] += timedelta(seconds=seconds)

    summary = stage_new_files(
        spark, ws.stage_config(settle_seconds=30.0, max_wait_seconds=120.0), clock=lambda: now[0], sleep=wait
    )

    loaded = sorted(f["file"] for f in summary.files)
    assert loaded == ["arrived.csv", "settled.csv", "uploading.csv"]
    assert ws.archived() == loaded and os.listdir(ws.landing) == []


def _run_here_when_free(spark, folders: JobFolders) -> dict:
    """The bundle's job in this process and session, queued on the same lock as the CLI's runs (as `watch` runs)."""
    with job_lock(str(folders.warehouse)):
        return run_job_here(spark, folders).as_dict()


@pytest.mark.slow
def test_a_run_started_while_another_runs_waits_its_turn_and_nothing_is_loaded_twice(spark, tmp_path):
    # A folder name with spaces and a quote, as a clone under "My Projects" has: the job's JVM options and the
    # tables' SQL locations hold this path.
    folders = JobFolders(tmp_path / "o'brien's order runs", schema=f"conc{os.getpid()}")
    folders.landing.mkdir(parents=True)
    for i in range(3):
        (folders.landing / f"orders_{i}.csv").write_text(_rows(f"T{i}-", 3), encoding="utf-8")

    # Two processes, two JVMs on the same tables: a CLI run, and a run in this process started once the CLI run is
    # in its stage task (its stage table exists), so without the lock both would stage the same files.
    cli_run = start_job(folders)
    deadline = time.monotonic() + 300
    while not (folders.table_path("orders_stage") / "_delta_log").is_dir() and cli_run.poll() is None:
        assert time.monotonic() < deadline, "the CLI run never reached its stage task"
        time.sleep(0.02)
    here = _run_here_when_free(spark, folders)
    cli = finish(cli_run)

    assert (cli.returncode, here["status"]) == (0, "succeeded"), (cli.stderr[-2000:], here["error"])
    start_up_notices = ("Using incubator modules", "log4j profile", "default log level", "NativeCodeLoader", "loopback")
    assert not [line for line in cli.stderr.splitlines() if any(n in line for n in start_up_notices)], cli.stderr
    summaries = sorted((cli.summary, here), key=lambda s: s["tasks"]["orders_stage"]["batch_id"])
    stages = [s["tasks"]["orders_stage"] for s in summaries]
    assert [s["files_staged"] for s in stages] == [3, 0]
    # The second run started its stage task only after the first had finished merging: a queue, not a race.
    assert stages[1]["batch_id"] > summaries[0]["tasks"]["orders_target"]["merge_id"]

    stage = spark.table(f"{LOCAL_CATALOG}.{folders.schema}.orders_stage")
    assert stage.count() == 9
    assert Counter(tuple(r) for r in stage.select("_source_file", "_source_row").collect()).most_common(1)[0][1] == 1
    assert spark.table(f"{LOCAL_CATALOG}.{folders.schema}.orders_target").agg(F.count("*")).first()[0] == 9
    assert os.listdir(folders.landing) == []


@pytest.mark.slow
def test_a_run_started_with_no_wait_while_another_holds_the_lock_exits_3_and_touches_nothing(tmp_path):
    folders = JobFolders(tmp_path)
    folders.landing.mkdir(parents=True)
    folders.warehouse.mkdir()
    (folders.landing / "orders.csv").write_text(_rows("N"), encoding="utf-8")

    with open(folders.warehouse / ".orders-job.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_job(folders, no_wait=True)

    assert result.returncode == 3
    assert "another run holds" in result.stderr
    assert os.listdir(folders.landing) == ["orders.csv"]
    assert sorted(os.listdir(folders.warehouse)) == [".orders-job.lock"]
