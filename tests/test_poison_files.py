"""No single file can stop the pipeline: poison files beside good ones, in one stage run.

Each poison file fails Spark's read or write of the whole batch (a record past the CSV parser's column limit, a file
removed between listing and reading, a failure injected into one file's read, a name the local file system cannot
open); the good files beside it must still be committed in the same run, the poison file rejected with a precise
reason (or, for a failure that does not reproduce, left for the next run and rejected after the third), every count
must reconcile, and the next run must load new files normally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from conftest import Workspace, copy_workspace, new_workspace
from order_tracking import faults, loading
from order_tracking.failures import TaskFailed
from order_tracking.merge import merge_pending
from order_tracking.stage import StageSummary, stage_new_files
from order_tracking.tables import ensure_stage_tables, ensure_target_tables
from order_tracking.transforms import NUL_BYTE

HEADER = "tracking_num,order_id,status,status_ts\n"
WIDE_ROW = ",".join(f"v{i}" for i in range(30_000))


def good(key: str) -> str:
    return HEADER + f"{key}-1,O1,Created,2026-11-01T08:00:00Z\n{key}-2,O2,Shipped,\n"


# name -> (text, substring of the rejection reason)
POISON = {
    "wide_row.csv": (HEADER + "W1,O1,Created,\n" + WIDE_ROW + "\nW2,O2,Created,\n", "column limit of 20,480"),
    "wide_header.csv": ("x," * 30_000 + "tracking_num,order_id,status\n" + "x," * 30_000 + "K,O,S\n", "30,003 columns"),
    "long_header.csv": (WIDE_ROW + ",tracking_num,order_id,status\nK,O,S\n", "header row is longer than 64 KiB"),
    "injected.csv": (good("INJ"), "injected read failure: injected.csv"),
    "orders_2026-12-01T10:00:00.csv": (good("COLON"), "URISyntaxException"),
}
GOOD = {f"good_{i}.csv": good(f"G{i}") for i in range(3)}


@dataclass
class Corpus:
    ws: Workspace
    first: StageSummary
    second: StageSummary


@pytest.fixture(scope="module")
def empty_tables(spark, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The pipeline's five tables, created once and still empty."""
    ws = new_workspace(spark, tmp_path_factory.mktemp("empty"))
    ensure_stage_tables(spark, ws.tables)
    ensure_target_tables(spark, ws.tables)
    return ws


@pytest.fixture
def ws(spark, empty_tables: Workspace, tmp_path: Path) -> Workspace:
    """This test's own copy of the empty tables: these tests are about a stage run, not about creating its
    tables, which made a first run on a new schema take 4-8 s longer than one on existing empty tables."""
    return copy_workspace(spark, empty_tables, tmp_path)


