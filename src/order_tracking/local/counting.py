"""Count what a span of work costs a local Spark session: Spark jobs, Delta commits, table snapshots, seconds,
and the JVM's CPU seconds by kind of thread.

Counts are exact on any machine, unlike seconds: the DAG scheduler numbers every job it starts in sequence, each
Delta commit is one new `_delta_log/<version>.json`, and Delta runs the state reconstruction of a table's
snapshot as SQL executions described "Compute snapshot for version: N" whose plans read that table's `_delta_log`.
The JVM's CPU time comes from Linux's per-thread counters (`/proc/<pid>/task/*/stat`), grouped by thread name:
the driver's command threads (where each query is planned and each Delta commit made), the JIT compilers, the
task threads (the data work), garbage collection, and the rest (adaptive execution's stage threads, the DAG
scheduler, threads that ended within the span). Elsewhere it is left empty.
Local only (the JVM through py4j): benchmarks and tests use it to pin a run's fixed cost.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

_COMMIT_FILE = re.compile(r"\d{20}\.json")
_SNAPSHOT_JOB = re.compile(r"Compute snapshot for version: (\d+)")
_DELTA_LOG = re.compile(r"([^\s,()\[\]]+)/_delta_log")

# What started a Spark job, read from its description; the first kind that matches wins, so the jobs Delta runs
# inside a MERGE (its own file skipping and table state) count as the MERGE's.
JOB_KINDS = (
    ("MERGE", re.compile(r"MERGE operation")),
    ("table state", re.compile(r"Compute snapshot for version")),
    ("file skipping", re.compile(r"Filtering files for query")),
    ("query result", re.compile(r"^(collect|first|count|take|head|toPandas|showString) at ")),
    ("write", re.compile(r"^(saveAsTable|save|insertInto) at ")),
    ("Delta command", re.compile(r"recordDeltaOperationInternal")),
    ("query stage", re.compile(r"withThreadLocalCaptured")),
    ("CSV schema", re.compile(r"^csv at ")),
)
OTHER_JOBS = "other"
JOB_KIND_NAMES = tuple(kind for kind, _ in JOB_KINDS) + (OTHER_JOBS,)  # in the order reports list them

# Thread name patterns of a local JVM, for its CPU time; the first that matches wins, the rest count as OTHER_CPU.
# Linux keeps the first 15 characters of a thread's name ("Executor task l", "C2 CompilerThre").
CPU_GROUPS = (
    ("driver", re.compile(r"^Thread-\d+$")),  # py4j's command threads: the Python calls into the JVM
    ("JIT", re.compile(r"CompilerThre")),
    ("tasks", re.compile(r"^Executor task")),
    ("GC", re.compile(r"^(GC Thread|VM Thread)")),
)
OTHER_CPU = "other"
CPU_GROUP_NAMES = tuple(group for group, _ in CPU_GROUPS) + (OTHER_CPU,)  # in the order reports list them
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def job_kinds(descriptions: list[str]) -> dict[str, int]:
    """Jobs per kind (JOB_KINDS, then OTHER_JOBS), in JOB_KINDS' order, kinds with no job left out.

    Kinds, as Spark and Delta describe the jobs: a Delta MERGE (everything it runs); a table's state rebuilt
    after a new version (`Compute snapshot`); the files a query must read, picked by their statistics; a query's
    result brought to the driver; a DataFrame write; a Delta command (the pipeline's DELETEs, the seed's table
    replace); a query's stages run ahead of its result (adaptive execution); reading CSV files to infer their
    schema (the seed approach; the pipeline's schema is explicit); anything else.
    """
    counted = Counter(
        next((kind for kind, pattern in JOB_KINDS if pattern.search(text)), OTHER_JOBS) for text in descriptions
    )
    return {kind: counted[kind] for kind in JOB_KIND_NAMES if counted[kind]}


@dataclass
class Cost:
    """What one span cost: wall seconds, Spark jobs started, Delta commits per table, snapshot states rebuilt
    per table (a table whose snapshot is loaded pays one reconstruction), and each job's description."""

    seconds: float = 0.0
    jobs: int = 0
    commits: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, int] = field(default_factory=dict)
    job_descriptions: list[str] = field(default_factory=list)
    jvm_cpu: dict[str, float] = field(default_factory=dict)  # CPU_GROUPS + OTHER_CPU + "total"; empty off Linux

    @property
    def total_commits(self) -> int:
        return sum(self.commits.values())

    @property
    def snapshot_tables(self) -> int:
        return len(self.snapshots)

    @property
    def jobs_by_kind(self) -> dict[str, int]:
        return job_kinds(self.job_descriptions)

    def as_result(self, prefix: str) -> dict[str, float]:
        """The benchmark report's fields: `<prefix>_s`, `_jobs`, `_commits`, `_snapshots` (tables)."""
        return {
            f"{prefix}_s": self.seconds,
            f"{prefix}_jobs": float(self.jobs),
            f"{prefix}_commits": float(self.total_commits),
            f"{prefix}_snapshots": float(self.snapshot_tables),
        }


def delta_commits(tables_dir: str) -> dict[str, int]:
    """Commit files per Delta table folder directly under `tables_dir` (a schema's location)."""
    commits = {}
    for table in sorted(os.listdir(tables_dir)) if os.path.isdir(tables_dir) else []:
        log = os.path.join(tables_dir, table, "_delta_log")
        if os.path.isdir(log):
            commits[table] = sum(bool(_COMMIT_FILE.fullmatch(name)) for name in os.listdir(log))
    return commits


