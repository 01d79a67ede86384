"""Task 2 on real Spark + Delta. One scenario of five batches; each parcel key pins one behaviour.

The scenario runs with the log-compaction threshold lowered to 3 files, so both logs are compacted along the way
and every later run reads compacted logs.
"""

from __future__ import annotations

import os

import pytest
from pyspark.sql import functions as F

from conftest import assert_rows, new_workspace
from order_tracking.maintenance import data_files
from order_tracking.merge import TARGET_COMPACTION_VERSIONS, compaction_due, merge_pending
from order_tracking.stage import stage_new_files

TS = "tracking_num,order_id,status,status_ts\n"
NO_TS = "tracking_num,order_id,status\n"

BATCH_1 = {
    "b1.csv": TS + "INS,1,Created,2026-11-01T08:00:00Z\n"
    "DUP,2,Created,2026-11-01T08:00:00Z\nDUP,2,Shipped,2026-11-01T09:00:00Z\nDUP,2,Picked,2026-11-01T08:30:00Z\n"
    "UPD,3,Created,2026-11-01T08:00:00Z\nSAME,4,Created,2026-11-01T08:00:00Z\nLATE,5,Delivered,2026-11-05T08:00:00Z\n",
    "b1_nots.csv": NO_TS + "NV,,Created\nARR,6,Created\nARR,6,Picked\n",
}
BATCH_2 = {
    "b2.csv": TS + "UPD,3,Shipped,2026-11-02T08:00:00Z\nSAME,4,Created,2026-11-01T08:00:00Z\n"
    "LATE,5,Shipped,2026-11-03T08:00:00Z\n",
    "b2_nots.csv": NO_TS + "NV,42,Created\nLATE,5,Returned\n",
    "b2_extra.csv": "tracking_num,order_id,status,status_ts,weight_kg\nNEWCOL,7,Created,2026-11-02T08:00:00Z,1.5\n",
}
BATCH_3 = {"b3.csv": NO_TS + "P,8,Shipped\nP2,9,Created\n"}
BATCH_4 = {"b4.csv": NO_TS + "P,8,Delivered\n"}
BATCH_5 = {"b5.csv": NO_TS + "P,8,Delivered\n"}  # resent as is: changes nothing


def _target(spark, ws) -> dict[str, dict]:
    return {r.tracking_num: r.asDict() for r in spark.table(ws.tables.target).collect()}


COMPACTION_THRESHOLD = 3


