"""The maintenance job on tables aged by many runs, and beside a running `orders` job."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import Workspace, copy_workspace, new_workspace
from order_tracking.config import ConfigError
from order_tracking.merge import merge_pending
from order_tracking.stage import stage_new_files
from order_tracking.upkeep import UpkeepConfig, expired_archive_folders, is_write_conflict, run_upkeep

HEADER = "tracking_num,order_id,status,status_ts\n"
NOW = datetime.now(timezone.utc)


def _csv(prefix: str, n: int = 3, bad: int = 0) -> str:
    good = "".join(f"{prefix}{i},O{i},Created,2026-11-01T08:00:00Z\n" for i in range(n))
    return HEADER + good + "".join(f",O{i},Created,2026-11-01T08:00:00Z\n" for i in range(bad))


def _run_at(spark, ws, days_ago: float, name: str, *, merge: bool = True, bad: int = 1) -> None:
    """One job run whose clock reads `days_ago` days back: its batch, file log and archive folder are that old."""
    when = NOW - timedelta(days=days_ago)
    ws.drop(name, _csv(name[:2].upper(), bad=bad), age_seconds=(days_ago + 1) * 86400)
    stage_new_files(spark, ws.stage_config(), clock=lambda: when)
    if merge:
        merge_pending(spark, ws.target_config(), clock=lambda: when)


def _config(ws, **overrides) -> UpkeepConfig:
    return UpkeepConfig(tables=ws.tables, archive_path=str(ws.archive), **overrides)


def _count(spark, table: str, where: str = "true") -> int:
    return spark.table(table).filter(where).count()


@dataclass
class Aged:
    """One schema aged by five stage runs and two merges, copied at three points; each test copies the one it needs."""

    never_merged: Workspace  # aa.csv staged 70 days back, never merged
    three_merged: Workspace  # aa, bb, cc staged 70, 60 and 50 days back, merged by one run 50 days back
    mixed: Workspace  # then dd.csv staged and merged 2 days back, ee.csv staged 45 days back and not merged


@pytest.fixture(scope="module")
def aged(spark, tmp_path_factory: pytest.TempPathFactory) -> Aged:
    ws = new_workspace(spark, tmp_path_factory.mktemp("aged"))
    _run_at(spark, ws, 70, "aa.csv", merge=False)
    never_merged = copy_workspace(spark, ws, tmp_path_factory.mktemp("never_merged"))
    _run_at(spark, ws, 60, "bb.csv", merge=False)
    _run_at(spark, ws, 50, "cc.csv")  # one merge takes the three pending batches, as after missed runs
    three_merged = copy_workspace(spark, ws, tmp_path_factory.mktemp("three_merged"))
    _run_at(spark, ws, 2, "dd.csv")
    _run_at(spark, ws, 45, "ee.csv", merge=False)  # committed (dated 45 days back) but not merged: pending
    return Aged(never_merged, three_merged, ws)


def test_maintenance_prunes_only_old_merged_batches_and_a_dry_run_changes_nothing(spark, aged: Aged, tmp_path: Path):
    ws = copy_workspace(spark, aged.mixed, tmp_path)  # aa, bb, cc merged 50+ days back, dd 2 days back; ee pending
    pending = spark.table(ws.tables.stage).filter("_source_file = 'ee.csv'").count()
    stage_before, target_before = _count(spark, ws.tables.stage), _count(spark, ws.tables.target)

    dry = run_upkeep(spark, _config(ws, stage_retention_days=30, archive_retention_days=55, dry_run=True))

    assert (dry.stage_rows_pruned, dry.quarantine_rows_pruned) == (9, 3)  # aa, bb, cc: 3 rows and 1 bad row each
    assert sorted(p.split("/")[-1] for p in dry.archived_files_deleted) == ["aa.csv", "bb.csv"]
    assert _count(spark, ws.tables.stage) == stage_before
    assert sorted(ws.archived()) == ["aa.csv", "bb.csv", "cc.csv", "dd.csv", "ee.csv"]

    done = run_upkeep(spark, _config(ws, stage_retention_days=30, archive_retention_days=55))

    assert (done.stage_rows_pruned, done.quarantine_rows_pruned) == (9, 3)
    assert done.archived_files_deleted == dry.archived_files_deleted
    assert sorted(r[0] for r in spark.table(ws.tables.stage).select("_source_file").distinct().collect()) == [
        "dd.csv",
        "ee.csv",
    ]
    assert _count(spark, ws.tables.quarantine) == 2
    assert sorted(ws.archived()) == ["cc.csv", "dd.csv", "ee.csv"]
    assert _count(spark, ws.tables.file_log) == 5  # the record of every file is kept
    assert _count(spark, ws.tables.target) == target_before
    assert done.files_after_optimize[ws.tables.stage] <= 2

    summary = merge_pending(spark, ws.target_config())  # the pending batch survived and still merges
    assert summary.source_rows == pending == 3 and summary.rows_inserted == 3


def test_nothing_is_pruned_when_nothing_was_ever_merged(spark, aged: Aged, tmp_path: Path):
    ws = copy_workspace(spark, aged.never_merged, tmp_path)  # aa.csv staged 70 days back, never merged

    summary = run_upkeep(spark, _config(ws, stage_retention_days=1))

    assert summary.pruned_through is None and summary.stage_rows_pruned == 0
    assert _count(spark, ws.tables.stage) == 3


def test_maintenance_beside_a_running_job_loses_and_duplicates_nothing(spark, aged: Aged, tmp_path: Path):
    ws = copy_workspace(spark, aged.three_merged, tmp_path)  # three batches, 50 to 70 days old, all merged
    errors: list[BaseException] = []

    def job_runs() -> None:
        try:
            for i in range(4):
                ws.drop(f"n{i}.csv", _csv(f"N{i}_"))
                stage_new_files(spark, ws.stage_config())
                merge_pending(spark, ws.target_config())
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    job = threading.Thread(target=job_runs)
    job.start()
    upkeeps = [run_upkeep(spark, _config(ws, stage_retention_days=30))]
    while job.is_alive():
        upkeeps.append(run_upkeep(spark, _config(ws, stage_retention_days=30)))
    job.join()

    assert errors == []
    assert sum(u.stage_rows_pruned for u in upkeeps) == 9  # only the three aged, merged batches
    keys = [r[0] for r in spark.table(ws.tables.target).select("tracking_num").collect()]
    assert len(keys) == len(set(keys)) == 9 + 12  # every row once
    assert sorted(r[0] for r in spark.table(ws.tables.stage).select("_source_file").distinct().collect()) == [
        f"n{i}.csv" for i in range(4)
    ]


def test_vacuum_retention_shorter_than_deltas_default_is_refused(ws):
    with pytest.raises(ConfigError, match="at least 168"):
        _config(ws, vacuum_retention_hours=24)
    with pytest.raises(ConfigError, match="at least 168"):
        UpkeepConfig.from_params({"catalog": "c", "schema": "s", "archive_path": "/a", "vacuum_retention_hours": "1"})


def test_only_day_folders_older_than_the_cutoff_expire(tmp_path):
    for day in ("2026/10/31", "2026/11/01", "2026/11/02", "2026/13/01", "notes"):
        (tmp_path / day).mkdir(parents=True)
    expired = expired_archive_folders(str(tmp_path), datetime(2026, 11, 2).date())
    assert [p[len(str(tmp_path)) + 1 :] for p in expired] == ["2026/10/31", "2026/11/01"]


def test_write_conflicts_are_recognised_by_name():
    class ConcurrentAppendException(Exception):
        pass

    assert is_write_conflict(ConcurrentAppendException("files were added"))
    assert not is_write_conflict(ValueError("bad input"))
