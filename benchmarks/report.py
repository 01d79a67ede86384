"""Turns measurements into the results table (markdown + JSON) and the merge-time plot."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from order_tracking.local.counting import CPU_GROUP_NAMES, JOB_KIND_NAMES

Result = dict[str, object]

# (column key, heading); every timing is for one batch of `batch_rows` rows.
TIMINGS = (
    ("pipeline_stage_s", "pipeline stage"),
    ("pipeline_merge_s", "pipeline merge"),
    ("seed_stage_s", "seed stage"),
    ("seed_merge_s", "seed merge"),
    ("plain_csv_to_parquet_s", "plain CSV->parquet"),
    ("plain_csv_to_delta_s", "plain CSV->Delta"),
    ("plain_full_rewrite_s", "plain full rewrite"),
    ("pyarrow_csv_s", "pyarrow CSV parse"),
    ("deltars_merge_s", "delta-rs merge"),
)
RATIOS = (
    ("pipeline stage / plain CSV->parquet", "pipeline_stage_s", "plain_csv_to_parquet_s"),
    ("seed stage / plain CSV->parquet", "seed_stage_s", "plain_csv_to_parquet_s"),
    ("plain CSV->Delta / plain CSV->parquet", "plain_csv_to_delta_s", "plain_csv_to_parquet_s"),
    ("pipeline stage / plain CSV->Delta", "pipeline_stage_s", "plain_csv_to_delta_s"),
    ("pipeline merge / full rewrite", "pipeline_merge_s", "plain_full_rewrite_s"),
    ("seed merge / full rewrite", "seed_merge_s", "plain_full_rewrite_s"),
    ("pipeline / seed (stage+merge)", "pipeline_total_s", "seed_total_s"),
    ("pipeline merge / delta-rs merge", "pipeline_merge_s", "deltars_merge_s"),
    ("seed merge / delta-rs merge", "seed_merge_s", "deltars_merge_s"),
)
MERGES = (
    ("pipeline_merge_s", "pipeline merge"),
    ("seed_merge_s", "seed merge (Delta MERGE)"),
    ("plain_full_rewrite_s", "plain Spark full rewrite"),
    ("deltars_merge_s", "delta-rs merge"),
)


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def with_totals(result: Result) -> Result:
    for who in ("pipeline", "seed"):
        stage, merge = _num(result.get(f"{who}_stage_s")), _num(result.get(f"{who}_merge_s"))
        result[f"{who}_total_s"] = stage + merge if stage is not None and merge is not None else None
    return result


def ratio(result: Result, top: str, bottom: str) -> float | None:
    a, b = _num(result.get(top)), _num(result.get(bottom))
    return a / b if a is not None and b else None


def scaling(results: Sequence[Result]) -> list[tuple[str, str, float | None]]:
    """Merge time at the largest target over merge time at the smallest, per key mode and batch size."""
    rows = []
    for keys in sorted({str(r["keys"]) for r in results}):
        for batch in sorted({int(r["batch_rows"]) for r in results if r["keys"] == keys}):  # type: ignore[arg-type]
            group = sorted(
                (r for r in results if r["keys"] == keys and r["batch_rows"] == batch),
                key=lambda r: int(r["target_rows"]),
            )  # type: ignore[arg-type]
            if len(group) < 2:
                continue
            small, large = group[0], group[-1]
            label = (
                f"{keys} keys, batch {batch:,}: target {int(large['target_rows']):,} vs {int(small['target_rows']):,}"  # type: ignore[arg-type]
            )
            rows += [(label, name, ratio({"a": large.get(k), "b": small.get(k)}, "a", "b")) for k, name in MERGES]
    return rows


def _cell(value: object, digits: int = 2) -> str:
    number = _num(value)
    return "pending" if number is None else f"{number:.{digits}f}"


def _rate(rows: int, seconds: object) -> str:
    number = _num(seconds)
    return "pending" if not number else f"{rows / number:,.0f}"


COST_TASKS = (
    ("pipeline_stage", "pipeline stage"),
    ("pipeline_merge", "pipeline merge"),
    ("seed_stage", "seed stage"),
    ("seed_merge", "seed merge"),
)


def _cost_table(results: Sequence[Result]) -> list[str]:
    """Spark jobs / Delta commits / tables whose snapshot was rebuilt, per task and case: exact on any machine."""
    heads = " | ".join(name for _, name in COST_TASKS)
    lines = ["", "## Spark jobs / Delta commits / snapshots rebuilt, per task", "", f"| case | {heads} |"]
    lines.append("|" + "---|" * (len(COST_TASKS) + 1))
    for r in results:
        cells = [
            " / ".join(_cell(r.get(f"{task}_{what}"), 0) for what in ("jobs", "commits", "snapshots"))
            for task, _ in COST_TASKS
        ]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return lines


def fixed_cost_markdown(fixed: dict[str, dict]) -> list[str]:
    """The warm run on a two-row file (`benchmarks.fixed_cost`)."""
    lines = ["", "## A warm run on a two-row file (median of the runs)", ""]
    lines += ["| task | seconds | Spark jobs | Delta commits | snapshots rebuilt |", "|---|---|---|---|---|"]
    for task, name in COST_TASKS:
        cost = fixed[task]
        counts = " | ".join(_cell(cost[what], 0) for what in ("jobs", "commits", "snapshots"))
        lines.append(f"| {name} | {_cell(cost['s'])} | {counts} |")
    both = {who: fixed[f"{who}_stage"]["s"] + fixed[f"{who}_merge"]["s"] for who in ("pipeline", "seed")}
    jobs = {who: fixed[f"{who}_stage"]["jobs"] + fixed[f"{who}_merge"]["jobs"] for who in ("pipeline", "seed")}
    lines.append(f"| pipeline, both tasks | {_cell(both['pipeline'])} | {_cell(jobs['pipeline'], 0)} | | |")
    lines.append(f"| seed, both tasks | {_cell(both['seed'])} | {_cell(jobs['seed'], 0)} | | |")
    return lines + _jobs_by_kind_table(fixed) + _jvm_cpu_table(fixed)


def _jobs_by_kind_table(fixed: dict[str, dict]) -> list[str]:
    """The same median runs' Spark jobs by what started them (`order_tracking.local.counting.job_kinds`)."""
    by_task = {task: fixed[task].get("jobs_by_kind") for task, _ in COST_TASKS}
    if not all(isinstance(counts, dict) for counts in by_task.values()):
        return []  # results written before the kinds were counted
    used = [kind for kind in JOB_KIND_NAMES if any(counts.get(kind) for counts in by_task.values())]
    lines = ["", "Spark jobs by kind, same runs:", "", "| task | " + " | ".join(used) + " |"]
    lines.append("|" + "---|" * (len(used) + 1))
    for task, name in COST_TASKS:
        lines.append(f"| {name} | " + " | ".join(str(by_task[task].get(kind, 0)) for kind in used) + " |")
    return lines


