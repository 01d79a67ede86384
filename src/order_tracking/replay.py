"""Send rejected files through the pipeline again, under a new name, recorded in orders_replay_log.

A replayed file is copied back into the landing folder as `<stem>.replay-<n><suffix>`: a new name, so the
file-arrival trigger fires and the stage task loads it as a new file. orders_replay_log links the new name to the
rejection it answers; the rejected copy stays where it is.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from order_tracking.config import Tables
from order_tracking.maintenance import append_to_log
from order_tracking.tables import create_table_sql

REPLAY_LOG = "orders_replay_log"
REPLAY_LOG_COLUMNS = """
    original_batch_id STRING NOT NULL COMMENT 'Stage batch that rejected the file',
    original_file_name STRING NOT NULL,
    rejected_path STRING NOT NULL COMMENT 'The rejected copy, left in place',
    rejection_reason STRING,
    new_name STRING NOT NULL COMMENT 'Name the file landed under again; its file-log rows carry it',
    replayed_at TIMESTAMP NOT NULL
"""
SELECTORS = ("name", "batch", "reason")


class ReplayRefused(ValueError):
    """The selection names nothing that may be replayed; the message says why."""


@dataclass(frozen=True)
class Replayed:
    """One rejected file sent back to the landing folder."""

    original_batch_id: str
    original_file_name: str
    new_name: str
    reason: str | None


def parse_selection(text: str) -> tuple[str, str]:
    """`name=<file>`, `batch=<batch id>` or `reason=<part of the reason>` -> (selector, value)."""
    selector, sep, value = text.partition("=")
    selector, value = selector.strip().lower(), value.strip()
    if not sep or selector not in SELECTORS or not value:
        raise ReplayRefused(f"replay selection {text!r}: use name=<file>, batch=<batch id> or reason=<text>")
    return selector, value


def ensure_replay_log(spark: SparkSession, tables: Tables) -> str:
    table = tables.name(REPLAY_LOG)
    spark.sql(create_table_sql(table, REPLAY_LOG_COLUMNS, "Rejected files sent through the pipeline again"))
    return table


def replay_name(file_name: str, attempt: int) -> str:
    stem, suffix = os.path.splitext(file_name)
    return f"{stem}.replay-{attempt}{suffix or '.csv'}"


def _chosen(spark: SparkSession, tables: Tables, selector: str, value: str) -> list[dict]:
    """File-log rows the selection names, each with `replayed_as` set when it was replayed already."""
    log = spark.table(tables.file_log)
    column = {"name": "file_name", "batch": "batch_id", "reason": "reason"}[selector]
    match = F.col(column).contains(value) if selector == "reason" else F.col(column) == value
    replays = spark.table(tables.name(REPLAY_LOG)).select(
        F.col("original_batch_id").alias("batch_id"),
        F.col("original_file_name").alias("file_name"),
        F.col("new_name").alias("replayed_as"),
    )
    rows = log.filter(match).join(replays, ["batch_id", "file_name"], "left").orderBy("batch_id", "file_name")
    return [r.asDict() for r in rows.collect()]


def choose(spark: SparkSession, tables: Tables, selection: str) -> list[dict]:
    """The rejected, not yet replayed files of `selection`; refuses a selection with none, saying why."""
    selector, value = parse_selection(selection)
    rows = _chosen(spark, tables, selector, value)
    if not rows:
        raise ReplayRefused(f"no file in the file log matches {selection!r}")
    rejected = [r for r in rows if r["outcome"] == "rejected"]
    if not rejected:
        names = ", ".join(sorted({r["file_name"] for r in rows}))
        raise ReplayRefused(f"{names}: never rejected (staged), nothing to replay")
    fresh = [r for r in rejected if r["replayed_as"] is None]
    if not fresh:
        done = ", ".join(f"{r['file_name']} (as {r['replayed_as']})" for r in rejected)
        raise ReplayRefused(f"already replayed: {done}")
    return fresh


def replay_rejected(
    spark: SparkSession,
    tables: Tables,
    landing_path: str,
    selection: str,
    *,
    now: datetime | None = None,
) -> list[Replayed]:
    """Copy the selected rejected files into `landing_path` under new names and record each in the replay log."""
    ensure_replay_log(spark, tables)
    fresh = choose(spark, tables, selection)
    attempts = _attempts_so_far(spark, tables, [r["file_name"] for r in fresh])
    replayed_at = now or datetime.now(timezone.utc)
    done, log_rows = [], []
    for row in fresh:
        source = os.path.join(row["destination"], row["file_name"])
        if not os.path.isfile(source):
            raise ReplayRefused(f"{row['file_name']}: the rejected copy {source} is gone")
        attempts[row["file_name"]] = attempts.get(row["file_name"], 0) + 1
        new_name = replay_name(row["file_name"], attempts[row["file_name"]])
        land_copy(source, landing_path, new_name)
        done.append(Replayed(row["batch_id"], row["file_name"], new_name, row["reason"]))
        log_rows.append((row["batch_id"], row["file_name"], source, row["reason"], new_name, replayed_at))
    append_to_log(spark, tables.name(REPLAY_LOG), log_rows)
    return done


def _attempts_so_far(spark: SparkSession, tables: Tables, names: list[str]) -> dict[str, int]:
    counted = spark.table(tables.name(REPLAY_LOG)).filter(F.col("original_file_name").isin(names))
    return {r[0]: r[1] for r in counted.groupBy("original_file_name").count().collect()}


def land_copy(source: str, landing_path: str, name: str) -> str:
    """Copy under a hidden name first, then rename: the stage task never lists a half-written copy.

    A crash before the replay log's append leaves the copy landed but unrecorded: a second replay before the next
    run finds the same name and lands nothing twice; after that run it would land the file again.
    """
    os.makedirs(landing_path, exist_ok=True)
    final = os.path.join(landing_path, name)
    if os.path.exists(final):
        return final
    hidden = os.path.join(landing_path, f"_{name}.copying")
    shutil.copyfile(source, hidden)
    os.replace(hidden, final)
    return final
