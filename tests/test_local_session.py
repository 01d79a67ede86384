"""The local stand-in for Unity Catalog: a warehouse folder whose Delta tables a new process registers again."""

from __future__ import annotations

import os
import shutil

from conftest import jvm_time_zone
from order_tracking.config import Tables
from order_tracking.local.session import LOCAL_CATALOG, register_local_tables
from order_tracking.tables import create_table_sql, ensure_target_tables


def test_tables_under_a_path_with_a_quote_and_a_backslash_are_created_and_registered_again(spark, tmp_path):
    warehouse = tmp_path / "o'brien\\warehouse"  # a user name with a quote; a backslash as in a Windows path
    first, second = f"quoted{os.getpid()}a", f"quoted{os.getpid()}b"
    register_local_tables(spark, str(warehouse), first)
    written = Tables(LOCAL_CATALOG, first)
    ensure_target_tables(spark, written)
    spark.sql(f"INSERT INTO {written.target} (tracking_num, status) VALUES ('K1', 'Created')")
    # What a later process finds: the same Delta folders, registered under the schema it is given.
    shutil.copytree(warehouse / f"{first}.db", warehouse / f"{second}.db")

    register_local_tables(spark, str(warehouse), second)

    found = Tables(LOCAL_CATALOG, second)
    assert [tuple(r) for r in spark.table(found.target).select("tracking_num", "status").collect()] == [
        ("K1", "Created")
    ]
    location = spark.sql(f"DESCRIBE DETAIL {found.target}").first()["location"]
    assert location.endswith(f"o'brien\\warehouse/{second}.db/orders_target")


def test_a_table_comment_keeps_its_quotes_and_backslashes(spark, tmp_path):
    schema = f"commented{os.getpid()}"
    register_local_tables(spark, str(tmp_path), schema)
    table = Tables(LOCAL_CATALOG, schema).name("notes")
    comment = "Ann's parcels \\ all of them"

    spark.sql(create_table_sql(table, "a INT", comment))

    described = {r["col_name"]: r["data_type"] for r in spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()}
    assert described["Comment"] == comment


def test_the_jvm_runs_in_utc_whatever_the_machines_time_zone(spark):
    """Outside UTC, Delta checks every commit with a full state reconstruction: job runs about 17% slower."""
    assert jvm_time_zone(spark) == "UTC"  # this machine's own zone is reported as Etc/UTC, a laptop's as Europe/Berlin