def _jvm_cpu_table(fixed: dict[str, dict]) -> list[str]:
    """The JVM's CPU seconds by kind of thread, median of the runs (`order_tracking.local.counting`)."""
    if not all(fixed[task].get("jvm_cpu") for task, _ in COST_TASKS):
        return []  # not measured: not Linux, or results written before it was
    lines = ["", "JVM CPU seconds by thread, median of the runs (both cores count):", ""]
    lines += [
        "| task | seconds | JVM CPU | " + " | ".join(CPU_GROUP_NAMES) + " |",
        "|" + "---|" * (len(CPU_GROUP_NAMES) + 3),
    ]
    for task, name in COST_TASKS:
        cpu = fixed[task]["jvm_cpu"]
        cells = " | ".join(_cell(cpu[group]) for group in CPU_GROUP_NAMES)
        lines.append(f"| {name} | {_cell(fixed[task]['s'])} | {_cell(cpu['total'])} | {cells} |")
    return lines


def markdown(
    results: Sequence[Result],
    facts: dict[str, object],
    notes: Sequence[str],
    fixed: dict[str, dict] | None = None,
) -> str:
    heads = " | ".join(h for _, h in TIMINGS)
    lines = ["# Benchmark results", "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines += [
        "",
        "## Seconds per batch (wall clock, one run each)",
        "",
        f"| case | batch rows | target rows | keys | {heads} | JVM peak RSS MiB | Python peak RSS MiB |",
        "|" + "---|" * (len(TIMINGS) + 6),
    ]
    for r in results:
        cells = " | ".join(_cell(r.get(k)) for k, _ in TIMINGS)
        lines.append(
            f"| {r['name']} | {int(r['batch_rows']):,} | {int(r['target_rows']):,} | {r['keys']} | {cells} "  # type: ignore[arg-type]
            f"| {_cell(r.get('jvm_peak_rss_mib'), 0)} | {_cell(r.get('python_peak_rss_mib'), 0)} |"
        )
    lines += _cost_table(results)
    lines += ["", "## Batch rows per second", "", f"| case | {heads} |", "|" + "---|" * (len(TIMINGS) + 1)]
    for r in results:
        lines.append(f"| {r['name']} | " + " | ".join(_rate(int(r["batch_rows"]), r.get(k)) for k, _ in TIMINGS) + " |")  # type: ignore[arg-type]
    lines += [
        "",
        "## Ratios (lower is better for the first named)",
        "",
        "| case | " + " | ".join(name for name, _, _ in RATIOS) + " |",
        "|" + "---|" * (len(RATIOS) + 1),
    ]
    for r in results:
        lines.append(f"| {r['name']} | " + " | ".join(_cell(ratio(r, a, b)) for _, a, b in RATIOS) + " |")
    lines += [
        "",
        "## Merge time, largest target over smallest target",
        "",
        "| group | approach | ratio |",
        "|---|---|---|",
    ]
    lines += [f"| {group} | {name} | {_cell(value)} |" for group, name, value in scaling(results)]
    if fixed:
        lines += fixed_cost_markdown(fixed)
    lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def plot(results: Sequence[Result], path: str) -> None:
    """Merge time against target size, one line per approach and key mode (solid local, dash-dot local30, dashed random)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for keys, style in (("local", "-o"), ("local30", "-.^"), ("random", "--s")):
        for color, (key, name) in enumerate(MERGES):
            points = sorted((int(r["target_rows"]), _num(r.get(key))) for r in results if r["keys"] == keys)  # type: ignore[arg-type]
            points = [(x, y) for x, y in points if y is not None]
            if points:
                ax.plot(*zip(*points, strict=True), style, color=f"C{color}", label=f"{name} ({keys} keys)")
    ax.set_xscale("log")
    ax.set_xlabel("target rows")
    ax.set_ylabel("seconds per batch")
    batches = sorted({int(r["batch_rows"]) for r in results})  # type: ignore[arg-type]
    ax.set_title("Merge time vs target size (batch " + ", ".join(f"{b:,}" for b in batches) + " rows)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(
    results: Sequence[Result],
    facts: dict[str, object],
    notes: Sequence[str],
    out_dir: str,
    name: str,
    fixed: dict[str, dict] | None = None,
) -> str:
    """Write `<name>.md`, `<name>.json` and `merge_vs_target.png` (per name when not the default) into `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    text = markdown(results, facts, notes, fixed)
    with open(os.path.join(out_dir, f"{name}.md"), "w", encoding="utf-8") as f:
        f.write(text)
    payload = {
        "machine": facts,
        "notes": list(notes),
        "results": list(results),
        "ratios": [{"case": r["name"], **{n: ratio(r, a, b) for n, a, b in RATIOS}} for r in results],
        "merge_scaling": [{"group": g, "approach": a, "ratio": v} for g, a, v in scaling(results)],
        "fixed_cost": fixed,
    }
    with open(os.path.join(out_dir, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2)
    plot(results, os.path.join(out_dir, "merge_vs_target.png" if name == "ci" else f"merge_vs_target_{name}.png"))
    return text
