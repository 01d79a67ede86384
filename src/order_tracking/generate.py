"""Deterministic, realistic order-tracking CSV files for demos, tests and benchmarks (stdlib only).

Parcel `c` (a counter issued in sequence) has a key, order, carrier and zip that are pure functions of `c`,
and an initial state that is a pure function of `c` and the plan; the benchmarks rebuild big targets with
the same formulas in Spark instead of parsing CSV. Daily files then carry status events, mostly for parcels
issued in the last `locality_days` days, as a real carrier feed does.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta, timezone

HEADER = ("tracking_num", "order_id", "status", "status_ts", "carrier", "destination_zip")
STATUSES = ("Created", "Picked", "Shipped", "InTransit", "OutForDelivery", "Delivered", "Returned", "Exception")
DELIVERED, RETURNED, EXCEPTION = 5, 6, 7
# Next status per status; an Exception goes back out for delivery, a delivered parcel can only come back.
NEXT_STATUS = (1, 2, 3, 4, 5, RETURNED, RETURNED, 4)
CARRIERS = ("UPS", "FedEx", "DHL", "USPS", "GLS")
STEP_SECONDS = 57_600  # an initial parcel advances one status every 16 h of age
# Random keys: c -> (c * A + B) mod M is a bijection on [0, M) because A is coprime to M, so keys stay unique.
PERM_A, PERM_B, PERM_M = 387_420_489, 12_345_679, 10**9
CHUNK_ROWS = 1_000_000
BAD_TIMESTAMPS = ("not-a-timestamp", "2026-13-45T25:61:00Z", "yesterday 8am")
DAY = 86_400


@dataclass(frozen=True)
class Plan:
    """Every knob of one generation run; see `generate` for their meaning."""

    parcels: int
    events_per_day: int
    seed: int = 42
    update_share: float = 0.7
    duplicate_share: float = 0.05
    late_share: float = 0.02
    bad_row_share: float = 0.0
    locality_days: int = 3
    old_share: float = 0.05
    old_days: int | None = None
    files_per_day: int = 1
    start: date = date(2026, 11, 1)
    random_keys: bool = False
    duplicate_free: bool = False
    write_initial: bool = True
    key_prefix: str = "TRK"

    @property
    def rate(self) -> int:
        """Parcels issued per day; the initial parcels are spread back in time at this rate."""
        new_per_day = round(self.events_per_day * (1 - self.update_share))
        return max(1, new_per_day if self.events_per_day else self.parcels)


@dataclass(frozen=True)
class GenerateReport:
    """What was written, and the state a correct pipeline must end with (`final_parcels` distinct keys)."""

    files: tuple[str, ...]
    rows: int
    initial_rows: int
    events: int
    new_parcels: int
    updates: int
    duplicates: int
    late: int
    bad_rows: int
    final_parcels: int
    bytes: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def initial_state(c: int, parcels: int, rate: int) -> tuple[int, int]:
    """(status index, status_ts in seconds from `start`) of parcel `c` in the initial file: older is further on."""
    issued = -(((parcels - c + 1) * DAY) // rate)
    steps = min(DELIVERED, -issued // STEP_SECONDS)
    status = steps
    if c % 89 == 0 and steps < DELIVERED:
        status = EXCEPTION
    elif c % 97 == 0 and steps == DELIVERED:
        status = RETURNED
    return status, issued + steps * STEP_SECONDS


class _Lines:
    """Formats CSV lines by hand: none of our values needs quoting, and csv.writer plus strftime per row
    would cost more than all the rest of the generator."""

    def __init__(self, plan: Plan) -> None:
        self.start = datetime(plan.start.year, plan.start.month, plan.start.day, tzinfo=timezone.utc)
        self.random_keys = plan.random_keys
        self.template = plan.key_prefix.replace("%", "%%") + "%09d,ORD%09d,%s,%s%s,%s,%05d\n"
        self.days: dict[int, str] = {}
        self.hms = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]

    def day_prefix(self, day: int) -> str:
        prefix = self.days.get(day)
        if prefix is None:
            prefix = self.days[day] = (self.start + timedelta(days=day)).strftime("%Y-%m-%dT")
        return prefix

    def line(self, c: int, status: int, ts: int) -> str:
        day, rest = divmod(ts, DAY)
        key = (c * PERM_A + PERM_B) % PERM_M if self.random_keys else c
        prefix = self.days.get(day) or self.day_prefix(day)
        zip_code = (c * 7919) % 100_000
        return self.template % (
            key,
            (c * 4) // 5 + 1,
            STATUSES[status],
            prefix,
            self.hms[rest],
            CARRIERS[c % 5],
            zip_code,
        )


def _write(path: str, lines: Iterable[str]) -> int:
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(",".join(HEADER) + "\n")
        f.writelines(lines)
    return os.path.getsize(path)


def _corrupt(line: str, rng: random.Random) -> str:
    """A blank key, an unparseable status_ts, or a wrong field count."""
    fields_ = line.rstrip("\n").split(",")
    kind = rng.randrange(3)
    if kind == 0:
        fields_[0] = ""
    elif kind == 1:
        fields_[3] = rng.choice(BAD_TIMESTAMPS)
    elif rng.random() < 0.5:
        fields_.pop()
    else:
        fields_.append("extra")
    return ",".join(fields_) + "\n"


def _sample(rnd: Callable[[], float], lo: int, hi: int, k: int) -> list[int]:
    """Up to `k` distinct ints from [lo, hi) in random order; random() is 3x cheaper than random.sample's randbelow."""
    n, k = hi - lo, min(k, hi - lo)
    if k * 4 < n:  # sparse: rejection is cheaper than materialising the range
        chosen: set[int] = set()
        while len(chosen) < k:
            chosen.add(lo + int(rnd() * n))
        return sorted(chosen, key=lambda _: rnd())
    pool = list(range(lo, hi))
    for i in range(k):  # partial Fisher-Yates
        j = i + int(rnd() * (n - i))
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