def _cpu_seconds(stat_line: str) -> tuple[str, float]:
    """Thread (or process) name and its user + system CPU seconds, from a `/proc/.../stat` line."""
    name = stat_line[stat_line.index("(") + 1 : stat_line.rindex(")")]
    fields = stat_line[stat_line.rindex(")") + 2 :].split()
    return name, (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def jvm_cpu_by_group(pid: int, proc_root: str = "/proc") -> dict[str, float]:
    """CPU seconds the process `pid` has used so far: per CPU_GROUPS group of its live threads, OTHER_CPU (other
    threads, and threads that have ended), and "total". Empty where `/proc` has no such process (not Linux)."""
    process = os.path.join(proc_root, str(pid))
    try:
        with open(os.path.join(process, "stat"), encoding="utf-8") as f:
            _, total = _cpu_seconds(f.read())
        thread_ids = os.listdir(os.path.join(process, "task"))
    except OSError:
        return {}
    groups = dict.fromkeys([name for name, _ in CPU_GROUPS], 0.0)
    for thread_id in thread_ids:
        try:
            with open(os.path.join(process, "task", thread_id, "stat"), encoding="utf-8") as f:
                name, seconds = _cpu_seconds(f.read())
        except OSError:  # the thread ended meanwhile: its time is in the total
            continue
        group = next((group for group, pattern in CPU_GROUPS if pattern.search(name)), None)
        if group:
            groups[group] += seconds
    return {**groups, OTHER_CPU: total - sum(groups.values()), "total": total}


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds per group between two `jvm_cpu_by_group` readings (a thread that ended meanwhile moves its time
    from its group to OTHER_CPU, so only the total is exact)."""
    return {group: after[group] - before.get(group, 0.0) for group in after} if before and after else {}


class CostCounter:
    """Measures spans of work on a local session; `tables_dir` holds the Delta tables whose commits count."""

    def __init__(self, spark: SparkSession, tables_dir: str) -> None:
        self._context = spark.sparkContext._jsc.sc()
        self._sql_store = spark._jsparkSession.sharedState().statusStore()
        self._jvm_pid = int(spark.sparkContext._jvm.ProcessHandle.current().pid())
        self.tables_dir = tables_dir

    def _settled(self) -> None:
        """Wait until the listeners (the status stores read below) have seen every event so far."""
        self._context.listenerBus().waitUntilEmpty()

    def _stored_executions(self) -> Iterator:
        """The SQL executions the store holds, newest first (it lists them by id).

        The store keeps only the newest `spark.sql.ui.retainedExecutions` and evicts the rest as it goes, so its
        count can run ahead of its list: an offset past the list's end returns nothing and is skipped.
        """
        offset = self._sql_store.executionsCount() - 1
        while offset >= 0:
            listed = self._sql_store.executionsList(offset, 1)
            offset -= 1
            if not listed.isEmpty():
                yield listed.apply(0)

    def _last_execution_id(self) -> int:
        return next((execution.executionId() for execution in self._stored_executions()), -1)

    def _new_executions(self, after_id: int) -> Iterator:
        """SQL executions with an id above `after_id`, newest first."""
        for execution in self._stored_executions():
            if execution.executionId() <= after_id:
                return
            yield execution

    def _snapshots(self, after_id: int) -> dict[str, int]:
        """Table -> snapshot versions rebuilt (one reconstruction can run as several executions)."""
        rebuilt = set()
        for execution in self._new_executions(after_id):
            version = _SNAPSHOT_JOB.search(execution.description())
            if version:
                for path in set(_DELTA_LOG.findall(execution.physicalPlanDescription())):
                    rebuilt.add((os.path.basename(path.rstrip("/")), int(version.group(1))))
        return dict(Counter(table for table, _ in rebuilt))

    def _descriptions(self, first_job: int, end_job: int) -> list[str]:
        store = self._context.statusStore()
        descriptions = []
        for job_id in range(first_job, end_job):
            data = store.job(job_id)
            described = data.description()
            descriptions.append(described.get() if described.isDefined() else data.name())
        return descriptions

    @contextlib.contextmanager
    def span(self) -> Iterator[Cost]:
        """Measure the block; the Cost it yields is filled in when the block ends."""
        cost = Cost()
        self._settled()
        first_job, last_execution = self._context.dagScheduler().numTotalJobs(), self._last_execution_id()
        commits_before = delta_commits(self.tables_dir)
        cpu_before = jvm_cpu_by_group(self._jvm_pid)
        began = time.perf_counter()
        yield cost
        cost.seconds = time.perf_counter() - began
        self._settled()
        cost.jvm_cpu = cpu_used(cpu_before, jvm_cpu_by_group(self._jvm_pid))
        end_job = self._context.dagScheduler().numTotalJobs()
        cost.jobs = end_job - first_job
        after = delta_commits(self.tables_dir)
        cost.commits = {t: n - commits_before.get(t, 0) for t, n in after.items() if n > commits_before.get(t, 0)}
        cost.snapshots = self._snapshots(last_execution)
        cost.job_descriptions = self._descriptions(first_job, end_job)
