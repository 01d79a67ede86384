"""A small pure-Python model of the pipeline's rules, for the property-based test to compare against.

It knows nothing about Spark or Delta: files are parsed with the csv module, each row is validated the
way the data contract says, and the merge applies the SCD1 rules literally:
- the newest row per key wins by (status_ts NULLS FIRST, batch, file mtime, file name, row number);
- a matched row is replaced only when the incoming row is newer AND a business column differs (NULL-safe);
- a row without status_ts never replaces one that has it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

KEY = "tracking_num"
REQUIRED = (KEY, "order_id", "status")
EVENT_TIME = "status_ts"


def normalize(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lstrip("\ufeff").lower()).strip("_")


def parse_time(text: str) -> datetime | None:
    """The timestamp forms the property test writes; anything else is unparseable."""
    for pattern in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class Row:
    """A valid row: business values plus the lineage that orders it."""

    business: tuple[tuple[str, object], ...]  # (column, value) sorted by column; values trimmed, "" -> None
    batch: int
    mtime: int
    file: str
    row: int

    @property
    def key(self) -> str:
        return dict(self.business)[KEY]

    @property
    def event_time(self) -> datetime | None:
        return dict(self.business).get(EVENT_TIME)

    def order(self) -> tuple:
        """ORDER_COLUMNS ascending; a NULL status_ts sorts first."""
        ts = self.event_time
        return (
            ts is not None,
            ts or datetime.min.replace(tzinfo=timezone.utc),
            self.batch,
            self.mtime,
            self.file,
            self.row,
        )


@dataclass
class FileResult:
    valid: list[Row] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # one per quarantined row


def _clean(value: str) -> str | None:
    stripped = value.strip()
    return stripped or None


def load_file(name: str, mtime: int, batch: int, text: str) -> FileResult:
    """Validate every data record of one comma-delimited file whose header passed the contract."""
    records = [r for r in csv.reader(io.StringIO(text, newline="")) if any(f.strip() for f in r)]
    header = [normalize(c) for c in records[0]]
    result = FileResult()
    for number, record in enumerate(records[1:], start=1):
        if len(record) != len(header):
            result.reasons.append("malformed")
            continue
        values = {column: _clean(value) for column, value in zip(header, record, strict=True)}
        if values[KEY] is None:
            result.reasons.append("blank tracking_num")
            continue
        if values[KEY].upper() == "NULL":
            result.reasons.append("tracking_num is the text NULL")
            continue
        raw_time = values.get(EVENT_TIME)
        values[EVENT_TIME] = parse_time(raw_time) if raw_time is not None else None
        if raw_time is not None and values[EVENT_TIME] is None:
            result.reasons.append("unparseable status_ts")
            continue
        result.valid.append(Row(tuple(sorted(values.items())), batch, mtime, name, number))
    return result


@dataclass
class Scd1Model:
    """Stage (pending rows) and target (one row per key) as plain dictionaries."""

    pending: list[Row] = field(default_factory=list)
    target: dict[str, Row] = field(default_factory=dict)
    columns: set[str] = field(default_factory=lambda: {KEY, "order_id", "status", EVENT_TIME})

    def stage(self, rows: list[Row]) -> None:
        self.pending.extend(rows)

    def merge(self) -> None:
        """Newest pending row per key, then insert, or update when newer and changed, else leave alone."""
        newest: dict[str, Row] = {}
        for row in self.pending:
            if row.key not in newest or row.order() > newest[row.key].order():
                newest[row.key] = row
            self.columns |= {c for c, _ in row.business}
        for key, row in newest.items():
            current = self.target.get(key)
            if current is None or (row.order() > current.order() and self._business(row) != self._business(current)):
                self.target[key] = row
        self.pending = []

    def _business(self, row: Row) -> dict[str, object]:
        values = dict(row.business)
        return {c: values.get(c) for c in self.columns}

    def expected_target(self) -> dict[str, dict[str, object]]:
        """Key -> every business column (NULL where a row lacks it) plus its lineage."""
        return {
            key: {**self._business(row), "_batch": row.batch, "_source_file": row.file, "_source_row": row.row}
            for key, row in self.target.items()
        }