@pytest.fixture(scope="module")
def corpus(spark, empty_tables: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Every poison file beside good files in one run; then a run with one new good file."""
    ws = copy_workspace(spark, empty_tables, tmp_path_factory.mktemp("poison"))
    for name, (text, _) in POISON.items():
        ws.drop(name, text)
    for name, text in GOOD.items():
        ws.drop(name, text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(faults.FAIL_READ, "injected.csv")
        first = stage_new_files(spark, ws.stage_config())
    ws.drop("next.csv", good("NEXT"))
    second = stage_new_files(spark, ws.stage_config())
    merge_pending(spark, ws.target_config())
    return Corpus(ws, first, second)


def outcomes(summary: StageSummary) -> dict[str, tuple[str, str | None]]:
    return {f["file"]: (f["outcome"], f["reason"]) for f in summary.files}


def test_the_good_files_beside_poison_files_are_committed_in_the_same_run(spark, corpus: Corpus):
    files = outcomes(corpus.first)
    assert {name for name, (outcome, _) in files.items() if outcome == "staged"} == set(GOOD)
    assert (corpus.first.files_staged, corpus.first.rows_staged) == (len(GOOD), 2 * len(GOOD))
    staged = {r[0] for r in spark.table(corpus.ws.tables.stage).select("_source_file").distinct().collect()}
    assert staged == set(GOOD) | {"next.csv"}


@pytest.mark.parametrize("name", list(POISON))
def test_each_poison_file_is_rejected_with_a_short_precise_reason_beside_it(corpus: Corpus, name: str):
    outcome, reason = outcomes(corpus.first)[name]
    text, expected = POISON[name]
    assert outcome == "rejected"
    assert expected in reason and len(reason) <= 400 and "v29999" not in reason
    rejected = [p for p in corpus.ws.rejected.rglob("*") if p.name == name]
    assert len(rejected) == 1 and rejected[0].read_text(encoding="utf-8") == text
    assert expected in rejected[0].with_name(name + ".reason.txt").read_text(encoding="utf-8")


def test_the_file_log_reconciles_per_file_and_nothing_is_left_in_landing(spark, corpus: Corpus):
    log = {r.file_name: r for r in spark.table(corpus.ws.tables.file_log).collect()}
    assert set(log) == set(POISON) | set(GOOD) | {"next.csv"}
    for name in POISON:
        assert (log[name].outcome, log[name].rows_read, log[name].rows_staged) == ("rejected", 0, 0)
    for name in GOOD:
        assert (log[name].rows_read, log[name].rows_staged, log[name].rows_quarantined) == (2, 2, 0)
    assert os.listdir(corpus.ws.landing) == []


def test_the_next_run_loads_new_files_normally(spark, corpus: Corpus):
    assert outcomes(corpus.second) == {"next.csv": ("staged", None)}
    target = {r[0] for r in spark.table(corpus.ws.tables.target).select("tracking_num").collect()}
    assert target == {f"{key}-{n}" for key in ("G0", "G1", "G2", "NEXT") for n in (1, 2)}


def test_a_file_removed_before_spark_reads_it_leaves_the_rest_loaded(spark, ws, monkeypatch):
    ws.drop("a.csv", good("A"))
    ws.drop("gone.csv", good("GONE"))
    sniff = loading.sniff

    def sniff_then_remove(path: str):
        sniffed = sniff(path)
        if path.endswith("gone.csv"):
            os.remove(path)  # listed and sniffed, then removed: Spark's read of the batch fails on it
        return sniffed

    monkeypatch.setattr(loading, "sniff", sniff_then_remove)
    run = stage_new_files(spark, ws.stage_config())

    assert outcomes(run)["a.csv"] == ("staged", None)
    outcome, reason = outcomes(run)["gone.csv"]
    assert (outcome, run.files_failed) == ("failed", 1) and "left incoming/ after it was listed" in reason
    assert spark.table(ws.tables.stage).count() == 2 and ws.archived() == ["a.csv"]


def test_a_file_removed_right_after_listing_leaves_the_rest_loaded(spark, ws):
    ws.drop("a.csv", good("A"))
    ws.drop("gone.csv", good("GONE"))

    def remove_after_listing(point: str) -> None:
        if point == "stage.listed":
            os.remove(ws.landing / "gone.csv")

    run = stage_new_files(spark, ws.stage_config(), checkpoint=remove_after_listing)

    assert outcomes(run)["a.csv"] == ("staged", None)
    assert outcomes(run)["gone.csv"][0] == "failed" and run.rows_staged == 2


def test_a_failure_that_does_not_reproduce_leaves_the_file_for_the_next_run(spark, ws, monkeypatch):
    ws.drop("a.csv", good("A"))
    ws.drop("flaky.csv", good("FLAKY"))
    monkeypatch.setenv(faults.FAIL_FIRST_READ, "flaky.csv")
    first = stage_new_files(spark, ws.stage_config())
    monkeypatch.delenv(faults.FAIL_FIRST_READ)
    second = stage_new_files(spark, ws.stage_config())

    outcome, reason = outcomes(first)["flaky.csv"]
    assert (outcome, outcomes(first)["a.csv"][0]) == ("failed", "staged")
    assert reason.startswith("attempt 1 of 3: ") and "injected read failure" in reason
    assert outcomes(second) == {"flaky.csv": ("staged", None)} and second.rows_staged == 2
    assert os.listdir(ws.landing) == [] and sorted(ws.archived()) == ["a.csv", "flaky.csv"]


def test_a_file_whose_load_fails_in_three_runs_is_rejected_and_stops_holding_up_the_folder(spark, ws, monkeypatch):
    ws.drop("flaky.csv", good("FLAKY"))
    monkeypatch.setenv(faults.FAIL_FIRST_READ, "flaky.csv")
    runs = [stage_new_files(spark, ws.stage_config()) for _ in range(3)]

    assert [outcomes(run)["flaky.csv"][0] for run in runs] == ["failed", "failed", "rejected"]
    assert outcomes(runs[2])["flaky.csv"][1].startswith("gave up after 3 attempts: ")
    assert os.listdir(ws.landing) == [] and ws.rejected_files() == ["flaky.csv", "flaky.csv.reason.txt"]
    failed = spark.table(ws.tables.file_log).filter(F.col("outcome") == "failed").count()
    assert failed == 2


def test_a_stray_nul_byte_quarantines_its_row_and_a_utf16_file_is_still_rejected_whole(spark, ws):
    ws.drop("nul.csv", (HEADER + "N1,O1,Cre\x00ated,\nN2,O2,Created,\n").encode("utf-8"))
    ws.drop("utf16.csv", (HEADER + "U1,O1,Created,\n").encode("utf-16"))
    run = stage_new_files(spark, ws.stage_config())

    assert outcomes(run)["nul.csv"] == ("staged", None)
    assert [(f["rows_staged"], f["rows_quarantined"]) for f in run.files if f["file"] == "nul.csv"] == [(1, 1)]
    assert [r.reason for r in spark.table(ws.tables.quarantine).collect()] == [NUL_BYTE]
    assert outcomes(run)["utf16.csv"][0] == "rejected" and "binary" in outcomes(run)["utf16.csv"][1]


def test_keys_padded_with_unicode_spaces_are_one_parcel(spark, ws):
    ws.drop("a.csv", HEADER + "\u00a0K1\u00a0,O1,Created,2026-11-01T08:00:00Z\n\u3000K2\u2007,O2,Created,\n")
    ws.drop("b.csv", HEADER + "K1,O1\u202f,Shipped,2026-11-02T08:00:00Z\nK2,O2,Shipped,\n", age_seconds=1800)
    stage_new_files(spark, ws.stage_config())
    merge_pending(spark, ws.target_config())

    target = {r.tracking_num: (r.order_id, r.status) for r in spark.table(ws.tables.target).collect()}
    assert target == {"K1": ("O1", "Shipped"), "K2": ("O2", "Shipped")}


def test_a_failure_no_single_file_explains_fails_the_task_in_one_line(spark, ws, monkeypatch):
    ws.drop("a.csv", good("A"))
    ws.drop("b.csv", good("B"))

    def table_gone(*args, **kwargs):
        spark.sql("SELECT * FROM no_such_schema.no_such_table")  # raises, as a lost table would

    monkeypatch.setattr(loading, "write_batch", table_gone)
    with pytest.raises(TaskFailed) as failed:
        stage_new_files(spark, ws.stage_config())

    message = str(failed.value)
    assert "no single file explains it" in message and "TABLE_OR_VIEW_NOT_FOUND" in message
    assert "\n" not in message and len(message) < 400
    assert sorted(os.listdir(ws.landing)) == ["a.csv", "b.csv"]
    assert spark.table(ws.tables.file_log).count() == 0


def test_a_name_the_error_does_not_give_is_found_by_bisection(spark, ws, monkeypatch):
    names = [f"f{i}.csv" for i in range(6)]
    for name in names:
        ws.drop(name, good(name[:-4].upper()))
    # Spark's message for an injected failure names the file, not its path: isolation must bisect.
    monkeypatch.setenv(faults.FAIL_READ, "f4.csv")
    run = stage_new_files(spark, ws.stage_config())

    assert {name for name, (outcome, _) in outcomes(run).items() if outcome == "rejected"} == {"f4.csv"}
    assert run.files_staged == 5 and run.rows_staged == 10
