"""A corpus of hostile landing files goes through one stage run: each file is staged, has rows quarantined with a
precise reason, or is rejected with a precise reason, and every count reconciles with what Python's csv module reads.
"""

from __future__ import annotations

import csv
import io
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from conftest import Workspace, new_workspace
from order_tracking.merge import merge_pending
from order_tracking.stage import StageSummary, stage_new_files
from order_tracking.transforms import BAD_EVENT_TIME, BLANK_KEY, INVALID_UTF8, MALFORMED, NULL_TEXT_KEY

HEADER = "tracking_num,order_id,status,status_ts\n"
LONG_FIELD = "x" * (1 << 20)


@dataclass(frozen=True)
class Case:
    """One hostile file and what the stage task must make of it."""

    name: str
    data: bytes
    rejected: str | None = None  # substring of the rejection reason
    staged: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)  # reason prefix -> rows


def _text(name: str, text: str, **expected) -> Case:
    return Case(name, text.encode("utf-8"), **expected)


def _junk(seed: int, size: int, with_nul: bool) -> bytes:
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(size))
    return data if with_nul else data.replace(b"\x00", b"\xff")


CORPUS = (
    Case("zero_bytes.csv", b"", rejected="no header row"),
    _text("blank_lines_only.csv", "\n\n  \n", rejected="no header row"),
    _text("header_only.csv", HEADER),
    _text("bom.csv", "\ufeff" + HEADER + "BOM1,O1,Created,2026-11-01T08:00:00Z\nBOM2,O2,Created,\n", staged=2),
    _text(
        "crlf.csv",
        HEADER.replace("\n", "\r\n") + "CR1,O1,Created,2026-11-01T08:00:00Z\r\nCR2,O2,Shipped,\r\n",
        staged=2,
    ),
    _text(
        "quoted.csv",
        HEADER + 'Q1,"O,1","In transit, ""fast""\nto hub",2026-11-01T08:00:00Z\nQ2,O2,"Delivered",\n',
        staged=2,
    ),
    _text("semicolon.csv", "tracking_num;order_id;status\nS1;O1;Created\n", rejected="must be comma-delimited"),
    _text("missing_status.csv", "tracking_num,order_id\nM1,O1\n", rejected="missing required column(s) ['status']"),
    _text("extra_columns.csv", "tracking_num,order_id,status,carrier,weight_kg\nX1,O1,Created,UPS,1.5\n", staged=1),
    _text("reordered.csv", "status,status_ts,order_id,tracking_num\nShipped,2026-11-01T09:00:00Z,O7,R1\n", staged=1),
    _text(
        "duplicate_header.csv",
        "tracking_num,order_id,status,Status\nD1,O1,a,b\n",
        rejected="repeats column(s) ['status']",
    ),
    _text(
        "header_case.csv", " Tracking Num ,ORDER_ID,Status, Status TS \nHC1,O1,Created,2026-11-01T08:00:00Z\n", staged=1
    ),
    _text(
        "keys.csv",
        HEADER + ',O1,Created,\n   ,O2,Created,\n"",O3,Created,\n" ",O4,Created,\n'
        "000123,O5,Created,\nNULL,O6,Created,\n  007  ,O7,Created,\n",
        staged=2,
        quarantined={BLANK_KEY: 4, NULL_TEXT_KEY: 1},
    ),
    _text("long_line.csv", HEADER + f"L1,O1,{LONG_FIELD},2026-11-01T08:00:00Z\nL2,O2,Created,\n", staged=2),
    Case(
        "bad_utf8.csv",
        HEADER.encode() + b"U1,O1,Cr\xffated,\nU2,O2,Created,\n\xc3\x28,O3,x,\n",
        staged=1,
        quarantined={INVALID_UTF8: 2},
    ),
    Case("junk_with_nul.csv", _junk(1, 4096, with_nul=True), rejected="binary content"),
    Case("junk_high_bytes.csv", _junk(2, 4096, with_nul=False), rejected="not valid UTF-8"),
    _text(
        "malformed_rows.csv",
        HEADER + "B1,O1,Created,2026-11-01T08:00:00Z,extra\nB2,O2\nB3,O3,Created,tomorrow\nB4,O4,Created,\n",
        staged=1,
        quarantined={MALFORMED: 2, BAD_EVENT_TIME: 1},
    ),
    _text("whitespace_line.csv", HEADER + "W1,O1,Created,\n   \nW2,O2,Created,\n", staged=2),
    _text("orders with spaces.csv", HEADER + "N1,O1,Created,\n", staged=1),
    _text("orders[1].csv", HEADER + "N2,O1,Created,\n", staged=1),
    _text("orders{a,b}.csv", HEADER + "N3,O1,Created,\n", staged=1),
    _text("orders%20percent.csv", HEADER + "N4,O1,Created,\n", staged=1),
    _text("orders_ünïcødé_📦.csv", HEADER + "N5,O1,Created,\n", staged=1),
    _text("orders*?.csv", HEADER + "N6,O1,Created,\n", staged=1),
    _text("resent.csv", HEADER + "RS1,O1,Created,2026-11-01T08:00:00Z\n", staged=1),
)
# Landed between the two runs: the renamed upload, and a new file under a name the first run archived.
SECOND_RUN = (
    _text("renamed_upload.csv", HEADER + "T1,O1,Created,\nT2,O2,Created,\n", staged=2),
    _text("resent.csv", HEADER + "RS1,O1,Delivered,2026-11-02T08:00:00Z\nRS2,O2,Created,\n", staged=2),
)


