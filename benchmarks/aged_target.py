"""`python -m benchmarks.aged_target`: what maintenance of the target would change in merge time.

A target as months of merges leave it: its rows spread over many small files (`--files`), and deletion vectors
on most of them from scattered update MERGEs (`--update-merges`). Three copies of that table: as it is, after
`OPTIMIZE`, after `OPTIMIZE ZORDER BY (tracking_num)`. The same batch is staged beside each copy (untimed) and
the pipeline's merge task timed on it, copies in rotating order, `--rounds` times on fresh copies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence

from pyspark.sql import SparkSession

from benchmarks import cases
from benchmarks.measure import machine_facts
from benchmarks.pipeline_case import land_batch, seed_target, stage_config
from order_tracking.config import Tables, TargetConfig
from order_tracking.local.counting import CostCounter
from order_tracking.local.session import LOCAL_CATALOG, create_local_schema
from order_tracking.merge import merge_pending
from order_tracking.stage import stage_new_files
from order_tracking.tables import ensure_stage_tables, sql_string

HERE = os.path.dirname(os.path.abspath(__file__))
MAINTENANCE = {"aged": None, "optimized": "OPTIMIZE {t}", "zordered": "OPTIMIZE {t} ZORDER BY (tracking_num)"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.aged_target", description=__doc__)
    p.add_argument("--target-rows", type=int, default=1_000_000)
    p.add_argument("--batch-rows", type=int, default=100_000)
    p.add_argument("--keys", choices=("local", "random"), default="local")
    p.add_argument("--files", type=int, default=200, help="small files the aged target's rows are spread over")
    p.add_argument("--update-merges", type=int, default=4, help="scattered update MERGEs (deletion vectors)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data-dir", default=os.path.join(HERE, "data"))
    p.add_argument("--out", default=os.path.join(HERE, "results", "aged_target.json"))
    return p.parse_args(argv)


def age(spark: SparkSession, target: str, files: int, update_merges: int) -> None:
    """Spread the rows over `files` files, then update a scattered 1% of the parcels `update_merges` times."""
    spark.table(target).repartition(files).write.format("delta").mode("overwrite").saveAsTable(target)
    for merge in range(update_merges):
        spark.sql(
            f"MERGE INTO {target} t USING (SELECT tracking_num FROM {target} WHERE "
            f"pmod(hash(tracking_num, {merge}), 100) = 0) s ON t.tracking_num = s.tracking_num "
            f"WHEN MATCHED THEN UPDATE SET t.status = {sql_string(f'Aged {merge}')}"
        )


def table_facts(spark: SparkSession, table: str) -> dict[str, int]:
    detail = spark.sql(f"DESCRIBE DETAIL {table}").first()
    return {"files": detail["numFiles"], "bytes": detail["sizeInBytes"]}


def copy_schema(spark: SparkSession, source_dir: str, schema: str, dest_dir: str) -> None:
    """A second schema holding a copy of every table folder in `source_dir` (Delta paths are relative)."""
    shutil.copytree(source_dir, dest_dir)
    create_local_schema(spark, schema, dest_dir)
    for table in sorted(os.listdir(dest_dir)):
        path = os.path.join(dest_dir, table)
        spark.sql(f"CREATE TABLE {LOCAL_CATALOG}.`{schema}`.`{table}` USING DELTA LOCATION {sql_string(path)}")


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    from benchmarks.run import start_spark

    data_dir = os.path.abspath(args.data_dir)
    work = os.path.join(data_dir, "work", "aged_target")
    shutil.rmtree(work, ignore_errors=True)
    spark = start_spark(data_dir, "8g")
    spark.conf.set("spark.sql.shuffle.partitions", "2")
    case = cases.Case(args.batch_rows, args.target_rows, args.keys, data_dir)
    try:
        cases.prepare(spark, case)
        aged_dir = os.path.join(work, "aged_db")
        create_local_schema(spark, "aged", aged_dir)
        aged = Tables(LOCAL_CATALOG, "aged")
        ensure_stage_tables(spark, aged)
        seed_target(spark, case, aged)
        began = time.perf_counter()
        age(spark, aged.target, args.files, args.update_merges)
        print(f"aged the target in {time.perf_counter() - began:.1f} s", flush=True)
        timings: dict[str, list[float]] = {name: [] for name in MAINTENANCE}
        facts: dict[str, dict] = {}
        for round_ in range(args.rounds):
            order = list(MAINTENANCE)[round_ % 3 :] + list(MAINTENANCE)[: round_ % 3]
            for name in order:
                schema, root = f"{name}_{round_}", os.path.join(work, f"{name}_{round_}")
                copy_schema(spark, aged_dir, schema, os.path.join(root, "db"))
                tables = Tables(LOCAL_CATALOG, schema)
                if MAINTENANCE[name]:
                    began = time.perf_counter()
                    spark.sql(MAINTENANCE[name].format(t=tables.target))
                    facts.setdefault(name, {})["maintenance_s"] = time.perf_counter() - began
                facts.setdefault(name, {}).update(table_facts(spark, tables.target))
                land_batch(case, os.path.join(root, "landing"))
                stage_new_files(spark, stage_config(tables, root))
                counter = CostCounter(spark, os.path.join(root, "db"))
                with counter.span() as cost:
                    merged = merge_pending(spark, TargetConfig(tables))
                timings[name].append(cost.seconds)
                facts[name]["merge_jobs"] = cost.jobs
                print(
                    f"round {round_} {name}: merge {cost.seconds:.2f} s, {merged.rows_updated:,} updated, "
                    f"{merged.rows_inserted:,} inserted",
                    flush=True,
                )
                spark.sql(f"DROP SCHEMA {LOCAL_CATALOG}.`{schema}` CASCADE")
                shutil.rmtree(root, ignore_errors=True)
        result = {
            "case": case.name,
            "files": args.files,
            "update_merges": args.update_merges,
            "merge_seconds": timings,
            "median_merge_seconds": {k: statistics.median(v) for k, v in timings.items()},
            "tables": facts,
            "machine": machine_facts(spark.version, "8g"),
            "load_average_after": os.getloadavg(),
        }
    finally:
        spark.stop()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, default=str)
    print(json.dumps({k: result[k] for k in ("median_merge_seconds", "tables")}, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
