"""Spark-free: how isolation picks the files to set aside, and how a failure is said in one line."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from order_tracking.failures import MAX_REASON_CHARS, TaskFailed, describe, said_in_one_line
from order_tracking.files import LandingFile
from order_tracking.isolation import files_named_in, isolate

WHEN = datetime(2026, 12, 1, tzinfo=timezone.utc)
FILES = [LandingFile(f"f{i}.csv", f"/v/incoming/f{i}.csv", 10, WHEN) for i in range(8)]
RECORD = ",".join(["x"] * 30_000)
# What a classic session raises for a record past the parser's column limit (abridged: the real one is 80 kB).
COLUMN_LIMIT_ERROR = (
    "An error occurred while calling o92.save.\n: org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] "
    "Encountered error while reading file file:///v/incoming/f3.csv.  SQLSTATE: KD001\n\tat org.apache...\n"
    f"Caused by: org.apache.spark.SparkException: [MALFORMED_CSV_RECORD] Malformed CSV record: {RECORD}\n"
    "Caused by: com.univocity.parsers.common.TextParsingException: java.lang.ArrayIndexOutOfBoundsException - "
    "Index 20480 out of bounds for length 20480\nHint: Number of columns processed may have exceeded limit of "
    f"20480 columns.\nParsed content:\n\t{RECORD}\n"
    "Caused by: java.lang.ArrayIndexOutOfBoundsException: Index 20480 out of bounds for length 20480\n"
)


class Probes:
    """A stand-in for Spark: the files in `bad` fail whenever read; every probe is recorded."""

    def __init__(self, bad: set[str], failing_together: bool = True) -> None:
        self.bad, self.failing_together, self.calls = bad, failing_together, []

    def __call__(self, files):
        self.calls.append([f.name for f in files])
        hit = sorted(self.bad & {f.name for f in files})
        if hit and (self.failing_together or len(files) == 1):
            return RuntimeError(f"[USER_RAISED_EXCEPTION] bad file {hit[0]}")
        return None


def test_a_named_file_that_fails_alone_is_set_aside_with_one_probe():
    probe = Probes({"f3.csv"})
    found = isolate(FILES, RuntimeError(COLUMN_LIMIT_ERROR), probe, exists=lambda path: True)
    assert list(found) == ["f3.csv"] and found["f3.csv"].reproduced
    assert probe.calls == [["f3.csv"]]


def test_unnamed_failing_files_are_found_by_bisection_in_few_probes():
    probe = Probes({"f2.csv", "f6.csv"})
    found = isolate(FILES, RuntimeError("[TASK_FAILED] lost"), probe, exists=lambda path: True)
    assert sorted(found) == ["f2.csv", "f6.csv"] and all(f.reproduced for f in found.values())
    assert len(probe.calls) <= 1 + 2 * 2 * 3  # the whole batch, then two halves per level per culprit


def test_a_named_file_whose_failure_does_not_reproduce_is_transient():
    probe = Probes(set())
    found = isolate(FILES, RuntimeError(COLUMN_LIMIT_ERROR), probe, exists=lambda path: True)
    assert list(found) == ["f3.csv"] and not found["f3.csv"].reproduced
    assert "column limit of 20,480" in found["f3.csv"].reason


def test_a_failure_no_file_explains_sets_nothing_aside():
    assert isolate(FILES, RuntimeError("[PERMISSION_DENIED] no"), Probes(set()), exists=lambda path: True) == {}
    together_only = Probes({"f1.csv", "f5.csv"}, failing_together=False)
    assert isolate(FILES, RuntimeError("x"), together_only, exists=lambda path: True) == {}


def test_vanished_files_are_set_aside_without_a_probe():
    probe = Probes({"f3.csv"})
    found = isolate(FILES, RuntimeError("x"), probe, exists=lambda path: not path.endswith("f5.csv"))
    assert list(found) == ["f5.csv"] and found["f5.csv"].vanished and probe.calls == []


def test_files_are_recognised_by_their_path_also_percent_encoded():
    odd = LandingFile("a b[1].csv", "/v/incoming/a b[1].csv", 1, WHEN)
    assert files_named_in("reading file file:///v/incoming/a%20b%5B1%5D.csv failed", [odd, *FILES]) == [odd]
    assert files_named_in("reading file file:///v/incoming/f1.csv.bak", FILES) == []


def test_a_column_limit_failure_is_one_short_line_that_names_the_limit_and_not_the_record():
    line = describe(RuntimeError(COLUMN_LIMIT_ERROR))
    assert line == "[FAILED_READ_FILE.NO_HINT] a record has more fields than the CSV parser's column limit of 20,480"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("[TABLE_OR_VIEW_NOT_FOUND] The table `a`.`b` cannot be found.\nVerify the spelling", "[TABLE_OR_VIEW_NOT"),
        ("x\nCaused by: java.io.FileNotFoundException: /v/f.csv (No such file)", "removed or renamed"),
        ("y" * 5000, "y" * 100),
    ],
)
def test_every_description_is_one_line_of_bounded_length(message: str, expected: str):
    line = describe(RuntimeError(message))
    assert expected in line and "\n" not in line and len(line) <= MAX_REASON_CHARS


def test_a_task_failure_is_reraised_as_one_line_without_its_chain():
    with pytest.raises(TaskFailed) as failed, said_in_one_line("orders_stage"):
        raise RuntimeError(COLUMN_LIMIT_ERROR)
    assert str(failed.value).startswith("orders_stage failed: [FAILED_READ_FILE.NO_HINT] a record has more fields")
    assert failed.value.__suppress_context__ and "x,x" not in str(failed.value)
