"""Task 1 on real Spark + Delta: what gets staged, quarantined, rejected and archived."""

from __future__ import annotations

import csv
import io

import pytest
from pyspark.sql import functions as F

from conftest import Workspace, assert_rows, new_workspace
from order_tracking.files import list_landing, sniff
from order_tracking.reading import read_landed_files
from order_tracking.stage import stage_new_files, utc_now

HEADER = "tracking_num,order_id,status,status_ts\n"

CORPUS = {
    "zeros.csv": HEADER + "00042,1,Created,2026-11-01T08:00:00Z\n  0007  ,2,Created,\n",
    "reordered.csv": "Status, Order ID ,TRACKING_NUM,Carrier\nShipped,3,00100,UPS\n",
    "header_only.csv": HEADER,
    "crlf.csv": HEADER.replace("\n", "\r\n") + "C1,4,Created,2026-11-01T09:00:00Z\r\nC2,5,Shipped,\r\n",
    "quoted.csv": HEADER + '"Q,1",6,"Out for delivery, door 2",2026-11-01T10:00:00Z\n'
    'Q2,7,"line one\nline two",2026-11-01T10:00:00+02:00\n',
    "bom.csv": "\ufeff" + HEADER + "B1,8,Created,2026-11-01T11:00:00Z\n",
    "replacement_char.csv": HEADER + "R1,8,Label \ufffd unreadable,\n",  # valid UTF-8: U+FFFD is a real character
    "blank_key.csv": HEADER + ",9,Created,\n   ,10,Created,\nK1,11,Created,\nnull,12,Created,\n",
    "bad_ts.csv": HEADER + "T1,12,Created,yesterday\nT2,13,Created,2026-13-45T99:00:00Z\n",
    "short.csv": HEADER + "S1,14\nS2,15,Created,2026-11-01T12:00:00Z,extra\nS3,16,Created,\n",
    "empty.csv": "",
    "semicolon.csv": "tracking_num;order_id;status\n1;2;3\n",
    "no_header.csv": "00123,1,Shipped\n",
}

NOT_READ = ("orders.csv.gz", "notes.txt")  # never read, but named in the summary


def data_records(text: str) -> int:
    """Records after the header, counted independently of Spark."""
    return max(0, sum(1 for _ in csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))) - 1)


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory):
    ws = new_workspace(spark, tmp_path_factory.mktemp("stage_corpus"))
    for name, text in CORPUS.items():
        ws.drop(name, text)
    for name in NOT_READ:
        ws.drop(name, HEADER)
    (ws.landing / "later").mkdir()
    summary = stage_new_files(spark, ws.stage_config())
    return ws, summary


def staged(spark, ws: Workspace, source_file: str):
    return spark.table(ws.tables.stage).filter(F.col("_source_file") == source_file)


def quarantined(spark, ws: Workspace, source_file: str) -> list[tuple]:
    rows = spark.table(ws.tables.quarantine).filter(F.col("_source_file") == source_file).orderBy("_source_row")
    return [(r._source_row, r.reason) for r in rows.collect()]


def test_keys_keep_leading_zeros_and_lose_surrounding_whitespace(spark, corpus) -> None:
    ws, _ = corpus
    rows = staged(spark, ws, "zeros.csv").select("tracking_num", "_source_row")
    assert_rows(rows, [("00042", 1), ("0007", 2)])


def test_columns_are_matched_by_header_name_and_extras_carried(spark, corpus) -> None:
    ws, summary = corpus
    row = staged(spark, ws, "reordered.csv").select("tracking_num", "order_id", "status", "carrier").first()
    assert row.asDict() == {"tracking_num": "00100", "order_id": "3", "status": "Shipped", "carrier": "UPS"}
    assert next(f for f in summary.files if f["file"] == "reordered.csv")["extra_columns"] == ["carrier"]


def test_crlf_bom_and_quoted_fields_parse_like_any_csv_reader(spark, corpus) -> None:
    ws, _ = corpus
    crlf = staged(spark, ws, "crlf.csv").orderBy("_source_row").select("tracking_num", "status").collect()
    assert [tuple(r) for r in crlf] == [("C1", "Created"), ("C2", "Shipped")]
    # status_ts as text in the session's zone (UTC): collect() would turn it into the Python process's local time
    status_ts = F.col("status_ts").cast("string")
    quoted = staged(spark, ws, "quoted.csv").orderBy("_source_row").select("tracking_num", "status", status_ts)
    rows = [tuple(r) for r in quoted.collect()]
    assert rows[0][:2] == ("Q,1", "Out for delivery, door 2")
    assert rows[1][:2] == ("Q2", "line one\nline two")
    assert rows[1][2] == "2026-11-01 08:00:00"  # +02:00 converted to UTC
    assert staged(spark, ws, "bom.csv").select("tracking_num").first()[0] == "B1"
    assert staged(spark, ws, "replacement_char.csv").select("status").first()[0] == "Label \ufffd unreadable"