class _Generator:
    """The plan plus the state of the parcels touched so far; untouched parcels are in their initial state."""

    def __init__(self, plan: Plan) -> None:
        self.plan, self.rng, self.lines = plan, random.Random(plan.seed), _Lines(plan)
        self.issued, self.rate = plan.parcels, plan.rate
        self.touched: dict[int, tuple[int, int]] = {}

    def initial_lines(self, lo: int, hi: int) -> list[str]:
        line, parcels, rate = self.lines.line, self.plan.parcels, self.rate
        return [line(c, *initial_state(c, parcels, rate)) for c in range(lo, hi)]

    def pick_updates(self, count: int) -> list[int]:
        """Distinct existing parcels: mostly recent ones (key locality), `old_share` older (of any age, or issued
        within the last `old_days` days: returns and delayed parcels, not parcels delivered months ago)."""
        rng, issued, plan = self.rng, self.issued, self.plan
        if plan.random_keys:
            return _sample(rng.random, 1, issued + 1, count)
        lo = max(1, issued - plan.locality_days * self.rate + 1)
        oldest = 1 if plan.old_days is None else max(1, issued - plan.old_days * self.rate + 1)
        old = min(count - min(round(count * (1 - plan.old_share)), issued - lo + 1), max(0, lo - oldest))
        recent = min(count - old, issued - lo + 1)
        return _sample(rng.random, lo, issued + 1, recent) + _sample(rng.random, oldest, lo, old)

    def day(self, day: int) -> tuple[list[str], dict[str, int]]:
        """One day's event lines: updates (the first `late` of them from a late file), new parcels, duplicates."""
        plan, rnd, line, touched = self.plan, self.rng.random, self.lines.line, self.touched
        n, base = plan.events_per_day, day * DAY
        n_dup = 0 if plan.duplicate_free else round(n * plan.duplicate_share)
        updates = self.pick_updates(round((n - n_dup) * plan.update_share))
        n_new, n_late = (
            n - n_dup - len(updates),
            0 if plan.duplicate_free else min(len(updates), round(n * plan.late_share)),
        )
        out = []
        for i, c in enumerate(updates):
            status, last = touched.get(c) or initial_state(c, plan.parcels, self.rate)
            if i < n_late:  # older than what the target already holds, so it must not win
                out.append(line(c, max(0, min(status, DELIVERED) - 1), last - 3600 - int(rnd() * DAY)))
                continue
            status = EXCEPTION if status < DELIVERED and rnd() < 0.02 else NEXT_STATUS[status]
            touched[c] = state = (status, max(base + int(rnd() * DAY), last + 60))
            out.append(line(c, *state))
        for c in range(self.issued + 1, self.issued + n_new + 1):
            touched[c] = state = (0, base + int(rnd() * DAY))
            out.append(line(c, *state))
        batch_keys = updates + list(range(self.issued + 1, self.issued + n_new + 1))
        self.issued += n_new
        for c in self.rng.sample(batch_keys, min(n_dup, len(batch_keys))):  # a second, later event in the batch
            status, last = touched.get(c) or initial_state(c, plan.parcels, self.rate)
            touched[c] = state = (NEXT_STATUS[status], last + 60 + int(rnd() * 7200))
            out.append(line(c, *state))
        counts = {"new_parcels": n_new, "updates": len(updates), "late": n_late}
        return out, {**counts, "duplicates": len(out) - len(batch_keys)}