def csv_record_count(data: bytes) -> int:
    """Data records as Python's csv module reads them; blank and whitespace-only lines are not records."""
    # The limit is global to the process: put it back, or later tests on this worker (sniff) inherit it.
    previous = csv.field_size_limit(len(data) + 1)
    try:
        text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
        records = list(csv.reader(io.StringIO(text, newline="")))
    finally:
        csv.field_size_limit(previous)
    return sum(1 for record in records[1:] if any(f.strip() for f in record))


@dataclass
class Outcome:
    """Everything the corpus runs produced, collected once so each test only reads Python values."""

    ws: Workspace
    runs: list[StageSummary]
    files: dict[tuple[int, str], dict]  # (run, file name) -> the summary's entry
    stage_rows: dict[str, list[int]]  # source file -> staged _source_row values
    quarantine: dict[str, list[tuple[int, str]]]  # source file -> (_source_row, reason)
    target: dict[str, dict]
    file_log: list[dict]
    landing_after_first_run: list[str]


@pytest.fixture(scope="module")
def outcome(spark, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    ws = new_workspace(spark, tmp_path_factory.mktemp("hostile"))
    for case in CORPUS:
        ws.drop(case.name, case.data)
    ws.drop("renamed_upload.csv.tmp", SECOND_RUN[0].data)
    first = stage_new_files(spark, ws.stage_config())
    landing_after_first = sorted(os.listdir(ws.landing))
    os.rename(ws.landing / "renamed_upload.csv.tmp", ws.landing / "renamed_upload.csv")
    ws.drop("resent.csv", SECOND_RUN[1].data, age_seconds=1800)
    second = stage_new_files(spark, ws.stage_config())
    merge_pending(spark, ws.target_config())

    stage_rows: dict[str, list[int]] = {}
    for row in spark.table(ws.tables.stage).select("_batch_id", "_source_file", "_source_row").collect():
        stage_rows.setdefault(f"{row[0]}/{row[1]}", []).append(row[2])
    quarantine: dict[str, list[tuple[int, str]]] = {}
    for row in spark.table(ws.tables.quarantine).select("_batch_id", "_source_file", "_source_row", "reason").collect():
        quarantine.setdefault(f"{row[0]}/{row[1]}", []).append((row[2], row[3]))
    target = {r["tracking_num"]: r.asDict() for r in spark.table(ws.tables.target).collect()}
    files = {(i, f["file"]): f for i, run in enumerate((first, second)) for f in run.files}
    return Outcome(
        ws,
        [first, second],
        files,
        stage_rows,
        quarantine,
        target,
        [r.asDict() for r in spark.table(ws.tables.file_log).collect()],
        landing_after_first,
    )


def _named(folder: Path, name: str) -> list[Path]:
    """Files called exactly `name` under folder (rglob would read `[1]` or `*?` as a pattern)."""
    return [p for p in folder.rglob("*") if p.name == name]


def _expected() -> list[tuple[int, Case]]:
    return [(0, case) for case in CORPUS] + [(1, case) for case in SECOND_RUN]


@pytest.mark.parametrize(("run", "case"), _expected(), ids=lambda v: v.name if isinstance(v, Case) else str(v))
def test_each_hostile_file_is_staged_quarantined_or_rejected_as_expected(outcome: Outcome, run: int, case: Case):
    entry = outcome.files[(run, case.name)]
    batch = outcome.runs[run].batch_id
    if case.rejected:
        assert entry["outcome"] == "rejected"
        assert case.rejected in entry["reason"]
        rejected = _named(outcome.ws.rejected, case.name)
        assert len(rejected) == 1 and rejected[0].read_bytes() == case.data
        reason_file = rejected[0].with_name(case.name + ".reason.txt")
        assert case.rejected in reason_file.read_text(encoding="utf-8")
        return
    assert entry["outcome"] == "staged"
    quarantined = outcome.quarantine.get(f"{batch}/{case.name}", [])
    by_reason = {prefix: sum(1 for _, r in quarantined if r.startswith(prefix)) for prefix in case.quarantined}
    assert (entry["rows_staged"], entry["rows_quarantined"]) == (case.staged, sum(case.quarantined.values()))
    assert by_reason == case.quarantined
    archived = [p for p in _named(outcome.ws.archive, case.name) if p.parent.name == batch]
    assert len(archived) == 1 and archived[0].read_bytes() == case.data


@pytest.mark.parametrize(
    ("run", "case"),
    [c for c in _expected() if not c[1].rejected],
    ids=lambda v: v.name if isinstance(v, Case) else str(v),
)
def test_rows_read_equal_csv_records_and_every_row_number_lands_exactly_once(outcome: Outcome, run: int, case: Case):
    batch = outcome.runs[run].batch_id
    records = csv_record_count(case.data)
    staged = outcome.stage_rows.get(f"{batch}/{case.name}", [])
    quarantined = [row for row, _ in outcome.quarantine.get(f"{batch}/{case.name}", [])]
    log = [r for r in outcome.file_log if r["batch_id"] == batch and r["file_name"] == case.name]

    assert sorted(staged + quarantined) == list(range(1, records + 1))
    assert len(log) == 1 and (log[0]["rows_read"], log[0]["rows_staged"]) == (records, len(staged))


def test_summary_counts_reconcile_with_its_files(outcome: Outcome):
    for run in outcome.runs:
        staged = [f for f in run.files if f["outcome"] == "staged"]
        assert run.files_staged == len(staged)
        assert run.files_rejected == len(run.files) - len(staged)
        assert run.rows_staged == sum(f["rows_staged"] for f in staged)
        assert run.rows_quarantined == sum(f["rows_quarantined"] for f in staged)
        assert run.rows_read == run.rows_staged + run.rows_quarantined


def test_a_temporary_upload_waits_and_is_loaded_once_renamed(outcome: Outcome):
    assert outcome.landing_after_first_run == ["renamed_upload.csv.tmp"]
    assert (0, "renamed_upload.csv.tmp") not in outcome.files
    assert os.listdir(outcome.ws.landing) == []


def test_a_name_sent_again_with_new_content_is_loaded_and_both_versions_are_archived(outcome: Outcome):
    versions = sorted(p.read_bytes() for p in _named(outcome.ws.archive, "resent.csv"))
    assert versions == sorted([CORPUS[-1].data, SECOND_RUN[1].data])
    assert outcome.target["RS1"]["status"] == "Delivered"
    assert "RS2" in outcome.target


def test_values_survive_quoting_bom_crlf_reordering_and_header_spelling(outcome: Outcome):
    target = outcome.target
    assert target["Q1"]["order_id"] == "O,1"
    assert target["Q1"]["status"] == 'In transit, "fast"\nto hub'
    assert target["CR2"]["status"] == "Shipped"  # no trailing carriage return
    assert {"BOM1", "BOM2", "HC1"} <= set(target)
    assert (target["R1"]["order_id"], target["R1"]["status"]) == ("O7", "Shipped")
    assert target["X1"]["carrier"] == "UPS" and target["X1"]["weight_kg"] == "1.5"
    assert len(target["L1"]["status"]) == len(LONG_FIELD)


def test_keys_keep_leading_zeros_and_are_trimmed(outcome: Outcome):
    assert {"000123", "007"} <= set(outcome.target)
    assert "NULL" not in outcome.target


def test_special_file_names_are_read_by_their_own_name(outcome: Outcome):
    assert {"N1", "N2", "N3", "N4", "N5", "N6"} <= set(outcome.target)
    assert outcome.target["N5"]["_source_file"] == "orders_ünïcødé_📦.csv"


def test_every_landed_file_ends_archived_or_rejected_and_the_file_log_names_each_once(outcome: Outcome):
    landed = [c.name for c in CORPUS + SECOND_RUN]
    logged = sorted(r["file_name"] for r in outcome.file_log)
    assert logged == sorted(landed)
    assert sorted(outcome.ws.archived() + outcome.ws.rejected_files()) == sorted(
        landed + [c.name + ".reason.txt" for c in CORPUS if c.rejected]
    )


@pytest.mark.slow
def test_two_thousand_tiny_files_in_one_batch(spark, tmp_path: Path):
    ws = new_workspace(spark, tmp_path)
    expected = 0
    for i in range(2000):
        rows = 1 + i % 3
        ws.drop(f"tiny_{i:04d}.csv", HEADER + "".join(f"K{i}-{r},O{i},Created,\n" for r in range(rows)))
        expected += rows

    started = time.monotonic()
    summary = stage_new_files(spark, ws.stage_config())
    seconds = time.monotonic() - started
    print(f"\n2000 tiny files staged in {seconds:.1f}s")

    assert (summary.files_staged, summary.rows_staged, summary.rows_quarantined) == (2000, expected, 0)
    assert spark.table(ws.tables.stage).agg(F.count("*"), F.countDistinct("_source_file")).first() == (expected, 2000)
    assert os.listdir(ws.landing) == [] and len(ws.archived()) == 2000