def test_bad_rows_are_quarantined_with_their_reason_and_row_number(spark, corpus) -> None:
    ws, _ = corpus
    assert quarantined(spark, ws, "blank_key.csv") == [
        (1, "blank tracking_num"),
        (2, "blank tracking_num"),
        (4, "tracking_num is the text NULL"),
    ]
    assert quarantined(spark, ws, "bad_ts.csv") == [
        (1, "unparseable status_ts: yesterday"),
        (2, "unparseable status_ts: 2026-13-45T99:00:00Z"),
    ]
    malformed = "malformed record: wrong number of fields or broken quoting"
    assert quarantined(spark, ws, "short.csv") == [(1, malformed), (2, malformed)]
    raw = {r.raw_record for r in spark.table(ws.tables.quarantine).filter("_source_file = 'short.csv'").collect()}
    assert raw == {"S1,14", "S2,15,Created,2026-11-01T12:00:00Z,extra"}
    assert [r.tracking_num for r in staged(spark, ws, "blank_key.csv").collect()] == ["K1"]


def test_unreadable_files_are_rejected_whole_with_the_reason_beside_them(corpus) -> None:
    ws, summary = corpus
    outcomes = {f["file"]: f for f in summary.files}
    for name, reason in [
        ("empty.csv", "no header row"),
        ("semicolon.csv", "comma-delimited"),
        ("no_header.csv", "missing required column(s)"),
    ]:
        assert outcomes[name]["outcome"] == "rejected"
        assert reason in outcomes[name]["reason"]
        reason_file = next(ws.rejected.rglob(name + ".reason.txt"))
        assert reason in reason_file.read_text()
    assert summary.files_rejected == 3


def test_header_only_file_is_staged_with_no_rows_and_archived(corpus) -> None:
    ws, summary = corpus
    entry = next(f for f in summary.files if f["file"] == "header_only.csv")
    assert (entry["outcome"], entry["rows_staged"], entry["rows_quarantined"]) == ("staged", 0, 0)
    assert "header_only.csv" in ws.archived()


def test_every_row_read_is_staged_or_quarantined_per_file_and_batch(spark, corpus) -> None:
    ws, summary = corpus
    log = {r.file_name: r for r in spark.table(ws.tables.file_log).collect()}
    for name, text in CORPUS.items():
        entry = log[name]
        assert entry.rows_read == entry.rows_staged + entry.rows_quarantined
        if entry.outcome == "staged":
            assert entry.rows_read == data_records(text), name
    assert summary.rows_read == summary.rows_staged + summary.rows_quarantined
    assert summary.rows_staged == spark.table(ws.tables.stage).count()
    assert summary.rows_quarantined == spark.table(ws.tables.quarantine).count()


def test_loaded_files_are_archived_per_batch_and_only_names_never_read_stay_in_landing(corpus) -> None:
    ws, summary = corpus
    assert sorted(p.name for p in ws.landing.iterdir()) == sorted([*NOT_READ, "later"])
    assert (summary.files_ignored, summary.ignored_names) == (3, ["later/", "notes.txt", "orders.csv.gz"])
    assert "ignored_names" not in summary.task_values() and summary.task_values()["files_ignored"] == 3
    batch_folders = {p.parent.name for p in ws.archive.rglob("*.csv")}
    assert batch_folders == {summary.batch_id}
    assert len(ws.archived()) == len(CORPUS) - 3


def test_a_crash_after_the_commit_makes_the_rerun_only_archive(spark, ws) -> None:
    ws.drop("a.csv", HEADER + "A1,1,Created,\n")

    def crash_after_commit(point: str) -> None:
        if point == "stage.committed":
            raise RuntimeError("driver lost")

    with pytest.raises(RuntimeError):
        stage_new_files(spark, ws.stage_config(), checkpoint=crash_after_commit)
    assert (ws.landing / "a.csv").exists()
    rerun = stage_new_files(spark, ws.stage_config())
    assert (rerun.files_skipped, rerun.files_staged, rerun.rows_staged) == (1, 0, 0)
    assert spark.table(ws.tables.stage).count() == 1
    assert ws.archived() == ["a.csv"]


def test_rows_of_a_crash_before_the_commit_are_discarded_then_loaded_once(spark, ws) -> None:
    ws.drop("a.csv", HEADER + "A1,1,Created,\n,2,Created,\n")

    def crash_before_commit(point: str) -> None:
        if point == "stage.stage_written":
            raise RuntimeError("driver lost")

    with pytest.raises(RuntimeError):
        stage_new_files(spark, ws.stage_config(), checkpoint=crash_before_commit)
    assert spark.table(ws.tables.stage).count() == 1  # written, but not committed in the file log
    rerun = stage_new_files(spark, ws.stage_config())
    assert (rerun.files_staged, rerun.rows_staged, rerun.rows_quarantined) == (1, 1, 1)
    assert spark.table(ws.tables.stage).count() == 1
    assert spark.table(ws.tables.quarantine).count() == 1


