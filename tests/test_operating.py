"""Replay, the health SQL and the target's change data feed, on tables built by real job runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import Workspace, copy_workspace, new_workspace
from order_tracking.local.operate import chart_series, draw, run_health_queries
from order_tracking.merge import merge_pending
from order_tracking.replay import REPLAY_LOG, ReplayRefused, parse_selection, replay_name, replay_rejected
from order_tracking.stage import stage_new_files

GOOD = "tracking_num,order_id,status,status_ts\nA1,O1,Created,2026-11-01T08:00:00Z\n,O2,Created,\n"
NO_KEY_COLUMN = "order_id,status\nO3,Created\n"
DAY = datetime(2026, 11, 3, 12, 0, tzinfo=timezone.utc)


def _job_run(spark, ws, when: datetime) -> None:
    stage_new_files(spark, ws.stage_config(), clock=lambda: when)
    merge_pending(spark, ws.target_config(), clock=lambda: when + timedelta(minutes=1))


@pytest.fixture(scope="module")
def rejected_once_built(spark, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One job run on DAY: good.csv staged and merged (its keyless row quarantined), bad.csv rejected."""
    ws = new_workspace(spark, tmp_path_factory.mktemp("rejected_once"))
    ws.drop("good.csv", GOOD, age_seconds=(datetime.now(timezone.utc) - DAY).total_seconds() + 600)
    ws.drop("bad.csv", NO_KEY_COLUMN, age_seconds=(datetime.now(timezone.utc) - DAY).total_seconds() + 600)
    _job_run(spark, ws, DAY)
    return ws


@pytest.fixture
def rejected_once(spark, rejected_once_built: Workspace, tmp_path: Path) -> Workspace:
    """This test's own copy of the tables and folders after that run."""
    return copy_workspace(spark, rejected_once_built, tmp_path)


def test_a_replayed_file_lands_under_a_new_name_linked_to_its_rejection(spark, rejected_once):
    ws = rejected_once
    [done] = replay_rejected(spark, ws.tables, str(ws.landing), "name=bad.csv")

    assert done.new_name == "bad.replay-1.csv" and done.original_file_name == "bad.csv"
    assert (ws.landing / "bad.replay-1.csv").read_text() == NO_KEY_COLUMN
    [logged] = spark.table(ws.tables.name(REPLAY_LOG)).collect()
    assert (logged.original_file_name, logged.new_name) == ("bad.csv", "bad.replay-1.csv")
    assert "tracking_num" in logged.rejection_reason

    stage_new_files(spark, ws.stage_config())  # the stage task takes it as a new file
    names = {r.file_name for r in spark.table(ws.tables.file_log).collect()}
    assert names == {"good.csv", "bad.csv", "bad.replay-1.csv"}


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ("name=good.csv", "never rejected"),
        ("name=nowhere.csv", "no file in the file log"),
        ("batch=19990101T000000000000Z-000000", "no file in the file log"),
        ("colour=red", "use name="),
    ],
)
def test_replay_refuses_what_was_never_rejected(spark, rejected_once, selection, message):
    with pytest.raises(ReplayRefused, match=message):
        replay_rejected(spark, rejected_once.tables, str(rejected_once.landing), selection)
    assert list(rejected_once.landing.iterdir()) == []


def test_the_same_rejection_is_replayed_once_whether_chosen_by_reason_or_batch(spark, rejected_once):
    ws = rejected_once
    batch = spark.table(ws.tables.file_log).filter("file_name = 'bad.csv'").first().batch_id
    replay_rejected(spark, ws.tables, str(ws.landing), "reason=tracking_num")

    with pytest.raises(ReplayRefused, match=r"already replayed: bad.csv \(as bad.replay-1.csv\)"):
        replay_rejected(spark, ws.tables, str(ws.landing), f"batch={batch}")
    assert sorted(p.name for p in ws.landing.iterdir()) == ["bad.replay-1.csv"]


def test_selection_and_names_are_plain():
    assert parse_selection(" reason = missing ") == ("reason", "missing")
    assert replay_name("orders_2026-11-01.csv", 2) == "orders_2026-11-01.replay-2.csv"


def test_health_queries_count_each_day_from_real_runs(spark, rejected_once, tmp_path):
    ws = rejected_once
    second = DAY + timedelta(days=1)
    ws.drop(
        "next.csv", GOOD.replace("A1", "B1"), age_seconds=(datetime.now(timezone.utc) - second).total_seconds() + 60
    )
    _job_run(spark, ws, second)

    health = run_health_queries(spark, ws.tables.schema)

    files = {r["day"].isoformat(): r for r in health["files_per_day"]}
    assert {d: (r["files_landed"], r["files_staged"], r["files_rejected"]) for d, r in files.items()} == {
        "2026-11-03": (2, 1, 1),
        "2026-11-04": (1, 1, 0),
    }
    assert [(r["rows_staged"], r["rows_quarantined"]) for r in health["files_per_day"]] == [(1, 1), (1, 1)]
    [rejection] = health["rejections_per_day"]
    assert rejection["files"] == 1 and "tracking_num" in rejection["reason"]
    assert [r["rows_quarantined"] for r in health["quarantine_per_day"]] == [1, 1]
    merges = [(r["merges"], r["rows_inserted"], r["rows_updated"]) for r in health["merges_per_day"]]
    assert merges == [(1, 1, 0), (1, 1, 0)]
    # Each file was modified 10 (first day) and 1 minute before its run started; the merge is a minute later.
    assert [(r["files_merged"], r["max_minutes"]) for r in health["arrival_to_merge"]] == [(1, 11.0), (1, 2.0)]

    # The local report draws the same rows: a day without a rejection is a zero bar, not a gap.
    days = [r["day"] for r in health["files_per_day"]]
    rejected = chart_series(health["rejections_per_day"], "day", ("files",), "reason", days)
    assert list(rejected.values()) == [[1.0, 0.0]]
    draw(health, str(tmp_path / "health.png"))
    assert (tmp_path / "health.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_target_records_what_one_merge_changed(spark, rejected_once):
    ws = rejected_once  # good.csv (GOOD) was merged: A1 is in the target as Created
    ws.drop("second.csv", GOOD.splitlines()[0] + "\nA1,O1,Shipped,2026-11-02T08:00:00Z\nC1,O9,Created,\n")
    stage_new_files(spark, ws.stage_config())
    summary = merge_pending(spark, ws.target_config())

    version = summary.target_version
    changes = spark.sql(f"SELECT * FROM table_changes('{ws.tables.target.replace('`', '')}', {version}, {version})")
    rows = sorted((r.tracking_num, r._change_type, r.status) for r in changes.collect())
    assert rows == [
        ("A1", "update_postimage", "Shipped"),
        ("A1", "update_preimage", "Created"),
        ("C1", "insert", "Created"),
    ]