def _with_bad_rows(lines: list[str], share: float, rng: random.Random) -> tuple[list[str], int]:
    """Mix corrupted copies of real rows in at random places so that about `share` of all rows are bad."""
    n_bad = round(len(lines) * share / (1 - share)) if lines and 0 < share < 1 else 0
    if not n_bad:
        return lines, 0
    bad = sorted((rng.randrange(len(lines) + 1), _corrupt(rng.choice(lines), rng)) for _ in range(n_bad))
    out: list[str] = []
    prev = 0
    for pos, line in bad:
        out.extend(lines[prev:pos])
        out.append(line)
        prev = pos
    out.extend(lines[prev:])
    return out, n_bad


def generate(
    out_dir: str,
    *,
    parcels: int,
    days: int,
    events_per_day: int,
    seed: int = 42,
    update_share: float = 0.7,
    duplicate_share: float = 0.05,
    late_share: float = 0.02,
    bad_row_share: float = 0.0,
    locality_days: int = 3,
    files_per_day: int = 1,
    start: date = date(2026, 11, 1),
    **options: object,
) -> GenerateReport:
    """Write `initial.csv` (one row per existing parcel; `initial_NNN.csv` chunks when large) and `days` files
    `day_NNNN.csv` (`day_NNNN_PP.csv` with `files_per_day` > 1) of `events_per_day` events each into `out_dir`.

    Further `options` are the other `Plan` fields: `random_keys` (no locality, the benchmarks' worst case),
    `duplicate_free` (one row per key per file, no late or bad rows: all the old MERGE-only approach can
    digest), `old_share` (updates for parcels older than the locality window), `old_days` (those older parcels
    were issued within the last `old_days` days; default any age), `write_initial=False` (the
    parcels exist but their file is not written: the benchmarks build them in Spark), `key_prefix`.
    """
    plan = Plan(
        parcels,
        events_per_day,
        seed,
        update_share,
        duplicate_share,
        late_share,
        bad_row_share,
        locality_days,
        start=start,
        files_per_day=files_per_day,
        **options,
    )  # type: ignore[arg-type]
    began, collecting = time.perf_counter(), gc.isenabled()
    gc.disable()  # millions of short-lived tuples and no cycles: the collector would only cost time (~25%)
    try:
        return _generate(out_dir, plan, days, began)
    finally:
        if collecting:
            gc.enable()


def _generate(out_dir: str, plan: Plan, days: int, began: float) -> GenerateReport:
    os.makedirs(out_dir, exist_ok=True)
    parcels, files_per_day = plan.parcels, plan.files_per_day
    g = _Generator(plan)
    files: list[str] = []
    size = rows = 0
    totals = dict.fromkeys(("new_parcels", "updates", "duplicates", "late", "bad_rows"), 0)
    initial_rows = parcels if plan.write_initial else 0
    chunks = range(1, initial_rows + 1, CHUNK_ROWS)
    for n, lo in enumerate(chunks, 1):
        files.append(os.path.join(out_dir, "initial.csv" if len(chunks) == 1 else f"initial_{n:03d}.csv"))
        size += _write(files[-1], g.initial_lines(lo, min(lo + CHUNK_ROWS, parcels + 1)))
    for day in range(1, days + 1):
        lines, counts = g.day(day - 1)
        lines, counts["bad_rows"] = _with_bad_rows(lines, 0.0 if plan.duplicate_free else plan.bad_row_share, g.rng)
        totals = {k: v + counts[k] for k, v in totals.items()}
        rows += len(lines)
        per_file = -(-len(lines) // files_per_day)
        for part in range(files_per_day):
            name = f"day_{day:04d}.csv" if files_per_day == 1 else f"day_{day:04d}_{part + 1:02d}.csv"
            files.append(os.path.join(out_dir, name))
            size += _write(files[-1], lines[part * per_file : (part + 1) * per_file])
    return GenerateReport(
        tuple(files),
        initial_rows + rows,
        initial_rows,
        rows - totals["bad_rows"],
        final_parcels=g.issued,
        bytes=size,
        seconds=time.perf_counter() - began,
        **totals,
    )


def main_generate(argv: Sequence[str] | None = None) -> int:
    """`python -m order_tracking generate ...`: write the files and print the report as one JSON line."""
    p = argparse.ArgumentParser(prog="order_tracking generate", description="Write order-tracking CSV files.")
    p.add_argument("--out", required=True)
    for f in fields(Plan):
        flag = "--no-initial" if f.name == "write_initial" else "--" + f.name.replace("_", "-")
        if f.type == "bool":
            p.add_argument(flag, action="store_false" if f.default else "store_true", dest=f.name)
        else:
            kind = {"int": int, "float": float, "date": date.fromisoformat}.get(f.type, str)
            p.add_argument(flag, type=kind, default=f.default, required=f.name in ("parcels", "events_per_day"))
    p.add_argument("--days", type=int, required=True)
    args = vars(p.parse_args(argv))
    report = generate(args.pop("out"), **args)
    print(json.dumps({**asdict(report), "files": len(report.files), "rows_per_second": round(report.rows_per_second)}))
    return 0
