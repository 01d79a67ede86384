"""The local stand-in for Unity Catalog: a warehouse folder whose Delta tables a new process registers again."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from importlib.metadata import version

import pytest

from conftest import jvm_time_zone
from order_tracking.config import Tables
from order_tracking.local.session import (
    LOCAL_CATALOG,
    delta_jar_settings,
    one_jar_fetch_at_a_time,
    register_local_tables,
)
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


# What a first JVM start does in an Ivy folder, faked: fetch the Delta jars unless they are there. Two real fetches
# into one folder at once fail ("problem during retrieve", "download failed"): three first `make test` runs out of
# three on a fresh machine, with two workers. Here a second fetch at the same time fails as well.
_FAKE_START = """
import os, sys, time
from importlib.metadata import version
from order_tracking.local.session import delta_jar_settings, one_jar_fetch_at_a_time
ivy_home, go = sys.argv[1], sys.argv[2]
open(f"{go}.ready.{os.getpid()}", "w").close()
while not os.path.exists(go):
    time.sleep(0.01)
with one_jar_fetch_at_a_time(ivy_home):
    if "spark.jars" in delta_jar_settings(ivy_home):
        print("used the fetched jars")
    else:
        busy = os.open(os.path.join(ivy_home, "fetch-in-progress"), os.O_CREAT | os.O_EXCL)
        time.sleep(1.0)
        os.makedirs(os.path.join(ivy_home, "jars"), exist_ok=True)
        delta = version("delta-spark")
        for name in (f"io.delta_delta-spark_2.13-{delta}.jar", f"io.delta_delta-storage-{delta}.jar",
                     "org.antlr_antlr4-runtime-4.13.1.jar"):
            open(os.path.join(ivy_home, "jars", name), "w").close()
        os.close(busy)
        os.remove(os.path.join(ivy_home, "fetch-in-progress"))
        print("fetched")
