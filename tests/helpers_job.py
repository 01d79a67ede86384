"""Run the local job (`python -m order_tracking run`) in a subprocess, or the same job in the test process, on one
local deployment's folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from order_tracking.local.job import load_job, local_parameters
from order_tracking.local.runner import JobRun
from order_tracking.local.runner import run_job as run_local_job
from order_tracking.local.session import LOCAL_CATALOG, register_local_tables

REPO = Path(__file__).resolve().parents[1]
TABLES = ("orders_stage", "orders_quarantine", "orders_file_log", "orders_merge_log", "orders_target")


class VolumeFolders:
    """The volume's folders of one test deployment under `self.root`, named as in the bundle's volume."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "incoming"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"


@dataclass(frozen=True)
class JobFolders(VolumeFolders):
    """One local deployment: volume folders, a warehouse and a schema, all under `root`."""

    root: Path
    schema: str = "orders"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    def table_path(self, table: str) -> Path:
        return self.warehouse / f"{self.schema}.db" / table

    def run_args(self, *, no_wait: bool = False) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "order_tracking",
            "run",
            "--landing",
            str(self.landing),
            "--archive",
            str(self.archive),
            "--rejected",
            str(self.rejected),
            "--warehouse",
            str(self.warehouse),
            "--schema",
            self.schema,
            "--settle-seconds",
            "0",
            "--json",
        ]
        return args + ["--no-wait"] if no_wait else args


@dataclass
class JobResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict | None:
        """The run summary: the last stdout line, when the run got that far."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None


def job_env(crash_at: str | None = None, crash_after: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDER_TRACKING_CRASH")}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"  # loopback only
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if crash_at:
        env["ORDER_TRACKING_CRASH_AT"] = crash_at
    if crash_after is not None:
        env["ORDER_TRACKING_CRASH_AFTER"] = str(crash_after)
    return env


def start_job(
    folders: JobFolders, *, no_wait: bool = False, crash_at: str | None = None, crash_after: int | None = None
) -> subprocess.Popen:
    """Start one local job run in its own process group (Python and its JVM); the caller waits for it, or kills it."""
    return subprocess.Popen(
        folders.run_args(no_wait=no_wait),
        cwd=REPO,
        env=job_env(crash_at, crash_after),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def kill_hard(process: subprocess.Popen) -> None:
    """SIGKILL the run's whole process group: the Python driver and its JVM die at once, like a lost driver."""
    os.killpg(process.pid, signal.SIGKILL)


def finish(process: subprocess.Popen, timeout: float = 600) -> JobResult:
    """Wait for the run, then for its JVM: nothing of a dead run may still write while the next one starts."""
    stdout, stderr = process.communicate(timeout=timeout)
    deadline = time.monotonic() + 60
    while _group_alive(process.pid):
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.05)
    return JobResult(process.returncode, stdout, stderr)


def _group_alive(group: int) -> bool:
    """Whether a process of the group still runs (zombies do not: this container's init may never reap them)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def run_job(folders: JobFolders, **kwargs) -> JobResult:
    return finish(start_job(folders, **kwargs))


def run_job_here(spark, folders: JobFolders) -> JobRun:
    """The bundle's job through the local runner and both notebooks, in this process and session (no CLI)."""
    spec = load_job(str(REPO))
    parameters = local_parameters(
        spec, str(folders.landing), str(folders.archive), str(folders.rejected), LOCAL_CATALOG, folders.schema, 0
    )
    register_local_tables(spark, str(folders.warehouse), folders.schema)
    return run_local_job(spark, spec, parameters)