@pytest.fixture(scope="module")
def scenario(spark, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("order_tracking.maintenance.LOG_COMPACTION_MIN_FILES", COMPACTION_THRESHOLD)
        return _run_scenario(spark, new_workspace(spark, tmp_path_factory.mktemp("merge")))


def _run_scenario(spark, ws) -> dict:
    result = {"ws": ws, "stages": []}

    def land_and_stage(files: dict[str, str], age: float) -> None:
        for name, text in files.items():
            ws.drop(name, text, age_seconds=age)
        result["stages"].append(stage_new_files(spark, ws.stage_config()))

    land_and_stage(BATCH_1, age=7200)
    result["merge_1"] = merge_pending(spark, ws.target_config())
    result["after_1"] = _target(spark, ws)
    land_and_stage(BATCH_2, age=3600)
    result["merge_2"] = merge_pending(spark, ws.target_config())
    result["after_2"] = _target(spark, ws)
    result["version_2"] = spark.sql(f"DESCRIBE HISTORY {ws.tables.target} LIMIT 1").first()["version"]
    result["rerun"] = merge_pending(spark, ws.target_config())
    result["after_rerun"] = _target(spark, ws)
    result["version_rerun"] = spark.sql(f"DESCRIBE HISTORY {ws.tables.target} LIMIT 1").first()["version"]

    land_and_stage(BATCH_3, age=1800)

    def merge_fails(point: str) -> None:
        if point == "target.before_merge":
            raise RuntimeError("cluster lost")

    with pytest.raises(RuntimeError):
        merge_pending(spark, ws.target_config(), checkpoint=merge_fails)
    land_and_stage(BATCH_4, age=900)
    result["merge_4"] = merge_pending(spark, ws.target_config())
    result["after_4"] = _target(spark, ws)
    result["version_4"] = spark.sql(f"DESCRIBE HISTORY {ws.tables.target} LIMIT 1").first()["version"]
    land_and_stage(BATCH_5, age=600)
    result["merge_5"] = merge_pending(spark, ws.target_config())
    result["version_5"] = spark.sql(f"DESCRIBE HISTORY {ws.tables.target} LIMIT 1").first()["version"]
    result["merge_log"] = spark.table(ws.tables.merge_log).orderBy("batch_id").collect()
    for log in ("file_log", "merge_log"):
        table = getattr(ws.tables, log)
        result[f"{log}_files"] = data_files(spark, table)
        result[f"{log}_operations"] = [
            r["operation"] for r in spark.sql(f"DESCRIBE HISTORY {table}").orderBy("version").collect()
        ]
    return result


def test_new_keys_are_inserted_into_a_target_created_from_the_declared_schema(spark, scenario) -> None:
    assert scenario["after_1"]["INS"]["status"] == "Created"
    schema = spark.table(scenario["ws"].tables.target).schema
    assert not schema["tracking_num"].nullable


def test_duplicates_in_the_very_first_batch_collapse_to_the_newest_event(scenario) -> None:
    assert scenario["after_1"]["DUP"]["status"] == "Shipped"
    assert scenario["merge_1"].rows_pending == 10
    assert scenario["merge_1"].rows_inserted == 7


def test_without_status_ts_the_later_row_in_the_file_wins(scenario) -> None:
    assert scenario["after_1"]["ARR"]["status"] == "Picked"


def test_a_newer_status_updates_the_parcel(scenario) -> None:
    assert scenario["after_2"]["UPD"]["status"] == "Shipped"
    assert scenario["after_2"]["UPD"]["_source_file"] == "b2.csv"


def test_a_resent_identical_row_leaves_the_parcel_unchanged(scenario) -> None:
    assert scenario["after_2"]["SAME"]["_source_file"] == "b1.csv"
    assert scenario["after_2"]["SAME"]["_updated_at"] == scenario["after_1"]["SAME"]["_updated_at"]


def test_a_late_older_file_never_overwrites_a_newer_status(scenario) -> None:
    assert scenario["after_2"]["LATE"]["status"] == "Delivered"  # neither the older Shipped nor the untimed Returned


def test_a_null_becoming_a_value_is_a_change(scenario) -> None:
    assert scenario["after_1"]["NV"]["order_id"] is None
    assert scenario["after_2"]["NV"]["order_id"] == "42"


def test_merge_metrics_count_inserted_updated_and_unchanged(scenario) -> None:
    second = scenario["merge_2"]
    assert (second.rows_inserted, second.rows_updated, second.rows_unchanged) == (1, 2, 2)
    assert second.source_rows == 5


def test_merge_metrics_name_the_target_version_the_merge_committed(scenario) -> None:
    assert scenario["merge_4"].target_version == scenario["version_4"]
    assert scenario["merge_log"][-2]["target_version"] == scenario["version_4"]


def test_a_batch_that_changes_nothing_commits_no_version_and_is_logged_as_unchanged(scenario) -> None:
    fifth = scenario["merge_5"]
    assert (fifth.source_rows, fifth.rows_inserted, fifth.rows_updated, fifth.rows_unchanged) == (1, 0, 0, 1)
    assert fifth.target_version is None
    assert scenario["version_5"] == scenario["version_4"]
    last = scenario["merge_log"][-1]
    assert (last["batch_id"], last["target_version"], last["rows_unchanged"]) == (fifth.batches[0], None, 1)


def test_each_log_append_writes_one_file_and_a_log_is_compacted_once_it_holds_the_threshold(scenario) -> None:
    """File log: 2, 3, 1, 1 and 1 rows per commit; compacted at the third and fifth commit, 3 files each time.
    Merge log: 1, 1, 2 and 1 rows per merge; compacted at the third. Every run after a compaction read the
    compacted logs, and the scenario's other tests check what those runs did."""
    assert [stage.file_log_files_compacted for stage in scenario["stages"]] == [None, None, 3, None, 3]
    merges = [scenario[name].merge_log_files_compacted for name in ("merge_1", "merge_2", "merge_4", "merge_5")]
    assert merges == [None, None, 3, None]
    assert scenario["rerun"].merge_log_files_compacted is None  # nothing was pending: nothing logged
    assert (scenario["file_log_files"], scenario["merge_log_files"]) == (1, 2)
    create, *appends = scenario["file_log_operations"]
    assert appends == ["WRITE"] * 3 + ["OPTIMIZE"] + ["WRITE"] * 2 + ["OPTIMIZE"]
    assert scenario["merge_log_operations"][1:] == ["WRITE"] * 3 + ["OPTIMIZE", "WRITE"]


def test_only_the_target_has_deletion_vectors_and_its_merges_write_them(spark, scenario) -> None:
    """The MERGE marks replaced rows instead of rewriting their files. The four other tables only gain files or lose
    whole batches, and reading a table with the feature costs more even when no file has a deletion vector."""
    tables = scenario["ws"].tables
    merges = spark.sql(f"DESCRIBE HISTORY {tables.target}").filter("operation = 'MERGE'").collect()
    assert sum(int(m.operationMetrics["numTargetDeletionVectorsAdded"]) for m in merges) > 0

    def features(table: str) -> list[str]:
        return spark.sql(f"DESCRIBE DETAIL {table}").first()["tableFeatures"] or []

    assert "deletionVectors" in features(tables.target)
    for table in (tables.stage, tables.quarantine, tables.file_log, tables.merge_log):
        assert "deletionVectors" not in features(table), table


def test_a_new_optional_column_is_added_to_the_target(spark, scenario) -> None:
    assert scenario["after_2"]["NEWCOL"]["weight_kg"] == "1.5"
    assert scenario["after_2"]["INS"]["weight_kg"] is None


def test_rerunning_the_merge_changes_nothing(scenario) -> None:
    assert scenario["rerun"].batches == []
    assert scenario["after_rerun"] == scenario["after_2"]
    assert scenario["version_rerun"] == scenario["version_2"]


def test_after_a_failed_merge_every_pending_batch_merges_in_order(spark, scenario) -> None:
    ws = scenario["ws"]
    assert len(scenario["merge_4"].batches) == 2
    assert scenario["after_4"]["P"]["status"] == "Delivered"
    assert scenario["after_4"]["P2"]["status"] == "Created"
    merged = spark.table(ws.tables.merge_log).select("batch_id").distinct().count()
    staged = spark.table(ws.tables.file_log).select("batch_id").distinct().count()
    assert merged == staged == 5


def test_the_final_target_is_exactly_the_newest_row_per_parcel(spark, scenario) -> None:
    target = spark.table(scenario["ws"].tables.target).select(
        "tracking_num", "order_id", "status", F.col("status_ts").cast("string").alias("status_ts"), "weight_kg"
    )
    assert_rows(
        target,
        [
            ("INS", "1", "Created", "2026-11-01 08:00:00", None),
            ("DUP", "2", "Shipped", "2026-11-01 09:00:00", None),
            ("UPD", "3", "Shipped", "2026-11-02 08:00:00", None),
            ("SAME", "4", "Created", "2026-11-01 08:00:00", None),
            ("LATE", "5", "Delivered", "2026-11-05 08:00:00", None),
            ("NV", "42", "Created", None, None),
            ("ARR", "6", "Picked", None, None),
            ("NEWCOL", "7", "Created", "2026-11-02 08:00:00", "1.5"),
            ("P", "8", "Delivered", None, None),
            ("P2", "9", "Created", None, None),
        ],
    )


def test_the_logged_target_version_is_the_merges_even_when_another_writer_commits_right_after(
    spark, ws, monkeypatch
) -> None:
    """Another session (an OPTIMIZE, Databricks' predictive optimization) may commit to the target between the MERGE
    and the look-up of its version; the version reported and logged is still the MERGE's. Where the session's last
    commit version is not available, the table's newest history entry gives it."""
    with monkeypatch.context() as no_session_version:
        no_session_version.setattr("order_tracking.merge.forget_last_commit_version", lambda spark: False)
        ws.drop("a.csv", TS + "K1,1,Created,2026-11-01T08:00:00Z\n")
        stage_new_files(spark, ws.stage_config())
        first = merge_pending(spark, ws.target_config())
    newest = spark.sql(f"DESCRIBE HISTORY {ws.tables.target} LIMIT 1").first()
    assert (newest["operation"], first.target_version) == ("MERGE", newest["version"])

    # The second run's file-log append and MERGE get the same version number (2): the session's last commit
    # version must be the MERGE's, not the append's.
    ws.drop("b.csv", TS + "K1,1,Shipped,2026-11-02T08:00:00Z\n")
    stage_new_files(spark, ws.stage_config())
    other_session = spark.newSession()

    def another_writer_commits(point: str) -> None:
        if point == "target.merged":
            other_session.sql(f"ALTER TABLE {ws.tables.target} SET TBLPROPERTIES ('touched.by' = 'another writer')")

    second = merge_pending(spark, ws.target_config(), checkpoint=another_writer_commits)

    newest_first = spark.sql(f"DESCRIBE HISTORY {ws.tables.target}").orderBy(F.desc("version")).collect()
    assert [entry["operation"] for entry in newest_first[:2]] == ["SET TBLPROPERTIES", "MERGE"]
    merge_version = newest_first[1]["version"]
    assert spark.sql(f"DESCRIBE HISTORY {ws.tables.file_log} LIMIT 1").first()["version"] == merge_version
    assert second.target_version == merge_version
    logged = spark.table(ws.tables.merge_log).orderBy("batch_id").select("target_version").collect()
    assert [row[0] for row in logged] == [first.target_version, merge_version]


def test_the_merge_reads_only_target_files_whose_keys_overlap_the_batch(spark, tmp_path) -> None:
    """The batch's key range prunes target files: a file of older parcels is never opened, even when it is gone.

    Keys with a quote and a backslash check that the range's literals are escaped.
    """
    ws = new_workspace(spark, tmp_path)

    def stage_and_merge(name: str, text: str, age: float):
        ws.drop(name, text, age_seconds=age)
        stage_new_files(spark, ws.stage_config())
        return merge_pending(spark, ws.target_config())

    stage_and_merge("old.csv", TS + "".join(f"A{i:03d},{i},Delivered,2026-10-01T08:00:00Z\n" for i in range(50)), 7200)
    stage_and_merge(
        "recent.csv", TS + "B'01,1,Created,2026-11-01T08:00:00Z\nB\\02,2,Created,2026-11-01T08:00:00Z\n", 3600
    )
    old_file = spark.table(ws.tables.target).filter(F.col("tracking_num") == "A000").select("_metadata.file_path")
    (old_path,) = {r[0].removeprefix("file:") for r in old_file.collect()}
    os.remove(old_path)

    merged = stage_and_merge(
        "update.csv",
        TS
        + "B'01,1,Shipped,2026-11-02T08:00:00Z\nB\\02,2,Created,2026-11-01T08:00:00Z\nC'03,3,Created,2026-11-02T08:00:00Z\n",
        1800,
    )

    assert (merged.rows_inserted, merged.rows_updated, merged.rows_unchanged) == (1, 1, 1)
    recent = spark.table(ws.tables.target).filter(F.col("tracking_num") >= "B").select("tracking_num", "status")
    assert_rows(recent, [("B'01", "Shipped"), ("B\\02", "Created"), ("C'03", "Created")])


@pytest.mark.parametrize(
    ("previous", "merged", "due"),
    [
        (None, None, False),  # the merge changed nothing: no version
        (None, 49, False),
        (None, 50, True),
        (49, 50, True),
        (48, 51, True),  # the multiple itself was another writer's version
        (50, 51, False),
        (120, 149, False),
        (149, 151, True),
    ],
)
def test_the_target_is_due_for_compaction_when_a_merge_crosses_a_multiple_of_the_interval(
    previous, merged, due
) -> None:
    assert TARGET_COMPACTION_VERSIONS == 50
    assert compaction_due(previous, merged) is due


def test_the_merge_task_compacts_the_target_after_its_commit_and_the_rows_stay(spark, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("order_tracking.merge.TARGET_COMPACTION_VERSIONS", 2)
    ws = new_workspace(spark, tmp_path)
    summaries = []
    for run in range(3):
        ws.drop(f"c{run}.csv", TS + f"C{run},{run},Created,2026-11-0{run + 1}T08:00:00Z\n", age_seconds=3600 - run)
        stage_new_files(spark, ws.stage_config())
        summaries.append(merge_pending(spark, ws.target_config()))
    # Versions: create 0, merges 1 and 2 (crosses 2: OPTIMIZE 3), merge 4 (crosses 4: OPTIMIZE 5).
    assert [s.target_version for s in summaries] == [1, 2, 4]
    assert [s.target_compacted for s in summaries] == [False, True, True]
    history = spark.sql(f"DESCRIBE HISTORY {ws.tables.target}").orderBy("version").collect()
    assert [r["operation"] for r in history] == ["CREATE TABLE", "MERGE", "MERGE", "OPTIMIZE", "MERGE", "OPTIMIZE"]
    assert data_files(spark, ws.tables.target) == 1
    target = spark.table(ws.tables.target).select("tracking_num", "status").orderBy("tracking_num").collect()
    assert [tuple(r) for r in target] == [("C0", "Created"), ("C1", "Created"), ("C2", "Created")]


def test_a_key_holding_a_variable_reference_is_updated_not_inserted_again(spark, ws) -> None:
    # Spark replaces ${...} in SQL text, literals included, before parsing: in the key range the key must stay as is,
    # or the parcel's target row falls outside the range, never matches, and the update is inserted as a second row.
    key = "TRK${y}9"
    for name, status in (("first.csv", "Created"), ("second.csv", "Shipped")):
        ws.drop(name, NO_TS + f"{key},1,{status}\n", age_seconds=600)
        stage_new_files(spark, ws.stage_config())
        merged = merge_pending(spark, ws.target_config())

    assert (merged.rows_inserted, merged.rows_updated) == (0, 1)
    assert [(r.tracking_num, r.status) for r in spark.table(ws.tables.target).collect()] == [(key, "Shipped")]