"""


def test_first_starts_fetch_the_delta_jars_one_at_a_time_and_the_later_one_uses_them(tmp_path):
    ivy_home, go = tmp_path / "ivy", tmp_path / "go"
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", _FAKE_START, str(ivy_home), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go.ready.*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # until both have imported the package and wait for the same instant
    go.touch()
    outcomes = [start.communicate(timeout=60) for start in starts]

    assert [start.returncode for start in starts] == [0, 0], [err for _, err in outcomes]
    assert sorted(out.strip() for out, _ in outcomes) == ["fetched", "used the fetched jars"]


def test_starts_take_no_lock_once_the_jars_are_fetched(tmp_path):
    ivy_home = tmp_path / "ivy"
    (ivy_home / "jars").mkdir(parents=True)
    delta = version("delta-spark")
    for name in (
        f"io.delta_delta-spark_2.13-{delta}.jar",
        f"io.delta_delta-storage-{delta}.jar",
        "org.antlr_antlr4-runtime-4.13.1.jar",
    ):
        (ivy_home / "jars" / name).touch()

    with one_jar_fetch_at_a_time(str(ivy_home)):
        assert delta_jar_settings(str(ivy_home))["spark.jars"].count(".jar") == 3
    assert not any(ivy_home.glob(".*lock")), "a start with the jars in place waited for the fetch lock"


class _JvmStarted(Exception):
    pass


def _record_jvm_starts_inside_the_fetch_lock(monkeypatch):
    """Replace the fetch lock by one that records whether a JVM start happens while it is held."""
    from order_tracking.local import session

    held, starts = [False], []

    @contextlib.contextmanager
    def recording_lock(*_args):
        held[0] = True
        try:
            yield
        finally:
            held[0] = False

    def jvm_start(*_args, **_kwargs):
        starts.append(held[0])
        raise _JvmStarted

    monkeypatch.setattr(session, "one_jar_fetch_at_a_time", recording_lock)
    return starts, jvm_start


def test_the_local_session_and_the_connect_server_start_their_jvm_inside_the_fetch_lock(monkeypatch, tmp_path):
    from order_tracking.local import connect, session

    starts, jvm_start = _record_jvm_starts_inside_the_fetch_lock(monkeypatch)
    monkeypatch.setattr(session.SparkSession.Builder, "getOrCreate", jvm_start)
    with pytest.raises(_JvmStarted):
        session.local_spark(str(tmp_path / "warehouse"))
    assert starts == [True]

    starts, jvm_start = _record_jvm_starts_inside_the_fetch_lock(monkeypatch)
    monkeypatch.setattr(connect.subprocess, "Popen", jvm_start)
    with pytest.raises(_JvmStarted):
        connect.ConnectServer.start(str(tmp_path / "warehouse"))
    assert starts == [True]


def test_a_spark_home_naming_another_spark_gives_way_to_the_installed_one(monkeypatch, tmp_path):
    """A laptop's SPARK_HOME for a Spark installed by hand (here a stale path) made `make demo` fail with
    "No such file or directory: .../bin/spark-submit"; a Spark 3.5 there cannot load Delta 4 either. A
    SPARK_REMOTE (Spark Connect, Databricks Connect) made every local start fail."""
    import pyspark

    from order_tracking.local import connect, session

    installed = os.path.dirname(os.path.abspath(pyspark.__file__))
    monkeypatch.setenv("SPARK_HOME", str(tmp_path / "spark-3.5.3-bin-hadoop3"))
    monkeypatch.setenv("SPARK_REMOTE", "sc://workspace.example:443/;token=dapi-secret")
    started_with = []

    def jvm_start(*_args, **_kwargs):
        started_with.append((os.environ["SPARK_HOME"], os.environ.get("SPARK_REMOTE")))
        raise _JvmStarted

    monkeypatch.setattr(session.SparkSession.Builder, "getOrCreate", jvm_start)
    with pytest.warns(UserWarning) as warned, pytest.raises(_JvmStarted):
        session.local_spark(str(tmp_path / "warehouse"))
    assert started_with == [(installed, None)]
    messages = " ".join(str(w.message) for w in warned)
    assert "spark-3.5.3-bin-hadoop3 is ignored" in messages and "SPARK_REMOTE is ignored" in messages
    assert "dapi-secret" not in messages

    monkeypatch.setenv("SPARK_HOME", str(tmp_path / "spark-3.5.3-bin-hadoop3"))

    def server_start(command, **kwargs):
        started_with.append(command[0])
        started_with.append(kwargs["env"].get("LC_ALL"))
        raise _JvmStarted

    monkeypatch.setenv("LC_ALL", "C")  # and the server's JVM gets a UTF-8 character type, as the session's does

    monkeypatch.setattr(connect.subprocess, "Popen", server_start)
    with pytest.warns(UserWarning), pytest.raises(_JvmStarted):
        connect.ConnectServer.start(str(tmp_path / "warehouse"))
    assert started_with[-2] == os.path.join(installed, "bin", "spark-submit")
    assert started_with[-1] == ("C.UTF-8" if sys.platform.startswith("linux") else "C")

    assert session.use_the_installed_spark() == []  # SPARK_HOME now names the installed Spark: nothing to say


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"LC_ALL": "C"}, {"LC_ALL": "C.UTF-8"}),  # Docker images, some CI
        ({}, {"LC_CTYPE": "C.UTF-8"}),
        ({"LANG": "C"}, {"LANG": "C", "LC_CTYPE": "C.UTF-8"}),
        ({"LC_CTYPE": "POSIX", "LANG": "en_US.UTF-8"}, {"LC_CTYPE": "C.UTF-8", "LANG": "en_US.UTF-8"}),
        ({"LANG": "en_US.UTF-8"}, {"LANG": "en_US.UTF-8"}),
        ({"LC_ALL": "de_DE.utf8"}, {"LC_ALL": "de_DE.utf8"}),
    ],
)
def test_the_jvm_gets_a_utf8_character_type_for_file_names(monkeypatch, environment, expected):
    """Under LC_ALL=C a landed `orders_ünïcødé_📦.csv` failed the whole stage run with PATH_NOT_FOUND: the JVM
    encoded file names as ASCII (test_hostile_inputs.py passed under LC_ALL=C only with this)."""
    from order_tracking.local import session

    for variable in ("LC_ALL", "LC_CTYPE", "LANG"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setattr(session.sys, "platform", "linux")

    session.utf8_file_names_for_the_jvm()

    assert {v: os.environ[v] for v in ("LC_ALL", "LC_CTYPE", "LANG") if v in os.environ} == expected


def test_a_local_start_under_the_posix_locale_gives_its_jvm_utf8(monkeypatch, tmp_path):
    from order_tracking.local import session

    monkeypatch.setenv("LC_ALL", "C")
    seen = []

    def jvm_start(*_args, **_kwargs):
        seen.append(os.environ["LC_ALL"])
        raise _JvmStarted

    monkeypatch.setattr(session.SparkSession.Builder, "getOrCreate", jvm_start)
    with pytest.raises(_JvmStarted):
        session.local_spark(str(tmp_path / "warehouse"))
    assert seen == (["C.UTF-8"] if sys.platform.startswith("linux") else ["C"])
