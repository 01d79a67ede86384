"""The `run`, `show` and `watch` commands: the bundle's job on a local Spark + Delta."""

from __future__ import annotations

import argparse
import os
import sys

from order_tracking.local.console import print_json_line, run_report
from order_tracking.local.job import JobSpec, load_job, local_parameters
from order_tracking.local.progress import Progress, spark_activity
from order_tracking.local.runner import JobLocked, JobRun, job_lock, run_job
from order_tracking.local.session import (
    LOCAL_CATALOG,
    LONG_SESSION_JAVA_OPTIONS,
    local_spark,
    register_local_tables,
)

HEARTBEAT_SECONDS = 15.0  # how often a running task says it still runs


def _prepare(args: argparse.Namespace, root: str) -> tuple[JobSpec, dict[str, str]]:
    for folder in (args.landing, args.archive, args.rejected):
        os.makedirs(folder, exist_ok=True)
    spec = load_job(root, args.target)
    parameters = local_parameters(
        spec,
        os.path.abspath(args.landing),
        os.path.abspath(args.archive),
        os.path.abspath(args.rejected),
        LOCAL_CATALOG,
        args.schema,
        args.settle_seconds,
    )
    return spec, parameters


def _report(run: JobRun, *, as_json: bool = False, verbose: bool = False) -> int:
    """The per-file table and the summary line (a failure's on stderr); `as_json` adds the whole run as the last
    line; `verbose` first repeats what the notebooks printed."""
    if verbose:
        for task, printed in run.printed.items():
            print(f"--- {task} printed:\n{printed.rstrip()}")
    *table, summary = run_report(run)
    print("\n".join(table), flush=True)
    print(summary, file=sys.stdout if run.status == "succeeded" else sys.stderr, flush=True)
    if as_json:
        print_json_line(run.as_dict())
    return 0 if run.status == "succeeded" else 1


def _progress(spark) -> Progress:
    tracker = spark.sparkContext.statusTracker()  # local only: the notebooks never touch sparkContext
    return Progress(interval=HEARTBEAT_SECONDS, activity=lambda: spark_activity(tracker))


def run(args: argparse.Namespace, root: str) -> int:
    spec, parameters = _prepare(args, root)
    try:
        with job_lock(args.warehouse, wait=not args.no_wait):
            spark = local_spark(args.warehouse)
            register_local_tables(spark, args.warehouse, args.schema)
            with _progress(spark).heartbeat() as progress:
                result = run_job(spark, spec, parameters, progress=progress)
            code = _report(result, as_json=args.json, verbose=args.verbose)
            if args.show and code == 0:
                print_target(spark, args.schema, limit=50)
            return code
    except JobLocked as locked:
        print(f"not started: {locked}", file=sys.stderr)
        return 3


def show(args: argparse.Namespace, root: str) -> int:
    spark = local_spark(args.warehouse)
    register_local_tables(spark, args.warehouse, args.schema)
    return print_target(spark, args.schema, args.limit)


def print_target(spark, schema_name: str, limit: int) -> int:
    """Print the target table, newest first by key, and the row count of every pipeline table."""
    schema = f"{LOCAL_CATALOG}.`{schema_name}`"
    tables = [r.tableName for r in spark.sql(f"SHOW TABLES IN {schema}").collect()]
    if "orders_target" not in tables:
        print(f"no target table yet in {schema}: run `python -m order_tracking run` first")
        return 1
    spark.table(f"{schema}.orders_target").orderBy("tracking_num").show(limit, truncate=False)
    for table in sorted(tables):
        print(f"{table:<20} {spark.table(f'{schema}.`{table}`').count():>10} rows")
    return 0


def watch(args: argparse.Namespace, root: str) -> int:
    from order_tracking.local.watch import Watcher, install_interrupt_handler

    spec, parameters = _prepare(args, root)
    trigger = spec.trigger
    wait_after = args.wait_after_last_change
    min_between = args.min_time_between_triggers
    # One warm session for every run, for hours: the full JIT pays off there, unlike in one `run`.
    spark = local_spark(args.warehouse, short_runs=False, java_options=LONG_SESSION_JAVA_OPTIONS)
    register_local_tables(spark, args.warehouse, args.schema)

    def one_run() -> JobRun:
        with job_lock(args.warehouse), _progress(spark).heartbeat() as progress:
            result = run_job(spark, spec, parameters, progress=progress)
        _report(result, verbose=args.verbose)
        return result

    watcher = Watcher(
        landing=args.landing,
        run=one_run,
        wait_after_last_change=wait_after if wait_after is not None else trigger.wait_after_last_change_seconds or 0,
        min_time_between_triggers=min_between
        if min_between is not None
        else trigger.min_time_between_triggers_seconds or 0,
        poll_seconds=args.poll_seconds,
    )
    install_interrupt_handler(watcher)
    print(f"watching {os.path.abspath(args.landing)} (Ctrl-C stops after the run in progress)", flush=True)
    watcher.loop()
    return 0
