"""`python -m benchmarks.run`: the pipeline, the seed approach, plain Spark and delta-rs, side by side.

One Spark session (local[2]) for the whole run; every case gets freshly generated data and its own schema.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence

from pyspark.sql import SparkSession

from benchmarks import baselines, cases, fixed_cost, report
from benchmarks.measure import RssMonitor, machine_facts
from benchmarks.pipeline_case import run_pipeline_case
from order_tracking.local.session import create_local_schema

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS_PER_SHUFFLE_PARTITION = 2_000_000
NOTES = (
    "Every approach gets the same duplicate-free batch (at most one row per key: the seed approach's MERGE "
    "fails on duplicates) and a target with the same rows; the batch's updates hit existing keys.",
    "local keys: sequential TRK numbers, updates mostly for parcels issued in the last 3 days (5% for any older "
    "parcel); local30 keys: the same, but those 5% concern parcels issued in the last 30 days; random keys: "
    "keys scattered over the key space, updates uniform over all parcels.",
    "Timed spans hold only the step named; building each approach's copy of the target is outside them. "
    "Spark timings are after a warm-up case in the same session; one run each: single steps varied by up to ~3x between runs on the 2-core VM, so compare within a run.",
    "Peak RSS is sampled every 0.2 s: JVM = the java processes this run started; Python = this process, "
    "where pyarrow and delta-rs run.",
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    p.add_argument("--sizes", choices=sorted(cases.SIZES), default="ci")
    p.add_argument("--keys", choices=sorted(cases.KEY_MODES), default="both")
    p.add_argument("--driver-memory", default="8g")
    p.add_argument("--data-dir", default=os.path.join(HERE, "data"), help="scratch data (git-ignored)")
    p.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    p.add_argument("--name", help="results file name (default: the size name)")
    p.add_argument("--skip", action="append", default=[], choices=("pipeline", "seed", "plain", "deltars"))
    p.add_argument("--max-target", type=int, help="only the cases whose target has at most this many rows")
    p.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="skip the untimed warm-up case")
    p.add_argument(
        "--target-feed",
        choices=("on", "off"),
        default="on",
        help="the pipeline target's change data feed: on as the pipeline creates it, off to compare like for like",
    )
    p.add_argument("--keep-data", action="store_true", help="keep each case's tables after it ran")
    p.add_argument(
        "--fixed-cost-runs",
        type=int,
        default=7,
        help="warm runs on a two-row file, measured after the warm-up (0: none)",
    )
    return p.parse_args(argv)


def start_spark(data_dir: str, driver_memory: str) -> SparkSession:
    from order_tracking.local.session import local_spark

    return local_spark(
        os.path.join(data_dir, "warehouse"),
        app_name="order-tracking-bench",
        driver_memory=driver_memory,
        short_runs=False,
    )


def run_case(
    spark: SparkSession, case: cases.Case, skip: Sequence[str], monitor: RssMonitor, *, change_data_feed: bool = True
) -> report.Result:
    """Prepare the data, then run every approach once on it."""
    partitions = max(2, -(-(case.target_rows + case.batch_rows) // ROWS_PER_SHUFFLE_PARTITION))
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    began = time.perf_counter()
    cases.prepare(spark, case)
    result: report.Result = {
        "name": case.name,
        "batch_rows": case.batch_rows,
        "target_rows": case.target_rows,
        "keys": case.keys,
        "prepare_s": time.perf_counter() - began,
        "shuffle_partitions": partitions,
    }
    schema = f"bench_{case.name}"
    create_local_schema(spark, schema, os.path.join(case.work_dir, "db"))
    monitor.take_peaks()
    if "pipeline" not in skip:
        try:
            result.update(run_pipeline_case(spark, case, change_data_feed=change_data_feed))
        except NotImplementedError:
            result["pipeline"] = "pending"
    if "seed" not in skip:
        result.update(baselines.seed_approach(spark, case, f"`{schema}`", os.path.join(case.work_dir, "db")))
    if "plain" not in skip:
        result.update(baselines.plain_spark(spark, case))
    if "deltars" not in skip:
        result.update(baselines.delta_rs(case))
    result.update(monitor.take_peaks())
    spark.sql(f"DROP SCHEMA IF EXISTS `{schema}` CASCADE")
    return report.with_totals(result)


def main(argv: Sequence[str] | None = None, spark: SparkSession | None = None) -> list[report.Result]:
    """Run the benchmark; pass `spark` to reuse a session (tests), else one is started and stopped here."""
    args = parse_args(argv)
    data_dir = os.path.abspath(args.data_dir)
    for scratch in ("work", "batches", "warehouse"):
        shutil.rmtree(os.path.join(data_dir, scratch), ignore_errors=True)
    own_session = spark is None
    feed = args.target_feed == "on"
    load_before = tuple(round(x, 2) for x in os.getloadavg())  # other work on the machine skews every figure
    with RssMonitor() as monitor:
        spark = spark or start_spark(data_dir, args.driver_memory)
        partitions = spark.conf.get("spark.sql.shuffle.partitions")
        try:
            if args.warm_up:  # JIT, class loading and code generation at a real size, so no case pays for them
                warm_up = cases.SIZES["tiny" if args.sizes in ("smoke", "tiny") else "ci"][0]
                run_case(spark, cases.Case(*warm_up, "random", data_dir), args.skip, monitor, change_data_feed=feed)
            fixed = None
            if args.fixed_cost_runs:
                print("running the warm runs on a two-row file ...", flush=True)
                fixed = fixed_cost.measure(spark, os.path.join(data_dir, "work", "fixed_cost"), args.fixed_cost_runs)
            results = []
            chosen = cases.cases_for(args.sizes, args.keys, data_dir)
            for case in [c for c in chosen if args.max_target is None or c.target_rows <= args.max_target]:
                print(f"running {case.name} ...", flush=True)
                results.append(run_case(spark, case, args.skip, monitor, change_data_feed=feed))
                if not args.keep_data:
                    shutil.rmtree(case.work_dir, ignore_errors=True)
            facts = {
                **machine_facts(spark.version, args.driver_memory),
                "load_average_at_start": load_before,
                "pipeline_target_change_data_feed": args.target_feed,
                "run_peak_rss_mib": monitor.run_peaks(),
            }
        finally:
            spark.conf.set("spark.sql.shuffle.partitions", partitions)
            if own_session:
                spark.stop()
    print(report.write(results, facts, NOTES, args.out_dir, args.name or args.sizes, fixed))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
