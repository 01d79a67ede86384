"""What a person sees: the per-file table and summary by default, JSON only on request, a heartbeat during long
tasks, and a JVM that prints warnings and errors but not its start-up notices."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from order_tracking.local import commands
from order_tracking.local.console import file_table, run_report
from order_tracking.local.progress import Progress, spark_activity
from order_tracking.local.quiet import StartupNoticeFilter, jvm_stderr_filtered
from order_tracking.local.runner import JobRun

FILES = [
    {"file": "orders_1.csv", "outcome": "staged", "reason": None, "rows_staged": 1200, "rows_quarantined": 3},
    {
        "file": "empty.csv",
        "outcome": "rejected",
        "reason": "the file is empty",
        "rows_staged": 0,
        "rows_quarantined": 0,
    },
]


def a_run(status: str = "succeeded") -> JobRun:
    tasks = {"orders_stage": {"files_staged": 1, "files_rejected": 1, "rows_staged": 1200, "rows_quarantined": 3}}
    tasks["orders_stage"]["files"] = FILES
    if status == "succeeded":
        tasks["orders_target"] = {"rows_inserted": 1000, "rows_updated": 200, "rows_unchanged": 0}
        return JobRun(status=status, tasks=tasks, seconds=12.34, printed={"orders_stage": '{\n  "batch_id": 1\n}'})
    return JobRun(status="failed", tasks=tasks, failed_task="orders_target", error="ValueError: boom", seconds=3.0)


def test_the_file_table_has_one_aligned_line_per_file_with_the_reason_of_a_rejection() -> None:
    header, rule, first, second = file_table(FILES)
    assert header.split() == ["file", "outcome", "rows", "staged", "rows", "quarantined", "reason"]
    assert first.split() == ["orders_1.csv", "staged", "1200", "3"]
    assert second.split()[:4] == ["empty.csv", "rejected", "0", "0"] and second.endswith("the file is empty")
    assert header.index("rows staged") + len("rows staged") == first.index("1200") + len("1200")  # right-aligned
    assert len(file_table([{**FILES[1], "reason": "x" * 500}])[2]) < 120  # a long reason is shortened
    assert file_table([]) == ["no new files"]


def test_by_default_a_run_prints_the_table_and_one_summary_line_and_no_json(capsys) -> None:
    assert commands._report(a_run()) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("orders_1.csv") and out[3].startswith("empty.csv")
    assert out[-1] == (
        "run succeeded in 12.3s: staged 1 file(s), 1200 row(s); quarantined 3; rejected 1 file(s); "
        "target +1000 inserted, 200 updated, 0 unchanged"
    )
    assert not any(line.startswith("{") for line in out), "the notebooks' JSON is printed only with --verbose"


def test_the_summary_names_files_left_for_the_next_run_after_a_failure_that_did_not_reproduce() -> None:
    run = a_run()
    run.tasks["orders_stage"]["files_failed"] = 2
    assert run_report(run)[-1].endswith("0 unchanged; 2 file(s) left for the next run")
    assert "left for the next run" not in run_report(a_run())[-1]


def test_the_summary_names_what_the_landing_folder_holds_that_is_never_read() -> None:
    run = a_run()
    run.tasks["orders_stage"] |= {"files_ignored": 2, "ignored_names": ["a.csv.gz", "b.xlsx"]}
    assert run_report(run)[-1].endswith("2 name(s) in the landing folder not read (only *.csv is): a.csv.gz, b.xlsx")
    run.tasks["orders_stage"]["files_ignored"] = 30  # the summary names the first 20 only
    assert run_report(run)[-1].endswith("a.csv.gz, b.xlsx, ...")
    assert "not read" not in run_report(a_run())[-1]


def test_json_adds_the_whole_run_as_the_last_line_and_verbose_the_notebooks_output(capsys) -> None:
    run = a_run()
    assert commands._report(run, as_json=True, verbose=True) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[-1]) == json.loads(json.dumps(run.as_dict()))
    assert out[0] == "--- orders_stage printed:" and out[1] == "{"
    assert "run succeeded" in out[-2]


def test_a_failed_run_says_where_on_stderr_and_exits_1(capsys) -> None:
    assert commands._report(a_run("failed"), as_json=True) == 1
    printed = capsys.readouterr()
    assert printed.err.strip() == "run FAILED in task orders_target after 3.0s: ValueError: boom"
    assert json.loads(printed.out.splitlines()[-1])["status"] == "failed"
    assert run_report(JobRun(status="failed", failed_task="orders_stage", error="E"))[0].startswith("run FAILED")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_running_task_beats_every_interval_with_its_elapsed_time_and_sparks_activity() -> None:
    clock, lines = FakeClock(), []
    progress = Progress(interval=15, clock=clock, activity=lambda: "1 Spark job(s)", write=lines.append)
    assert progress.beat() is None  # no task yet
    progress.task_started("orders_stage")
    clock.now += 14.9
    assert progress.beat() is None
    clock.now += 0.2
    assert progress.beat() == "orders_stage: running for 15s; 1 Spark job(s)"
    clock.now += 10
    assert progress.beat() is None  # 10 s since the last line
    clock.now += 5
    assert progress.beat() == "orders_stage: running for 30s; 1 Spark job(s)"
    progress.task_finished("orders_stage")
    clock.now += 60
    assert progress.beat() is None
    progress.task_started("orders_target")
    progress.task_finished("orders_target", failed=True)
    assert lines == [
        "orders_stage: started",
        "orders_stage: running for 15s; 1 Spark job(s)",
        "orders_stage: running for 30s; 1 Spark job(s)",
        "orders_stage: done after 30.1s",
        "orders_target: started",
        "orders_target: failed after 0.0s",
    ]


class FakeTracker:
    class Stage:
        def __init__(self, done: int, total: int) -> None:
            self.numCompletedTasks, self.numTasks = done, total

    def __init__(self, jobs: list[int], stages: dict[int, Stage]) -> None:
        self.jobs, self.stages = jobs, stages

    def getActiveJobsIds(self) -> list[int]:  # noqa: N802 - PySpark's StatusTracker names
        return self.jobs

    def getActiveStageIds(self) -> list[int]:  # noqa: N802
        return list(self.stages)

    def getStageInfo(self, stage_id: int):  # noqa: N802
        return self.stages.get(stage_id)


def test_sparks_activity_names_the_active_jobs_and_each_stages_tasks() -> None:
    tracker = FakeTracker([7], {12: FakeTracker.Stage(40, 200), 11: FakeTracker.Stage(3, 3)})
    assert spark_activity(tracker) == "1 Spark job(s): stage 11 3/3 tasks, stage 12 40/200 tasks"
    assert spark_activity(FakeTracker([], {})) == ""


def test_sparks_activity_reads_the_real_status_tracker(spark) -> None:
    assert spark_activity(spark.sparkContext.statusTracker()) == ""  # idle between queries


NOTICES = [
    "WARNING: Using incubator modules: jdk.incubator.vector\n",
    "Using Spark's default log4j profile: org/apache/spark/log4j2-defaults.properties\n",
    'Setting default log level to "WARN".\n',
    "To adjust logging level use sc.setLogLevel(newLevel). For SparkR, use setLogLevel(newLevel).\n",
]
IVY_REPORT = [
    ":: loading settings :: url = jar:file:/x/ivy-2.5.3.jar!/org/apache/ivy/core/settings/ivysettings.xml\n",
    "Ivy Default Cache set to: /root/.ivy2.5.2/cache\n",
    "\tfound io.delta#delta-spark_2.13;4.0.1 in central\n",
    "\t3 artifacts copied, 0 already retrieved (6401kB/25ms)\n",
]


def _filtered(lines: list[str]) -> list[str]:
    notices = StartupNoticeFilter()
    kept = [text for line in lines for text in notices.feed(line)]
    return kept + notices.close()


def test_start_up_notices_and_a_successful_ivy_report_are_dropped_and_the_rest_kept() -> None:
    real = ["14:20:13 ERROR Executor: Exception in task 0.0\n", "14:20:14 WARN DeltaLog: something to look at\n"]
    assert _filtered(NOTICES + IVY_REPORT + real) == real
    failed = IVY_REPORT[:3] + [":: problems summary ::\n", "\t\tmodule not found: io.delta#delta-spark_2.13\n"]
    assert _filtered(failed) == failed  # Ivy's report is the error message when the fetch fails
    assert _filtered(IVY_REPORT[:3]) == IVY_REPORT[:3]  # a report cut short (the JVM died) is shown


def test_a_child_started_inside_the_filter_keeps_its_errors_and_loses_its_notices(capfd) -> None:
    script = "import sys; sys.stderr.write(" + repr("".join(NOTICES) + "a real error\n") + ")"
    with jvm_stderr_filtered():
        child = subprocess.Popen([sys.executable, "-c", script])
    child.wait(timeout=60)
    deadline = time.monotonic() + 10
    err = ""
    while "a real error" not in err and time.monotonic() < deadline:
        err += capfd.readouterr().err
        time.sleep(0.05)
    assert err == "a real error\n"


def test_the_sessions_jvm_shows_warnings_and_errors_but_not_the_silenced_notices(spark, capfd) -> None:
    log_manager = spark._jvm.org.apache.logging.log4j.LogManager
    log_manager.getLogger("org.apache.hadoop.util.NativeCodeLoader").warn("Unable to load native-hadoop library")
    log_manager.getLogger("org.apache.spark.util.Utils").warn("Your hostname, vm, resolves to a loopback address")
    log_manager.getLogger("org.apache.spark.sql.delta.Test").warn("a real warning")
    log_manager.getLogger("org.apache.spark.sql.delta.Test").error("a real error")
    deadline = time.monotonic() + 10
    err = ""
    while "a real error" not in err and time.monotonic() < deadline:
        err += capfd.readouterr().err
        time.sleep(0.05)
    assert "WARN Test: a real warning" in err and "ERROR Test: a real error" in err
    assert "native-hadoop" not in err and "loopback" not in err
