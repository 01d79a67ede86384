"""Run the job's notebooks locally, in the order the bundle's job definition gives, in one process."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from order_tracking import faults
from order_tracking.failures import describe
from order_tracking.local.dbutils import LocalDbutils, NotebookExit, TaskValues
from order_tracking.local.job import JobSpec
from order_tracking.local.progress import Progress


class JobLocked(RuntimeError):
    """Another local run holds the job lock (the local form of max_concurrent_runs: 1)."""


@dataclass
class JobRun:
    """The outcome of one local job run: each task's exit value, and the failure if any."""

    status: str = "running"
    tasks: dict[str, Any] = field(default_factory=dict)
    failed_task: str | None = None
    error: str | None = None
    seconds: float = 0.0
    printed: dict[str, str] = field(default_factory=dict)  # what each notebook printed (`run --verbose`)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "tasks": self.tasks,
            "failed_task": self.failed_task,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def code_cells(path: str) -> list[str]:
    """A notebook's Python code cells in order: those of a Jupyter `.ipynb`, or a source-format `.py` file as one."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if not path.endswith(".ipynb"):
        return [text]
    return ["".join(cell["source"]) for cell in json.loads(text)["cells"] if cell["cell_type"] == "code"]


def run_notebook(spark: SparkSession, path: str, dbutils: LocalDbutils) -> str | None:
    """Execute a notebook's code cells as Databricks would: one namespace, the notebook's folder as working directory."""
    # Compiled cell by cell, so a traceback names the cell and the line in it.
    cells = [compile(cell, f"{path} [cell {number}]", "exec") for number, cell in enumerate(code_cells(path), 1)]
    namespace = {"spark": spark, "dbutils": dbutils, "display": print, "__name__": "__main__", "__file__": path}
    previous = os.getcwd()
    os.chdir(os.path.dirname(os.path.abspath(path)))
    try:
        for cell in cells:
            exec(cell, namespace)  # noqa: S102 - running our own notebook is the point
    except NotebookExit as done:
        return done.value
    finally:
        os.chdir(previous)
    return None


def run_job(
    spark: SparkSession,
    spec: JobSpec,
    parameters: Mapping[str, str],
    *,
    checkpoint: Callable[[str], None] = faults.checkpoint,
    progress: Progress | None = None,
) -> JobRun:
    """Run every task in dependency order; stop at the first failure, as a job run does.

    What a notebook prints is kept in `JobRun.printed` (a task run's output, on Databricks), not printed here;
    `progress` hears when each task starts and ends."""
    run, started = JobRun(), time.monotonic()
    task_values = TaskValues()
    for index, task in enumerate(spec.tasks):
        if index:
            checkpoint("job.between_tasks")
        task_values.current_task = task.key
        if progress:
            progress.task_started(task.key)
        printed, value, finished = io.StringIO(), None, False
        try:
            with contextlib.redirect_stdout(printed):
                value = run_notebook(spark, task.notebook_path, LocalDbutils(parameters, task_values))
            finished = True
        except Exception as error:  # noqa: BLE001 - a failed task is reported, like a failed job run
            run.status, run.failed_task, run.error = "failed", task.key, f"{type(error).__name__}: {describe(error)}"
        finally:
            run.printed[task.key] = printed.getvalue()
            if progress:
                progress.task_finished(task.key, failed=not finished)
        if not finished:
            break
        run.tasks[task.key] = json.loads(value) if value else None
    else:
        run.status = "succeeded"
    run.seconds = time.monotonic() - started
    return run


@contextlib.contextmanager
def job_lock(folder: str, *, wait: bool = True, poll_seconds: float = 0.2) -> Iterator[None]:
    """Hold an exclusive lock for one run; a second run waits (queues) or, with wait=False, refuses."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".orders-job.lock"), "w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    raise JobLocked(f"another run holds {handle.name}") from None
                time.sleep(poll_seconds)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
