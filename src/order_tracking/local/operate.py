"""`python -m order_tracking replay|report|upkeep`: replay, the health report and maintenance on the local tables."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from order_tracking.cli import LOCAL
from order_tracking.config import Tables
from order_tracking.health import CHARTS, QUERIES, TITLES
from order_tracking.local.session import LOCAL_CATALOG, local_spark, register_local_tables


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m order_tracking {prog}", description=description)
    parser.add_argument("--warehouse", default=os.path.join(LOCAL, "warehouse"), help="local tables")
    parser.add_argument("--schema", default="orders", help="local schema in spark_catalog")
    return parser


def _spark(args: argparse.Namespace):
    spark = local_spark(args.warehouse)
    register_local_tables(spark, args.warehouse, args.schema)
    return spark


def main_replay(argv: Sequence[str]) -> int:
    parser = _parser("replay", "Send rejected files back into the landing folder under a new name.")
    parser.add_argument("selection", help="name=<file>, batch=<batch id> or reason=<part of the reason>")
    parser.add_argument("--landing", default=os.path.join(LOCAL, "landing"))
    args = parser.parse_args(argv)
    from order_tracking.replay import ReplayRefused, parse_selection, replay_rejected

    try:
        parse_selection(args.selection)
        done = replay_rejected(_spark(args), Tables(LOCAL_CATALOG, args.schema), args.landing, args.selection)
    except ReplayRefused as refused:
        print(f"not replayed: {refused}", file=sys.stderr)
        return 1
    for item in done:
        print(f"{item.original_file_name} (batch {item.original_batch_id}: {item.reason}) -> {item.new_name}")
    print(f"{len(done)} file(s) landed in {args.landing}: the next run stages them")
    return 0


def main_upkeep(argv: Sequence[str]) -> int:
    parser = _parser("upkeep", "The maintenance job on the local tables and archive.")
    parser.add_argument("--archive", default=os.path.join(LOCAL, "archive"))
    parser.add_argument("--stage-retention-days", default="30")
    parser.add_argument("--archive-retention-days", default="90")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    from order_tracking.upkeep import UpkeepConfig, run_upkeep

    config = UpkeepConfig.from_params(
        {
            "catalog": LOCAL_CATALOG,
            "schema": args.schema,
            "archive_path": args.archive,
            "stage_retention_days": args.stage_retention_days,
            "archive_retention_days": args.archive_retention_days,
            "dry_run": str(args.dry_run),
        }
    )
    print(run_upkeep(_spark(args), config).as_dict())
    return 0


def run_health_queries(spark, schema: str) -> dict[str, list[dict]]:
    """Every health query, as the dashboard runs it, against the local tables of `schema`."""
    spark.sql(f"USE {LOCAL_CATALOG}.`{schema}`")
    return {name: [r.asDict() for r in spark.sql(sql).collect()] for name, sql in QUERIES.items()}


def main_report(argv: Sequence[str]) -> int:
    parser = _parser("report", "The health view: per day, files, rows, merges and arrival-to-merge time.")
    parser.add_argument("--png", default=os.path.join(LOCAL, "health.png"), help="where to draw the charts")
    args = parser.parse_args(argv)
    results = run_health_queries(_spark(args), args.schema)
    for name, rows in results.items():
        print_table(TITLES[name], rows)
    draw(results, args.png)
    print(f"charts: {args.png}")
    return 0


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (no rows)")
        return
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  " + "  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))


def chart_series(
    rows: list[dict], x: str, ys: tuple[str, ...], colour: str | None, days: list
) -> dict[str, list[float]]:
    """One chart's series over `days`: a series per y field, or per value of the colour field (its first y field);
    a day without a row counts 0, so a bar is missing only where nothing happened."""
    series: dict[str, dict] = {y: {} for y in ys} if not colour else {}
    for row in rows:
        if colour:
            series.setdefault(str(row[colour])[:40], {})[row[x]] = row[ys[0]] or 0
        else:
            for y in ys:
                series[y][row[x]] = row[y] or 0
    return {label: [float(points.get(day, 0)) for day in days] for label, points in series.items()}


def draw(results: dict[str, list[dict]], path: str) -> None:
    """One chart per dashboard widget, same fields and kind: bars per day (stacked by the colour field where the
    widget has one, side by side otherwise), the arrival-to-merge minutes as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = sorted({row["day"] for rows in results.values() for row in rows})
    positions = list(range(len(days)))
    figure, axes = plt.subplots(3, 2, figsize=(14, 12))
    for ax, (_, dataset, x, ys, colour) in zip(axes.flat, CHARTS, strict=False):
        series = chart_series(results[dataset], x, ys, colour, days)
        ax.set_title(TITLES[dataset], fontsize=10)
        if dataset == "arrival_to_merge":
            for label, values in series.items():
                ax.plot(positions, values, marker="o", markersize=3, label=label)
        elif colour:
            bottom = [0.0] * len(days)
            for label, values in series.items():
                ax.bar(positions, values, bottom=bottom, label=label)
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        else:
            width = 0.8 / max(len(series), 1)
            for i, (label, values) in enumerate(series.items()):
                ax.bar([p + (i - (len(series) - 1) / 2) * width for p in positions], values, width, label=label)
        if series:  # above the bars: headroom for the legend, whatever the data
            ax.set_ylim(top=ax.get_ylim()[1] * (1.25 + 0.1 * len(series)))
            ax.legend(fontsize=7, loc="upper center", ncol=2)
        step = max(1, len(days) // 15)
        ax.set_xticks(positions[::step], [str(day) for day in days[::step]], fontsize=7, rotation=45)
    axes.flat[-1].axis("off")
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=80)
