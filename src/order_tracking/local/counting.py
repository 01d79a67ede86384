"""Count what a span of work costs a local Spark session: Spark jobs, Delta commits, table snapshots, seconds.

Counts are exact on any machine, unlike seconds: the DAG scheduler numbers every job it starts in sequence, each
Delta commit is one new `_delta_log/<version>.json`, and Delta runs the state reconstruction of a table's
snapshot as SQL executions described "Compute snapshot for version: N" whose plans read that table's `_delta_log`.
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


@dataclass
class Cost:
    """What one span cost: wall seconds, Spark jobs started, Delta commits per table, snapshot states rebuilt
    per table (a table whose snapshot is loaded pays one reconstruction), and each job's description."""

    seconds: float = 0.0
    jobs: int = 0
    commits: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, int] = field(default_factory=dict)
    job_descriptions: list[str] = field(default_factory=list)

    @property
    def total_commits(self) -> int:
        return sum(self.commits.values())

    @property
    def snapshot_tables(self) -> int:
        return len(self.snapshots)

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


class CostCounter:
    """Measures spans of work on a local session; `tables_dir` holds the Delta tables whose commits count."""

    def __init__(self, spark: SparkSession, tables_dir: str) -> None:
        self._context = spark.sparkContext._jsc.sc()
        self._sql_store = spark._jsparkSession.sharedState().statusStore()
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
        began = time.perf_counter()
        yield cost
        cost.seconds = time.perf_counter() - began
        self._settled()
        end_job = self._context.dagScheduler().numTotalJobs()
        cost.jobs = end_job - first_job
        after = delta_commits(self.tables_dir)
        cost.commits = {t: n - commits_before.get(t, 0) for t, n in after.items() if n > commits_before.get(t, 0)}
        cost.snapshots = self._snapshots(last_execution)
        cost.job_descriptions = self._descriptions(first_job, end_job)
