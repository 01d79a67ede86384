"""Shared fixtures: one Spark session for the whole suite, and an isolated schema + folders per test."""

from __future__ import annotations

import itertools
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers_job import VolumeFolders
from order_tracking.config import StageConfig, Tables, TargetConfig
from order_tracking.local.session import LOCAL_CATALOG, create_local_schema
from order_tracking.tables import sql_string

_schema_numbers = itertools.count()

# Laptops are rarely in UTC, CI machines usually are: the suite's Python side (and the processes it starts) runs
# in a zone with a half-hour offset and summer time, so code or a test that assumes UTC fails here as it would on
# a laptop. (A test compared a collected TIMESTAMP as text and failed only outside UTC.) Spark's SQL and JVM run in
# UTC whatever this is (order_tracking.local.session).
os.environ["TZ"] = "America/St_Johns"
time.tzset()

# Test files in order of the CPU they take alone, heaviest first (measured with --durations); the Makefile
# runs xdist with `--dist loadfile --no-loadscope-reorder`, so workers take files in this order and the suite
# ends on light files with both workers busy. (xdist's own order, by number of tests, left a one-test file
# that runs the job over Spark Connect for last.) Files not named here follow, in collection order.
HEAVY_FILES_FIRST = (
    "test_crash.py",
    "test_properties.py",
    "test_poison_files.py",
    "test_upkeep.py",
    "test_stage.py",
    "test_end_to_end.py",
    "test_operating.py",
    "test_hostile_inputs.py",
    "test_concurrency.py",
    "test_fixed_cost.py",
    "test_merge.py",
    "test_spark_connect.py",
    "test_benchmarks_smoke.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(HEAVY_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order


def jvm_time_zone(spark) -> str:
    """The default time zone of the JVM behind `spark` (the test session's, or a Spark Connect server's)."""
    return spark.sql("SELECT reflect('java.lang.System', 'getProperty', 'user.timezone')").first()[0]


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="session")
def spark(warehouse: Path):
    from order_tracking.local.session import LONG_SESSION_JAVA_OPTIONS, local_spark

    # The suite's session lives for minutes: the full JIT (C2) pays off there, unlike in one short CLI run, and
    # compiling later cost less CPU: test_merge.py alone 86-95 CPU-s against 103-106 at the default threshold,
    # in about the same wall time; the suite (two workers, CPU-bound) 760 CPU-s against 832.
    session = local_spark(
        str(warehouse),
        app_name="order-tracking-tests",
        short_runs=False,
        java_options=LONG_SESSION_JAVA_OPTIONS,
    )
    # Interpreted expressions instead of generated code, for this session only. The suite's queries run on a few
    # rows each, and the classes compiled (Janino) for them are never paid back: test_merge.py took about 20% less
    # CPU and wall time, the whole suite 7.5 instead of 10.5 minutes; with the code cache at 1,000 classes it is
    # still no faster with code generation (docs/decisions.md). Code generation is still
    # exercised by every test that runs the job in its own process (the CLI) or over Spark Connect, which start
    # with the product's settings; results do not depend on the mode.
    session.conf.set("spark.sql.codegen.wholeStage", "false")
    session.conf.set("spark.sql.codegen.factoryMode", "NO_CODEGEN")
    yield session
    session.stop()


@dataclass
class Workspace(VolumeFolders):
    """One test's schema and volume folders."""

    root: Path
    tables: Tables

    def stage_config(self, **overrides) -> StageConfig:
        settings = dict(
            tables=self.tables,
            landing_path=str(self.landing),
            archive_path=str(self.archive),
            rejected_path=str(self.rejected),
            settle_seconds=0.0,
            max_wait_seconds=0.0,
        )
        settings.update(overrides)
        return StageConfig(**settings)

    def target_config(self) -> TargetConfig:
        return TargetConfig(self.tables)

    def drop(self, name: str, text: str | bytes, *, age_seconds: float = 3600.0) -> Path:
        """Land a file, dated `age_seconds` ago so it counts as settled."""
        path = self.landing / name
        data = text.encode("utf-8") if isinstance(text, str) else text
        path.write_bytes(data)
        stamp = path.stat().st_mtime - age_seconds
        os.utime(path, (stamp, stamp))
        return path

    def archived(self) -> list[str]:
        return sorted(p.name for p in self.archive.rglob("*") if p.is_file())

    def rejected_files(self) -> list[str]:
        return sorted(p.name for p in self.rejected.rglob("*") if p.is_file())


def new_workspace(spark, root: Path) -> Workspace:
    """A fresh schema and empty volume folders under `root`."""
    schema = f"t{os.getpid()}_{next(_schema_numbers)}"
    create_local_schema(spark, schema, str(root / "db"))
    workspace = Workspace(root, Tables(LOCAL_CATALOG, schema))
    workspace.landing.mkdir(parents=True)
    return workspace


def copy_workspace(spark, source: Workspace, root: Path) -> Workspace:
    """A copy of `source` (folders and Delta tables) in a new schema under `root`, for a test that changes it.

    Job runs cost seconds each: a module builds its tables once and each test changes its own copy, about 1 s.
    A Delta table is a plain folder whose log names its files relative to it, so the copied folder, registered
    where it now is, is the same table. Paths written into rows (the file log's `destination`) still name
    `source`'s folders, which no test changes once they are built.
    """
    shutil.copytree(source.root, root, dirs_exist_ok=True)
    schema = f"t{os.getpid()}_{next(_schema_numbers)}"
    create_local_schema(spark, schema, str(root / "db"))
    copy = Workspace(root, Tables(LOCAL_CATALOG, schema))
    for table in sorted(p for p in (root / "db").iterdir() if (p / "_delta_log").is_dir()):
        spark.sql(f"CREATE TABLE {copy.tables.name(table.name)} USING DELTA LOCATION {sql_string(str(table))}")
    return copy


@pytest.fixture
def ws(spark, tmp_path: Path) -> Workspace:
    return new_workspace(spark, tmp_path)


def assert_rows(actual, rows: list[tuple]) -> None:
    """chispa comparison against literal rows typed like `actual` (nullability included)."""
    from chispa import assert_df_equality

    expected = actual.sparkSession.createDataFrame(rows, actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True)
