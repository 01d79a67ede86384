"""Landing-folder rules and file moves, without Spark."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from order_tracking import files
from order_tracking.config import StageConfig, Tables
from order_tracking.files import archive_folder, is_candidate, list_landing, move_no_overwrite, safe_name, sniff
from order_tracking.reading import escape_glob
from order_tracking.stage import wait_for_settled

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def _land(folder: Path, name: str, data: bytes = b"tracking_num,order_id,status\n1,2,3\n", age: float = 3600) -> Path:
    path = folder / name
    path.write_bytes(data)
    stamp = NOW.timestamp() - age
    os.utime(path, (stamp, stamp))
    return path


@pytest.mark.parametrize("name", ["a.csv", "A.CSV", "orders 2026-11-01.Csv", "a[1].csv"])
def test_csv_names_in_any_case_are_taken(name: str) -> None:
    assert is_candidate(name)


@pytest.mark.parametrize("name", [".a.csv", "_a.csv", "a.csv.tmp", "a.csv.part", ".a.csv.crc", "a.txt", "a.csv.gz"])
def test_hidden_temporary_and_other_files_are_left_alone(name: str) -> None:
    assert not is_candidate(name)


def test_listing_splits_settled_from_still_changing_files(tmp_path: Path) -> None:
    _land(tmp_path, "old.csv", age=120)
    _land(tmp_path, "new.csv", age=5)
    _land(tmp_path, "upload.csv.tmp", age=120)
    (tmp_path / "sub").mkdir()
    listing = list_landing(str(tmp_path), NOW, settle_seconds=30)
    assert [f.name for f in listing.ready] == ["old.csv"]
    assert [f.name for f in listing.unsettled] == ["new.csv"]
    assert listing.ignored == ("sub/", "upload.csv.tmp")


def test_settle_zero_takes_every_file(tmp_path: Path) -> None:
    _land(tmp_path, "new.csv", age=0)
    assert [f.name for f in list_landing(str(tmp_path), NOW, 0).ready] == ["new.csv"]


def test_sniff_reads_the_header_through_a_bom_and_crlf(tmp_path: Path) -> None:
    sniffed = sniff(str(_land(tmp_path, "a.csv", b"\xef\xbb\xbfTracking_Num,Order_ID,Status\r\n1,2,3\r\n")))
    assert sniffed.header.columns == ("tracking_num", "order_id", "status")
    assert not sniffed.has_quotes


def test_sniff_notices_quotes_anywhere_in_the_file(tmp_path: Path) -> None:
    body = b"tracking_num,order_id,status\n" + b"1,2,3\n" * 30000 + b'4,5,"six\nlines"\n'
    assert sniff(str(_land(tmp_path, "a.csv", body))).has_quotes


@pytest.mark.parametrize(
    ("data", "reason_part"),
    [
        (b"", "no header row"),
        (b"\x00\x01\x02PK\x03\x04", "binary"),
        (b"tracking_num,ord\xff\xfeer,status\n", "UTF-8"),
        (b"tracking_num;order_id;status\n1;2;3\n", "comma-delimited"),
    ],
)
def test_sniff_rejects_files_that_are_not_order_csvs(tmp_path: Path, data: bytes, reason_part: str) -> None:
    sniffed = sniff(str(_land(tmp_path, "x.csv", data)))
    assert not sniffed.header.ok
    assert reason_part in sniffed.header.reason


def test_archive_folder_is_dated_and_per_batch() -> None:
    assert archive_folder("/v/archive", "B1", NOW) == "/v/archive/2026/11/27/B1"


def test_moves_never_overwrite_a_different_file(tmp_path: Path) -> None:
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "a.csv").write_text("first")
    source = tmp_path / "a.csv"
    source.write_text("second")
    final = move_no_overwrite(str(source), str(tmp_path / "dest"), "a.csv")
    assert final.endswith("a.1.csv")
    assert (tmp_path / "dest" / "a.csv").read_text() == "first"
    assert Path(final).read_text() == "second"
    assert not source.exists()


def test_a_move_interrupted_after_the_copy_is_completed_by_the_rerun(tmp_path: Path) -> None:
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "a.csv").write_text("same")
    source = tmp_path / "a.csv"
    source.write_text("same")
    assert move_no_overwrite(str(source), str(tmp_path / "dest"), "a.csv") == str(tmp_path / "dest" / "a.csv")
    assert not source.exists()
    assert sorted(os.listdir(tmp_path / "dest")) == ["a.csv"]


@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\x.csv", "/abs/x.csv"])
def test_a_file_name_cannot_steer_a_move_out_of_its_folder(tmp_path: Path, name: str) -> None:
    assert "/" not in safe_name(name) and safe_name(name) != ".."
    source = tmp_path / "src.csv"
    source.write_text("x")
    final = move_no_overwrite(str(source), str(tmp_path / "dest"), name)
    assert os.path.dirname(final) == str(tmp_path / "dest")


@pytest.mark.parametrize("name", ["..", "", "a/.."])
def test_unusable_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        safe_name(name)


def test_glob_characters_in_paths_are_escaped_for_spark() -> None:
    assert escape_glob("/v/a[1]{x}*?.csv") == "/v/a\\[1\\]\\{x\\}\\*\\?.csv"


class FakeClock:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def _config(tmp_path: Path, **kwargs) -> StageConfig:
    return StageConfig(
        Tables("c", "s"), str(tmp_path), str(tmp_path.parent / "a"), str(tmp_path.parent / "r"), **kwargs
    )


def test_the_stage_task_waits_for_a_file_still_being_written(tmp_path: Path) -> None:
    landing = tmp_path / "in"
    landing.mkdir()
    _land(landing, "slow.csv", age=10)
    clock = FakeClock(NOW)
    listing = wait_for_settled(_config(landing, settle_seconds=30, max_wait_seconds=300), clock, clock.sleep)
    assert [f.name for f in listing.ready] == ["slow.csv"]
    assert 19 <= sum(clock.slept) <= 25


def test_the_wait_for_unsettled_files_is_bounded(tmp_path: Path) -> None:
    landing = tmp_path / "in"
    landing.mkdir()
    path = _land(landing, "busy.csv", age=0)
    clock = FakeClock(NOW)

    def sleep_while_the_writer_keeps_writing(seconds: float) -> None:
        clock.sleep(seconds)
        os.utime(path, (clock.now.timestamp(), clock.now.timestamp()))

    listing = wait_for_settled(
        _config(landing, settle_seconds=30, max_wait_seconds=90), clock, sleep_while_the_writer_keeps_writing
    )
    assert [f.name for f in listing.unsettled] == ["busy.csv"]
    assert sum(clock.slept) <= 90


def test_batch_ids_sort_by_start_time() -> None:
    from order_tracking.reading import batch_id_for

    assert batch_id_for(NOW, "aa") < batch_id_for(NOW + timedelta(microseconds=1), "00")


def test_batch_ids_keep_moving_forward_when_the_clock_steps_back() -> None:
    from order_tracking.reading import batch_id_for

    last = batch_id_for(NOW, "ff")
    stepped_back = batch_id_for(NOW - timedelta(hours=1), "00", after=last)
    assert stepped_back > last
    assert stepped_back.startswith("20261127T120000000001Z")


def test_mtimes_convert_exactly_between_the_file_system_and_epoch_microseconds(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("x")
    nanos = 1_793_000_000_123_456_789
    os.utime(path, ns=(nanos, nanos))

    mtime = files.mtime_of(path.stat())

    assert mtime == datetime(2026, 10, 26, 7, 33, 20, 123456, tzinfo=timezone.utc)
    assert files.from_epoch_micros(nanos // 1000) == mtime  # what the stage reads back from the file log
    assert files.from_epoch_micros(0) == datetime(1970, 1, 1, tzinfo=timezone.utc)


def test_sniff_finds_invalid_utf8_anywhere_and_only_there(tmp_path: Path) -> None:
    header = b"tracking_num,order_id,status\n"
    # A two-byte character split between two reads is valid; cut off at the end of the file it is not.
    edge = files._SNIFF_BYTES  # where the first read ends and the 1 MiB chunks begin
    straddling = header + b"1,2," + b"x" * (edge - len(header) - 5) + "é".encode() + b"\n"
    assert straddling[edge - 1 : edge + 1] == "é".encode()
    late_bad_byte = header + b"1,2,3\n" * 400_000 + b"4,5,\xff\n"
    real_replacement_char = header + "1,2,\ufffd\n".encode()
    cut_off = header + b"1,2,\xc3"

    assert not sniff(str(_land(tmp_path, "a.csv", straddling))).invalid_utf8
    assert sniff(str(_land(tmp_path, "b.csv", late_bad_byte))).invalid_utf8
    assert not sniff(str(_land(tmp_path, "c.csv", real_replacement_char))).invalid_utf8
    assert sniff(str(_land(tmp_path, "d.csv", cut_off))).invalid_utf8