def test_the_same_name_sent_again_with_new_content_is_loaded_and_archived_apart(spark, ws) -> None:
    ws.drop("daily.csv", HEADER + "D1,1,Created,\n")
    first = stage_new_files(spark, ws.stage_config())
    ws.drop("daily.csv", HEADER + "D1,1,Shipped,\nD2,2,Created,\n", age_seconds=60)
    second = stage_new_files(spark, ws.stage_config())
    assert (first.rows_staged, second.rows_staged) == (1, 2)
    assert ws.archived() == ["daily.csv", "daily.csv"]
    assert first.batch_id != second.batch_id


def test_a_file_landing_during_the_run_is_left_for_the_next_run(spark, ws) -> None:
    ws.drop("first.csv", HEADER + "F1,1,Created,\n")

    def land_during_run(point: str) -> None:
        if point == "stage.stage_written":
            ws.drop("late.csv", HEADER + "L1,2,Created,\n")

    run = stage_new_files(spark, ws.stage_config(), checkpoint=land_during_run)
    assert [f["file"] for f in run.files] == ["first.csv"]
    assert [p.name for p in ws.landing.iterdir()] == ["late.csv"]
    next_run = stage_new_files(spark, ws.stage_config())
    assert [f["file"] for f in next_run.files] == ["late.csv"]


def test_files_with_glob_characters_and_spaces_in_their_names_are_read_exactly(spark, ws) -> None:
    ws.drop("a[1].csv", HEADER + "G1,1,Created,\n")
    ws.drop("a1.csv", HEADER + "G2,2,Created,\n")
    ws.drop("my orders {x}.csv", HEADER + "G3,3,Created,\n")
    run = stage_new_files(spark, ws.stage_config())
    rows = {(r._source_file, r.tracking_num) for r in spark.table(ws.tables.stage).collect()}
    assert rows == {("a[1].csv", "G1"), ("a1.csv", "G2"), ("my orders {x}.csv", "G3")}
    assert run.rows_staged == 3


def test_stage_tables_keep_statistics_only_on_the_columns_their_queries_filter_by(spark, corpus) -> None:
    ws, _ = corpus
    for table, columns in [
        (ws.tables.stage, "_batch_id"),
        (ws.tables.quarantine, "_batch_id"),
        (ws.tables.file_log, "batch_id,file_name"),
    ]:
        properties = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
        assert properties["delta.dataSkippingStatsColumns"] == columns


def test_row_numbers_follow_the_file_when_spark_splits_it(spark, ws) -> None:
    """Spark reads a large file in several splits and packs splits into partitions by size, not position."""
    sizes = {"big_a.csv": 12_000, "big_b.csv": 7_000, "small.csv": 3}
    for name, rows in sizes.items():
        ws.drop(name, HEADER + "".join(f"K{i},{i},Created,\n" for i in range(1, rows + 1)))
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(32 * 1024))
    try:
        splits = spark.read.text(str(ws.landing / "big_a.csv")).select("_metadata.file_block_start").distinct()
        assert splits.count() > 3, "the test needs big_a.csv read in several splits"
        summary = stage_new_files(spark, ws.stage_config())
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")

    assert summary.rows_staged == sum(sizes.values())
    staged_rows = spark.table(ws.tables.stage).select("_source_file", "_source_row", "order_id").collect()
    for name, rows in sizes.items():
        numbers = sorted((r._source_row, int(r.order_id)) for r in staged_rows if r._source_file == name)
        assert numbers == [(i, i) for i in range(1, rows + 1)], name


def test_row_numbers_stay_exact_when_split_settings_change_between_planning_and_writing(spark, ws) -> None:
    """Split sizes follow `spark.sql.files.*` and the parallelism, which serverless or an autoscaling cluster may
    change between two queries: row numbers are counted in the execution that writes them."""
    sizes = {"big_a.csv": 9_000, "big_b.csv": 5_000}
    for name, rows in sizes.items():
        ws.drop(name, HEADER + "".join(f"K{i},{i},Created,\n" for i in range(1, rows + 1)))
    files = [(f, sniff(f.path)) for f in list_landing(str(ws.landing), utc_now(), 0).ready]
    settings = {"spark.sql.files.maxPartitionBytes": "1MB", "spark.sql.files.openCostInBytes": "4MB"}
    later = {
        "spark.sql.files.maxPartitionBytes": str(24 * 1024),
        "spark.sql.files.openCostInBytes": str(8 * 1024),
        "spark.sql.files.minPartitionNum": "7",
    }
    try:
        for key, value in settings.items():
            spark.conf.set(key, value)
        rows = read_landed_files(spark, files, "b1")  # planned with one split per file
        for key, value in later.items():
            spark.conf.set(key, value)
        numbered = rows.select("_source_file", "_source_row", "order_id").collect()  # run with several
    finally:
        for key in {**settings, **later}:
            spark.conf.unset(key)

    for name, count in sizes.items():
        numbers = sorted((r._source_row, int(r.order_id)) for r in numbered if r._source_file == name)
        assert numbers == [(i, i) for i in range(1, count + 1)], name
