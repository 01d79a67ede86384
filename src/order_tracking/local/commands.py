"""The `run`, `show` and `watch` commands: the bundle's job on a local Spark + Delta."""

from __future__ import annotations

import argparse
import os
import sys

from order_tracking.cli import print_json_line
from order_tracking.local.job import JobSpec, load_job, local_parameters
from order_tracking.local.runner import JobLocked, JobRun, job_lock, run_job
from order_tracking.local.session import (
    LOCAL_CATALOG,
    LONG_SESSION_JAVA_OPTIONS,
    local_spark,
    register_local_tables,
)


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


def _report(run: JobRun, as_json: bool) -> int:
    if as_json:
        print_json_line(run.as_dict())
    elif run.status == "succeeded":
        stage, target = run.tasks.get("orders_stage") or {}, run.tasks.get("orders_target") or {}
        print(
            f"run succeeded in {run.seconds:.1f}s: staged {stage.get('files_staged', 0)} file(s), "
            f"{stage.get('rows_staged', 0)} row(s); quarantined {stage.get('rows_quarantined', 0)}; "
            f"rejected {stage.get('files_rejected', 0)} file(s); target +{target.get('rows_inserted', 0)} "
            f"inserted, {target.get('rows_updated', 0)} updated, {target.get('rows_unchanged', 0)} unchanged"
        )
    else:
        print(f"run FAILED in task {run.failed_task}: {run.error}", file=sys.stderr)
    return 0 if run.status == "succeeded" else 1


def run(args: argparse.Namespace, root: str) -> int:
    spec, parameters = _prepare(args, root)
    try:
        with job_lock(args.warehouse, wait=not args.no_wait):
            spark = local_spark(args.warehouse)
            register_local_tables(spark, args.warehouse, args.schema)
            code = _report(run_job(spark, spec, parameters), args.json)
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
        with job_lock(args.warehouse):
            result = run_job(spark, spec, parameters)
        _report(result, as_json=False)
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
