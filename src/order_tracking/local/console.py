"""What the local commands print for a person: a table per file and one summary line; JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from order_tracking.local.runner import JobRun

_COLUMNS = ("file", "outcome", "rows staged", "rows quarantined", "reason")
_REASON_WIDTH = 60  # a reason names the problem in its first words; the file log keeps it whole


def print_json_line(value: object) -> None:
    """The whole value as one JSON line, for programs that read the last line of the output."""
    print(json.dumps(value, default=str, separators=(",", ":")), flush=True)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def file_table(files: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per landed file of the run: what happened to it and to its rows, and why when it was rejected."""
    if not files:
        return ["no new files"]
    rows = [
        (
            str(f.get("file", "")),
            str(f.get("outcome", "")),
            str(f.get("rows_staged", 0)),
            str(f.get("rows_quarantined", 0)),
            _shorten(str(f.get("reason") or ""), _REASON_WIDTH),
        )
        for f in files
    ]
    widths = [max(len(cell) for cell in column) for column in zip(_COLUMNS, *rows, strict=True)]
    numeric = {2, 3}

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return [line(_COLUMNS), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def summary_line(run: JobRun) -> str:
    """The run in one line: files and rows staged, set aside, and what the merge did to the target."""
    if run.status != "succeeded":
        return f"run FAILED in task {run.failed_task} after {run.seconds:.1f}s: {run.error}"
    stage, target = run.tasks.get("orders_stage") or {}, run.tasks.get("orders_target") or {}
    failed = stage.get("files_failed", 0)
    notes = f"; {failed} file(s) left for the next run" if failed else ""
    ignored, named = stage.get("files_ignored", 0), stage.get("ignored_names") or []
    if ignored:
        more = "" if len(named) >= ignored else ", ..."
        notes += f"; {ignored} name(s) in the landing folder not read (only *.csv is): {', '.join(named)}{more}"
    return (
        f"run succeeded in {run.seconds:.1f}s: staged {stage.get('files_staged', 0)} file(s), "
        f"{stage.get('rows_staged', 0)} row(s); quarantined {stage.get('rows_quarantined', 0)}; "
        f"rejected {stage.get('files_rejected', 0)} file(s); target +{target.get('rows_inserted', 0)} "
        f"inserted, {target.get('rows_updated', 0)} updated, {target.get('rows_unchanged', 0)} unchanged{notes}"
    )


def run_report(run: JobRun) -> list[str]:
    """The per-file table of the stage task (when it got that far), then the summary line."""
    stage = run.tasks.get("orders_stage")
    table = file_table(stage.get("files") or []) if isinstance(stage, Mapping) else []
    return [*table, summary_line(run)]
