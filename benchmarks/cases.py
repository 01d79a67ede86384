"""Benchmark cases and their data: a duplicate-free CSV batch from the generator, and a target built in Spark.

A 50M-row target through CSV would take longer to write and parse than every measured step together, so
the target is computed with Spark expressions from the generator's own formulas (`initial_state`, key
scheme, order/carrier/zip): the batch's updates hit real keys of the target, as they would in production.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from order_tracking import generate as gen

SIZES: dict[str, tuple[tuple[int, int], ...]] = {
    "smoke": ((2_000, 6_000),),
    "tiny": ((2_000, 2_000), (2_000, 6_000)),
    "ci": ((100_000, 100_000), (100_000, 500_000)),
    "big": ((1_000_000, 1_000_000), (1_000_000, 10_000_000), (1_000_000, 50_000_000)),
    # Does the merge cost follow the batch or the table? The same batch into a 10x larger target.
    "scale": ((1_000_000, 5_000_000), (1_000_000, 50_000_000)),
}
KEY_MODES = {
    "local": ("local",),
    "local30": ("local30",),
    "random": ("random",),
    "both": ("local", "random"),
    "locals": ("local", "local30"),
}
OLDER_UPDATES_WITHIN_DAYS = {"local30": 30}  # else older updates reach parcels of any age
ROWS_PER_TARGET_FILE = 1_000_000


@dataclass(frozen=True)
class Case:
    """One measurement: a batch of `batch_rows` rows merged into a target of `target_rows` rows."""

    batch_rows: int
    target_rows: int
    keys: str  # "local"/"local30" (recent parcels, sequential keys) or "random" (no locality: the worst case)
    data_dir: str  # benchmarks/data

    @property
    def name(self) -> str:
        return f"{self.keys}_{self.batch_rows}_into_{self.target_rows}"

    @property
    def random_keys(self) -> bool:
        return self.keys == "random"

    @property
    def old_days(self) -> int | None:
        """The 5% of updates outside the last 3 days reach parcels at most this old (None: any age)."""
        return OLDER_UPDATES_WITHIN_DAYS.get(self.keys)

    @property
    def rate(self) -> int:
        """Parcels per day of the generator's plan; the target must be built with the same rate."""
        return gen.Plan(self.target_rows, self.batch_rows).rate

    @property
    def batch_dir(self) -> str:
        """Folder holding the batch CSV file(s): one day of `batch_rows` events, at most one row per key."""
        return os.path.join(self.data_dir, "batches", self.name)

    @property
    def target_parquet(self) -> str:
        """The target's rows as parquet, all columns strings as in the CSV; reused across runs."""
        layout = "random" if self.random_keys else "local"  # the same parcels whatever the age of older updates
        return os.path.join(self.data_dir, "targets", f"{layout}_{self.target_rows}_rate{self.rate}")

    @property
    def work_dir(self) -> str:
        """Scratch space for this case's tables; emptied before the case runs."""
        return os.path.join(self.data_dir, "work", self.name)

    def csv_files(self) -> list[str]:
        return sorted(os.path.join(self.batch_dir, f) for f in os.listdir(self.batch_dir) if f.endswith(".csv"))


def cases_for(sizes: str, keys: str, data_dir: str) -> list[Case]:
    return [Case(b, t, k, data_dir) for k in KEY_MODES[keys] for b, t in SIZES[sizes]]


def target_frame(spark: SparkSession, parcels: int, rate: int, random_keys: bool, start_epoch: int) -> DataFrame:
    """Parcels 1..parcels in their initial state: the Spark twin of `generate.initial_state` and `_Lines.line`."""
    partitions = max(1, -(-parcels // ROWS_PER_TARGET_FILE))
    issued = f"(-(((CAST({parcels} AS BIGINT) - id + 1) * {gen.DAY}) div {rate}))"
    steps = f"least({gen.DELIVERED}, (-{issued}) div {gen.STEP_SECONDS})"
    status = (
        f"CASE WHEN id % 89 = 0 AND {steps} < {gen.DELIVERED} THEN {gen.EXCEPTION} "
        f"WHEN id % 97 = 0 AND {steps} = {gen.DELIVERED} THEN {gen.RETURNED} ELSE {steps} END"
    )
    key = f"pmod(id * {gen.PERM_A} + {gen.PERM_B}, {gen.PERM_M})" if random_keys else "id"
    statuses = ", ".join(f"'{s}'" for s in gen.STATUSES)
    carriers = ", ".join(f"'{c}'" for c in gen.CARRIERS)
    ts = f"timestamp_seconds({start_epoch} + {issued} + {steps} * {gen.STEP_SECONDS})"
    return spark.range(1, parcels + 1, numPartitions=partitions).select(
        F.expr(f"format_string('TRK%09d', {key})").alias("tracking_num"),
        F.expr("format_string('ORD%09d', (id * 4) div 5 + 1)").alias("order_id"),
        F.expr(f"element_at(array({statuses}), CAST({status} AS INT) + 1)").alias("status"),
        F.expr(f"date_format({ts}, \"yyyy-MM-dd'T'HH:mm:ss'Z'\")").alias("status_ts"),
        F.expr(f"element_at(array({carriers}), CAST(id % 5 AS INT) + 1)").alias("carrier"),
        F.expr("format_string('%05d', (id * 7919) % 100000)").alias("destination_zip"),
    )


def start_epoch() -> int:
    start = gen.Plan(0, 0).start
    return int((start - start.replace(year=1970, month=1, day=1)).total_seconds())


def prepare(spark: SparkSession, case: Case) -> None:
    """Write the case's batch CSV and (unless cached) its target parquet; empty its work folder."""
    shutil.rmtree(case.work_dir, ignore_errors=True)
    os.makedirs(case.work_dir)
    shutil.rmtree(case.batch_dir, ignore_errors=True)
    gen.generate(
        case.batch_dir,
        parcels=case.target_rows,
        days=1,
        events_per_day=case.batch_rows,
        duplicate_free=True,
        write_initial=False,
        random_keys=case.random_keys,
        old_days=case.old_days,
    )
    if not os.path.exists(os.path.join(case.target_parquet, "_SUCCESS")):
        frame = target_frame(spark, case.target_rows, case.rate, case.random_keys, start_epoch())
        frame.write.mode("overwrite").parquet(case.target_parquet)
