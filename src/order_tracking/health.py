"""The health view's SQL, written once: the bundle's AI/BI dashboard and `python -m order_tracking report` run it.

Table names are unqualified: the dashboard sets its datasets' catalog and schema (`dataset_catalog`,
`dataset_schema` in resources/orders_health.dashboard.yml) and the local report runs `USE` first. The SQL keeps
to what Databricks SQL and Spark 4 both accept. Days are UTC.
"""

from __future__ import annotations

import json

FILES_PER_DAY = """SELECT
  CAST(logged_at AS DATE) AS day,
  count(*) AS files_landed,
  count_if(outcome = 'staged') AS files_staged,
  count_if(outcome = 'rejected') AS files_rejected,
  sum(rows_staged) AS rows_staged,
  sum(rows_quarantined) AS rows_quarantined
FROM orders_file_log
GROUP BY CAST(logged_at AS DATE)
ORDER BY day"""

REJECTIONS_PER_DAY = """SELECT
  CAST(logged_at AS DATE) AS day,
  reason,
  count(*) AS files
FROM orders_file_log
WHERE outcome = 'rejected'
GROUP BY CAST(logged_at AS DATE), reason
ORDER BY day, files DESC"""

# Quarantined rows are pruned with their batch after stage_retention_days: this shows that window.
QUARANTINE_PER_DAY = """SELECT
  CAST(_quarantined_at AS DATE) AS day,
  reason,
  count(*) AS rows_quarantined
FROM orders_quarantine
GROUP BY CAST(_quarantined_at AS DATE), reason
ORDER BY day, rows_quarantined DESC"""

# The merge log repeats one merge's counts on the row of each batch it took: count each merge once.
MERGES_PER_DAY = """SELECT
  CAST(merged_at AS DATE) AS day,
  count(*) AS merges,
  sum(rows_inserted) AS rows_inserted,
  sum(rows_updated) AS rows_updated
FROM (SELECT DISTINCT merge_id, merged_at, rows_inserted, rows_updated FROM orders_merge_log)
GROUP BY CAST(merged_at AS DATE)
ORDER BY day"""

# A file "arrives" at its modification time in the volume; it reaches the target with the merge of its batch.
ARRIVAL_TO_MERGE = """SELECT
  CAST(m.merged_at AS DATE) AS day,
  count(*) AS files_merged,
  round(avg(timestampdiff(SECOND, f.file_mtime, m.merged_at)) / 60.0, 1) AS avg_minutes,
  round(percentile_approx(timestampdiff(SECOND, f.file_mtime, m.merged_at), 0.95) / 60.0, 1) AS p95_minutes,
  round(max(timestampdiff(SECOND, f.file_mtime, m.merged_at)) / 60.0, 1) AS max_minutes
FROM orders_file_log AS f
JOIN orders_merge_log AS m ON f.batch_id = m.batch_id
WHERE f.outcome = 'staged'
GROUP BY CAST(m.merged_at AS DATE)
ORDER BY day"""

QUERIES = {
    "files_per_day": FILES_PER_DAY,
    "rejections_per_day": REJECTIONS_PER_DAY,
    "quarantine_per_day": QUARANTINE_PER_DAY,
    "merges_per_day": MERGES_PER_DAY,
    "arrival_to_merge": ARRIVAL_TO_MERGE,
}
TITLES = {
    "files_per_day": "Files landed, staged and rejected per day",
    "rejections_per_day": "Rejected files per day, by reason",
    "quarantine_per_day": "Quarantined rows per day, by reason",
    "merges_per_day": "Rows inserted and updated per day",
    "arrival_to_merge": "Minutes from a file's arrival to its merge",
}
# (widget, dataset, x field, y fields, colour field): what each chart shows.
CHARTS = (
    ("files", "files_per_day", "day", ("files_staged", "files_rejected"), None),
    ("rejections", "rejections_per_day", "day", ("files",), "reason"),
    ("quarantine", "quarantine_per_day", "day", ("rows_quarantined",), "reason"),
    ("merges", "merges_per_day", "day", ("rows_inserted", "rows_updated"), None),
    ("latency", "arrival_to_merge", "day", ("avg_minutes", "p95_minutes", "max_minutes"), None),
)


def query_lines(sql: str) -> list[str]:
    """The dashboard file's form of a query: its lines, each ending in a newline but the last."""
    return sql.splitlines(keepends=True)


def _chart(name: str, dataset: str, x: str, ys: tuple[str, ...], colour: str | None, index: int) -> dict:
    fields = [{"name": x, "expression": f"`{x}`"}] + [{"name": f"sum({y})", "expression": f"SUM(`{y}`)"} for y in ys]
    encodings: dict = {"x": {"fieldName": x, "scale": {"type": "temporal"}, "displayName": "day"}}
    if len(ys) == 1:
        encodings["y"] = {"fieldName": f"sum({ys[0]})", "scale": {"type": "quantitative"}, "displayName": ys[0]}
    else:
        encodings["y"] = {
            "scale": {"type": "quantitative"},
            "fields": [{"fieldName": f"sum({y})", "displayName": y} for y in ys],
        }
    if colour:
        fields.append({"name": colour, "expression": f"`{colour}`"})
        encodings["color"] = {"fieldName": colour, "scale": {"type": "categorical"}, "displayName": colour}
    widget_type = "line" if dataset == "arrival_to_merge" else "bar"
    return {
        "widget": {
            "name": name,
            "queries": [{"name": "main", "query": {"datasetName": dataset, "fields": fields, "disaggregated": False}}],
            "spec": {
                "version": 3,
                "widgetType": widget_type,
                "encodings": encodings,
                "frame": {"title": TITLES[dataset], "showTitle": True},
            },
        },
        "position": {"x": (index % 2) * 3, "y": (index // 2) * 6, "width": 3, "height": 6},
    }


def dashboard() -> dict:
    """The AI/BI dashboard definition (the content of resources/orders_health.lvdash.json)."""
    datasets = [{"name": n, "displayName": TITLES[n], "queryLines": query_lines(sql)} for n, sql in QUERIES.items()]
    layout = [_chart(*chart, index) for index, chart in enumerate(CHARTS)]
    return {"datasets": datasets, "pages": [{"name": "health", "displayName": "Pipeline health", "layout": layout}]}


def dashboard_json() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"
