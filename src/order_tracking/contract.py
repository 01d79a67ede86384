"""The CSV data contract: which columns a file must carry, how headers are read, and the row order rule."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

KEY = "tracking_num"
REQUIRED_COLUMNS = (KEY, "order_id", "status")
EVENT_TIME = "status_ts"
OPTIONAL_COLUMNS = (EVENT_TIME,)
CONTRACT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# Lineage columns the pipeline adds. Their leading underscore keeps them apart from file columns,
# whose normalised names never start with one.
BATCH_ID = "_batch_id"
SOURCE_FILE = "_source_file"
FILE_MTIME = "_file_mtime"
SOURCE_ROW = "_source_row"
STAGED_AT = "_staged_at"
LINEAGE_COLUMNS = (BATCH_ID, SOURCE_FILE, FILE_MTIME, SOURCE_ROW)

# The order that decides which row is newest for a parcel, most significant first. NULL status_ts sorts
# lowest, so a row without an event time never replaces one that has it; otherwise arrival decides.
ORDER_COLUMNS = (EVENT_TIME, BATCH_ID, FILE_MTIME, SOURCE_FILE, SOURCE_ROW)

# Far more than any order-tracking export carries, far below the CSV parser's limit of 20,480 fields: a header
# wider than this is a broken export, and a schema of thousands of columns would stall the read.
MAX_COLUMNS = 1000

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize_column_name(raw: str) -> str:
    """`' Tracking Num '` -> `tracking_num`: case, spaces and punctuation never decide a match."""
    return _NON_WORD.sub("_", raw.strip().lstrip("\ufeff").lower()).strip("_")


@dataclass(frozen=True)
class HeaderCheck:
    """The outcome of checking one file's header: its columns in file order, or why the file is rejected."""

    columns: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def check_header(fields: Sequence[str] | None) -> HeaderCheck:
    """Validate a header record (already split into fields) against the contract."""
    if not fields or all(not f.strip() for f in fields):
        return HeaderCheck(reason="no header row: the file is empty or its first line is blank")
    if len(fields) == 1:
        for delimiter in (";", "\t", "|"):
            if delimiter in fields[0]:
                return HeaderCheck(
                    reason=f"header has a single column containing {delimiter!r}: the file must be comma-delimited"
                )
    if len(fields) > MAX_COLUMNS:
        return HeaderCheck(reason=f"header has {len(fields):,} columns, more than the {MAX_COLUMNS:,} allowed")
    columns = tuple(normalize_column_name(f) for f in fields)
    blank = [i + 1 for i, c in enumerate(columns) if not c]
    if blank:
        return HeaderCheck(reason=f"header has blank column name(s) at position(s) {blank}")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        return HeaderCheck(reason=f"header repeats column(s) {duplicates} (after normalising case and spaces)")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        return HeaderCheck(reason=f"missing required column(s) {missing}: no header row, or not an order-tracking file")
    return HeaderCheck(columns=columns)


def extra_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """Columns beyond the contract, carried through to stage and target as strings."""
    return tuple(c for c in columns if c not in CONTRACT_COLUMNS)
