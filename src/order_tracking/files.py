"""Landing-folder discovery, file identity, header sniffing and no-overwrite moves (plain os/shutil).

On Databricks, `/Volumes/...` paths are ordinary files for Python, so this module runs unchanged there.
"""

from __future__ import annotations

import codecs
import csv
import filecmp
import io
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from order_tracking.contract import HeaderCheck, check_header

TEMPORARY_SUFFIXES = (".tmp", ".part", ".crc", ".temp", ".partial")
_SNIFF_BYTES = 64 * 1024
# A text file may hold a stray NUL byte (one bad field); UTF-16 text (a NUL beside every ASCII character, so about
# half its bytes), archives and images hold many, or invalid UTF-8.
_MAX_NUL_SHARE = 0.1


@dataclass(frozen=True)
class LandingFile:
    """A CSV file in the landing folder. (name, size, mtime) is its identity: a rerun never loads it twice."""

    name: str
    path: str
    size: int
    mtime: datetime

    @property
    def identity(self) -> tuple[str, int, datetime]:
        return (self.name, self.size, self.mtime)


@dataclass(frozen=True)
class Listing:
    """What the landing folder holds right now, sorted by modification time then name."""

    ready: tuple[LandingFile, ...] = ()
    unsettled: tuple[LandingFile, ...] = ()
    ignored: tuple[str, ...] = field(default=())


def is_candidate(name: str) -> bool:
    """A `*.csv` name (any case) that is neither hidden nor a temporary upload."""
    lowered = name.lower()
    if name.startswith((".", "_")) or lowered.endswith(TEMPORARY_SUFFIXES):
        return False
    return lowered.endswith(".csv")


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def from_epoch_micros(micros: int) -> datetime:
    """An exact UTC datetime from epoch microseconds (no float on the way, so equal inputs give equal values)."""
    return _EPOCH + timedelta(microseconds=micros)


def mtime_of(stat: os.stat_result) -> datetime:
    """Modification time at microsecond precision, the precision a Delta TIMESTAMP keeps."""
    return from_epoch_micros(stat.st_mtime_ns // 1000)


def list_landing(landing_path: str, now: datetime, settle_seconds: float) -> Listing:
    """List top-level files of the landing folder; files younger than `settle_seconds` are unsettled."""
    ready: list[LandingFile] = []
    unsettled: list[LandingFile] = []
    ignored: list[str] = []
    with os.scandir(landing_path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not entry.name.startswith((".", "_")):
                    ignored.append(entry.name + "/")
                continue
            if not entry.is_file(follow_symlinks=False) or not is_candidate(entry.name):
                if not entry.name.startswith((".", "_")):
                    ignored.append(entry.name)
                continue
            stat = entry.stat(follow_symlinks=False)
            landing_file = LandingFile(entry.name, entry.path, stat.st_size, mtime_of(stat))
            age = (now - landing_file.mtime).total_seconds()
            (ready if age >= settle_seconds else unsettled).append(landing_file)
    order = lambda f: (f.mtime, f.name)  # noqa: E731
    return Listing(tuple(sorted(ready, key=order)), tuple(sorted(unsettled, key=order)), tuple(sorted(ignored)))


@dataclass(frozen=True)
class Sniff:
    """What a pass over a file's bytes says: its header check, whether Spark must parse it whole (quotes may
    hold newlines), and whether any byte sequence is invalid UTF-8 or a NUL (only then are rows checked for it)."""

    header: HeaderCheck
    has_quotes: bool = False
    has_rows: bool = False
    invalid_utf8: bool = False
    has_nul: bool = False


def looks_binary(head: bytes) -> bool:
    """NUL bytes in a file's first bytes, and invalid UTF-8 there, or many NULs, or one in the header line.

    UTF-16 text (a NUL beside every ASCII character), archives and images are binary; a UTF-8 text file with a stray
    NUL in one field is not: that row is quarantined and the rest staged.
    """
    if b"\x00" not in head:
        return False
    first_line = head.split(b"\n", 1)[0]
    if b"\x00" in first_line or head.count(b"\x00") > _MAX_NUL_SHARE * len(head):
        return True
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head)  # a character cut at the end is no error
    except UnicodeDecodeError:
        return True
    return False


def sniff(path: str) -> Sniff:
    """Check the header from the first bytes, then scan the rest for quotes, invalid UTF-8 and NULs, in 1 MiB chunks."""
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        if looks_binary(head):
            return Sniff(HeaderCheck(reason="binary content (NUL bytes): not a text CSV file"))
        if len(head) == _SNIFF_BYTES and not any(end in head for end in (b"\n", b"\r")):
            return Sniff(HeaderCheck(reason=f"the header row is longer than {_SNIFF_BYTES // 1024} KiB"))
        has_quotes, invalid_utf8, has_nul = _scan(head, handle)
    text = head.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    records = csv.reader(io.StringIO(text, newline=""))
    record = next(records, None)
    if record and any("\ufffd" in f for f in record):
        return Sniff(HeaderCheck(reason="header is not valid UTF-8"))
    has_rows = any(any(f.strip() for f in later) for later in records)
    return Sniff(check_header(record), has_quotes, has_rows, invalid_utf8, has_nul)


def _scan(head: bytes, handle: io.BufferedReader) -> tuple[bool, bool, bool]:
    """(has a quote, has invalid UTF-8, has a NUL) over the whole file; a strict incremental decoder spans chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    has_quotes, invalid, has_nul = False, False, False
    chunk = head
    while chunk:
        has_quotes = has_quotes or b'"' in chunk
        has_nul = has_nul or b"\x00" in chunk
        if not invalid:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                invalid = True
        if has_quotes and invalid and has_nul:
            break
        chunk = handle.read(1 << 20)
    if not invalid:
        try:
            decoder.decode(b"", final=True)  # a multi-byte sequence cut off by the end of the file
        except UnicodeDecodeError:
            invalid = True
    return has_quotes, invalid, has_nul


def archive_folder(root: str, batch_id: str, when: datetime) -> str:
    """`<root>/<yyyy>/<mm>/<dd>/<batch_id>`: one folder per batch, so nothing is ever overwritten."""
    return os.path.join(root, f"{when:%Y}", f"{when:%m}", f"{when:%d}", batch_id)


def safe_name(name: str) -> str:
    """The base name only: a file name can never steer a move outside its destination folder."""
    base = os.path.basename(name.replace("\\", "/"))
    if base in ("", ".", ".."):
        raise ValueError(f"unsafe file name {name!r}")
    return base


def move_no_overwrite(source: str, folder: str, name: str) -> str:
    """Move `source` into `folder` as `name`, never replacing a different file; return the final path.

    A crash may leave a finished copy behind (a move across file systems is copy then delete); when
    the destination already holds the same bytes the move is completed by removing the source.
    """
    os.makedirs(folder, exist_ok=True)
    destination = os.path.join(folder, safe_name(name))
    stem, suffix = os.path.splitext(destination)
    counter = 0
    while os.path.exists(destination):
        if filecmp.cmp(source, destination, shallow=False):
            os.remove(source)
            return destination
        counter += 1
        destination = f"{stem}.{counter}{suffix}"
    shutil.move(source, destination)
    return destination


def write_reason(rejected_file: str, reason: str) -> str:
    """Write the rejection reason beside the rejected file."""
    reason_path = rejected_file + ".reason.txt"
    with open(reason_path, "w", encoding="utf-8") as handle:
        handle.write(reason.rstrip() + "\n")
    return reason_path


def total_size(files: Iterable[LandingFile]) -> int:
    return sum(f.size for f in files)
