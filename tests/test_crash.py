"""Crash the real local job at every step boundary, and SIGKILL it for real; a normal rerun must then reach exactly
the state of a run that never crashed: same target, nothing staged twice, every landed file archived or rejected
with its reason, nothing left in landing, nothing lost.

One deployment is crashed at every named step in turn, in this process (the checkpoint raises instead of killing:
the same state is left on disk, since a checkpoint sits between Spark actions and file moves), through the bundle's
job and both notebooks: each rerun first recovers from the crash before it, then is crashed at the next step, as
when a retried task fails again. Two scenarios SIGKILL the whole process group of a CLI run, one at a seeded random
moment, which also covers a kill in the middle of a Delta write.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from conftest import new_workspace
from helpers_job import JobFolders, JobResult, finish, kill_hard, run_job, run_job_here, start_job
from order_tracking import faults, moves
from order_tracking.config import StageConfig, Tables, TargetConfig
from order_tracking.local.session import LOCAL_CATALOG, register_local_tables
from order_tracking.merge import merge_pending
from order_tracking.stage import stage_new_files

pytestmark = pytest.mark.slow

HEADER = "tracking_num,order_id,status,status_ts,carrier\n"
BASE_MTIME = 1_793_000_000  # 2026-10-27: long settled
# Landed before the crashed run: loadable files with bad rows and ties, one file without status_ts, one rejected.
FIRST = {
    "a1.csv": HEADER
    + "K1,O1,Created,2026-11-01T08:00:00Z,UPS\nK2,O2,Created,,DHL\nK3,O3,Created,2026-11-01T08:00:00Z,\n",
    "a2.csv": HEADER + "K1,O1,Shipped,2026-11-01T12:00:00Z,UPS\nK2,O2,Shipped,,DHL\n,O9,Created,,\nK6,O6,x,soon,\n",
    "a3 no time.csv": "order_id,tracking_num,status\nO4,K4,Created\nO3,K3,Shipped\n",
    "a4_rejected.csv": "tracking_num,order_id\nK9,O9\n",
    # A record past the CSV parser's column limit fails the batch's write: the run isolates and rejects it.
    "a5_poison.csv": HEADER + ",".join("x" * 30_000) + "\nK10,O10,Created,,\n",
}
# Landed after a crash, before the rerun: a failed run must not make the next batch skip anything. b3.csv holds only
# a late event, older than the status K1 already has: merged on its own, it must not win.
SECOND = {
    "b1.csv": HEADER + "K1,O1,Delivered,2026-11-02T09:00:00Z,UPS\nK2,O2,Delivered,,DHL\nK5,O5,Created,,GLS\n"
    "K4,O4,Shipped,2026-11-01T07:00:00Z,\n",
    "b2.csv": HEADER + "K3,O3,Delivered,2026-11-03T10:00:00Z,\nK7,O7,Created,,\nK8,O8,Shipped,not a time,\n",
    "b3.csv": HEADER + "K1,O1,Created,2026-10-30T08:00:00Z,UPS\n",
}
# Every named step, in the order a run reaches it. One deployment is crashed at each in turn; SECOND's files land
# after the crashes named: while uncommitted rows are in stage, while a merge is in the target but not in the
# merge log, and after the last crash, so the final rerun merges the late event alone.
# (point, CRASH_AFTER, files the crash leaves in landing, SECOND's files landed after it)
CRASH_CHAIN = [
    ("stage.listed", None, 5, ()),
    ("stage.isolating", None, 5, ()),
    ("stage.isolated", None, 5, ()),
    ("stage.stage_written", None, 5, ()),
    ("stage.quarantine_written", None, 5, ("b1.csv",)),
    ("stage.committed", None, 6, ()),
    ("stage.moved_one", 1, 4, ()),
    ("job.between_tasks", None, 0, ()),
    ("target.before_merge", None, 0, ()),
    ("target.merged", None, 0, ("b2.csv",)),
    ("target.logged", None, 0, ("b3.csv",)),
]
# Real SIGKILLs of the whole process group (Python driver and JVM, mid-write included), each in its own
# subprocess: one at a named point whose rerun also goes through the CLI, one at a seeded random moment that
# falls in the stage task (seed 13: after about five Delta commits, while quarantine and file log are written).
KILLED_IN_SUBPROCESS = {"target.merged": ("target.merged", None, None), "random-13": (None, None, 13)}


def land(folder: Path, files: dict[str, str], first_mtime: int, only: tuple[str, ...] | None = None) -> None:
    """Write `files` (or `only` those), dated one second apart in name order from `first_mtime`."""
    folder.mkdir(parents=True, exist_ok=True)
    for offset, (name, text) in enumerate(sorted(files.items())):
        if only is not None and name not in only:
            continue
        path = folder / name
        path.write_text(text, encoding="utf-8")
        stamp = (first_mtime + offset) * 1_000_000_000
        os.utime(path, ns=(stamp, stamp))


@dataclass(frozen=True)
class State:
    """Everything a run leaves behind, without batch ids and timestamps that differ between runs."""

    target: list[tuple]
    stage: list[tuple]
    quarantine: list[tuple]
    file_log: list[tuple]
    landing: list[str]
    archive: list[tuple[str, bytes]]
    rejected: list[tuple[str, bytes]]


def _folder(root: Path) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def snapshot(spark: SparkSession, tables: Tables, landing: Path, archive: Path, rejected: Path) -> State:
    target = spark.table(tables.target)
    business = [c for c in target.columns if not c.startswith("_")]
    stage = spark.table(tables.stage)
    staged_business = [c for c in stage.columns if not c.startswith("_")]
    return State(
        target=sorted(
            tuple(r)
            for r in target.select(
                *[F.col(c).cast("string") for c in business], "_source_file", "_source_row"
            ).collect()
        ),
        stage=sorted(
            tuple(r)
            for r in stage.select(
                "_source_file", "_source_row", *[F.col(c).cast("string") for c in staged_business]
            ).collect()
        ),
        quarantine=sorted(
            tuple(r)
            for r in spark.table(tables.quarantine)
            .select("_source_file", "_source_row", "reason", "raw_record")
            .collect()
        ),
        file_log=sorted(
            tuple(r)
            for r in spark.table(tables.file_log)
            .select("file_name", "file_size", "outcome", "reason", "rows_read", "rows_staged", "rows_quarantined")
            .collect()
        ),
        landing=sorted(os.listdir(landing)),
        archive=_folder(archive),
        rejected=_folder(rejected),
    )


def assert_nothing_twice_and_all_merged(spark: SparkSession, tables: Tables) -> None:
    staged = Counter(
        tuple(r) for r in spark.table(tables.stage).select("_source_file", "_file_mtime", "_source_row").collect()
    )
    assert [row for row, n in staged.items() if n > 1] == []
    committed = {r[0] for r in spark.table(tables.file_log).filter("outcome = 'staged'").select("batch_id").collect()}
    merged = {r[0] for r in spark.table(tables.merge_log).select("batch_id").collect()}
    assert committed <= merged
    stage_batches = {r[0] for r in spark.table(tables.stage).select("_batch_id").distinct().collect()}
    assert stage_batches <= committed, "rows of an uncommitted attempt are still in stage"


@pytest.fixture(scope="module")
def reference(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> State:
    """The state after a run that never crashed with FIRST landed, then one with SECOND landed."""
    ws = new_workspace(spark, tmp_path_factory.mktemp("reference"))
    land(ws.landing, FIRST, BASE_MTIME)
    stage_new_files(spark, ws.stage_config())
    merge_pending(spark, ws.target_config())
    land(ws.landing, SECOND, BASE_MTIME + 100)
    stage_new_files(spark, ws.stage_config())
    merge_pending(spark, ws.target_config())
    return snapshot(spark, ws.tables, ws.landing, ws.archive, ws.rejected)


@dataclass
class Crash:
    """A crashed run, and what the scenario saw of it."""

    folders: JobFolders
    killed: bool
    landing_after_crash: list[str]
    result: JobResult | None = None
    rerun: JobResult | None = None


def _progress(folders: JobFolders) -> int:
    """Delta commits written plus files moved so far: how far the run has got."""
    commits = len(list(folders.warehouse.glob("*.db/*/_delta_log/*.json")))
    moved = sum(1 for root in (folders.archive, folders.rejected) for p in root.rglob("*") if p.is_file())
    return commits + moved


def _kill_at_random(folders: JobFolders, seed: int) -> tuple[JobResult, bool]:
    """Start the job and SIGKILL it at a seeded random point of its progress, plus a random delay."""
    rng = random.Random(seed)
    wanted, delay = rng.randint(1, 14), rng.uniform(0.0, 0.4)
    process = start_job(folders)
    while process.poll() is None and _progress(folders) < wanted:
        time.sleep(0.02)
    time.sleep(delay)
    killed = process.poll() is None
    if killed:
        kill_hard(process)
    return finish(process), killed


def _schema_for(label: str) -> str:
    return f"crash{os.getpid()}_{label.replace('.', '_').replace('-', '_')}"


def _kill_in_subprocess(root: Path, label: str, point: str | None, after: int | None, seed: int | None) -> Crash:
    folders = JobFolders(root, schema=_schema_for(label))
    land(folders.landing, FIRST, BASE_MTIME)
    if point:
        result = run_job(folders, crash_at=point, crash_after=after)
        killed = result.returncode == -signal.SIGKILL
    else:
        result, killed = _kill_at_random(folders, seed)
    crash = Crash(folders, killed, sorted(os.listdir(folders.landing)), result=result)
    land(folders.landing, SECOND, BASE_MTIME + 100)
    if point:
        crash.rerun = run_job(folders)  # the rerun through the CLI too: a fresh process finds the crashed state
    return crash


@pytest.fixture(scope="module", autouse=True)
def killed_in_subprocess(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future]:
    """The real kills start with the module, two at a time, while the in-process scenarios run."""
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {
        label: pool.submit(_kill_in_subprocess, tmp_path_factory.mktemp(label), label, *scenario)
        for label, scenario in KILLED_IN_SUBPROCESS.items()
    }
    yield futures
    pool.shutdown(wait=True)


class SimulatedKill(BaseException):
    """The in-process stand-in for SIGKILL at a checkpoint: a BaseException, so no `except Exception` (such as
    the job runner's failed-task handler) catches it and nothing after the checkpoint runs."""


def _raise_kill() -> None:
    raise SimulatedKill


def _crash_in_process(spark: SparkSession, folders: JobFolders, point: str, after: int | None) -> bool:
    """Run the job with its checkpoint at `point` raising instead of killing; whether the run got there.

    The same files and tables are left behind as by SIGKILL there, because a checkpoint sits between Spark
    actions and file moves."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORDER_TRACKING_CRASH_AT", point)
        patch.setenv("ORDER_TRACKING_CRASH_AFTER", str(after or 0))
        patch.setattr(faults, "_die", _raise_kill)
        patch.setattr(faults, "_passes", Counter())
        try:
            run_job_here(spark, folders)
        except SimulatedKill:
            return True
    return False


def _rerun_and_snapshot(
    spark: SparkSession, folders: JobFolders, cli_rerun: JobResult | None = None
) -> tuple[Tables, State]:
    """Rerun the job here, or check the rerun a CLI process already made; then the state it left."""
    tables = Tables(LOCAL_CATALOG, folders.schema)
    if cli_rerun is None:
        run = run_job_here(spark, folders)
        assert run.status == "succeeded", run.error
    else:
        assert cli_rerun.returncode == 0, cli_rerun.stderr[-3000:]
        register_local_tables(spark, str(folders.warehouse), folders.schema)
    return tables, snapshot(spark, tables, folders.landing, folders.archive, folders.rejected)


def test_reruns_recover_from_a_crash_at_every_step_in_turn_and_reach_the_state_of_a_run_that_never_crashed(
    spark, tmp_path, reference: State
):
    folders = JobFolders(tmp_path, schema=_schema_for("chain"))
    land(folders.landing, FIRST, BASE_MTIME)
    for point, after, left_in_landing, then_landed in CRASH_CHAIN:
        assert _crash_in_process(spark, folders, point, after), f"the run never reached {point}"
        assert len(os.listdir(folders.landing)) == left_in_landing, f"landing after the crash at {point}"
        land(folders.landing, SECOND, BASE_MTIME + 100, only=then_landed)

    tables, state = _rerun_and_snapshot(spark, folders)

    assert state == reference
    assert_nothing_twice_and_all_merged(spark, tables)


@pytest.mark.parametrize("label", list(KILLED_IN_SUBPROCESS))
def test_a_rerun_after_a_real_sigkill_reaches_the_same_state(
    spark, killed_in_subprocess: dict[str, Future], reference: State, label: str
):
    crash = killed_in_subprocess[label].result()
    print(f"\n{label}: killed={crash.killed}, landing after kill={crash.landing_after_crash}")
    assert crash.killed, f"rc={crash.result.returncode}\n{crash.result.stderr[-3000:]}"
    # The poison file's 30,000-field record is isolated, and neither Spark's task logs nor the summary repeat it.
    for run in filter(None, (crash.result, crash.rerun)):
        assert len(run.stdout) + len(run.stderr) < 20_000 and "x,x,x,x" not in run.stdout + run.stderr

    tables, state = _rerun_and_snapshot(spark, crash.folders, crash.rerun)

    assert state == reference
    assert_nothing_twice_and_all_merged(spark, tables)


def test_a_second_rerun_changes_nothing(spark, reference: State, killed_in_subprocess: dict[str, Future]):
    crash = killed_in_subprocess["target.merged"].result()
    tables, before = _rerun_and_snapshot(spark, crash.folders, crash.rerun)
    version = spark.sql(f"DESCRIBE HISTORY {tables.target} LIMIT 1").first()["version"]

    config = StageConfig(
        tables, str(crash.folders.landing), str(crash.folders.archive), str(crash.folders.rejected), 0.0, 0.0
    )
    assert stage_new_files(spark, config).files == []
    assert merge_pending(spark, TargetConfig(tables)).batches == []

    assert snapshot(spark, tables, crash.folders.landing, crash.folders.archive, crash.folders.rejected) == before
    assert spark.sql(f"DESCRIBE HISTORY {tables.target} LIMIT 1").first()["version"] == version


class SimulatedCrash(Exception):
    """Raised from a checkpoint: the in-process stand-in for a kill, where only the Python side matters."""


def test_a_rerun_outside_utc_recognises_committed_files_and_does_not_load_them_again(spark, ws, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # a laptop's local time; the Spark session stays in UTC
    time.tzset()
    try:
        land(ws.landing, FIRST, BASE_MTIME)

        def crash_after_commit(point: str) -> None:
            if point == "stage.committed":
                raise SimulatedCrash(point)

        with pytest.raises(SimulatedCrash):
            stage_new_files(spark, ws.stage_config(), checkpoint=crash_after_commit)
        rerun = stage_new_files(spark, ws.stage_config())
    finally:
        monkeypatch.undo()
        time.tzset()

    assert (rerun.files_skipped, rerun.files) == (len(FIRST), [])
    assert os.listdir(ws.landing) == []
    staged = Counter(tuple(r) for r in spark.table(ws.tables.stage).select("_source_file", "_source_row").collect())
    assert max(staged.values()) == 1


def test_a_crash_while_writing_a_rejection_reason_still_ends_with_the_reason_beside_the_file(spark, ws, monkeypatch):
    ws.drop("no_status.csv", "tracking_num,order_id\nK9,O9\n")

    def die_while_writing(path: str, reason: str) -> str:
        raise SimulatedCrash("killed while writing the reason")

    monkeypatch.setattr(moves, "write_reason", die_while_writing)
    with pytest.raises(SimulatedCrash):
        stage_new_files(spark, ws.stage_config())
    monkeypatch.undo()
    stage_new_files(spark, ws.stage_config())

    assert os.listdir(ws.landing) == []
    assert ws.rejected_files() == ["no_status.csv", "no_status.csv.reason.txt"]


def test_a_table_folder_left_without_its_first_commit_does_not_block_the_rerun(spark, tmp_path):
    folders = JobFolders(tmp_path, schema=f"nocommit{os.getpid()}")
    land(folders.landing, FIRST, BASE_MTIME)
    (folders.table_path("orders_target") / "_delta_log").mkdir(parents=True)  # what a kill during CREATE TABLE leaves

    register_local_tables(spark, str(folders.warehouse), folders.schema)
    tables = Tables(LOCAL_CATALOG, folders.schema)
    stage_new_files(spark, StageConfig(tables, str(folders.landing), str(folders.archive), str(folders.rejected)))
    merged = merge_pending(spark, TargetConfig(tables))

    assert merged.rows_inserted == spark.table(tables.target).count() > 0
