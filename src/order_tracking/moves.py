"""After the stage commit: move each file to the archive, or to the rejected folder with its reason."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from order_tracking.files import move_no_overwrite, write_reason


@dataclass(frozen=True)
class FilePlan:
    """Where one landed file goes once its batch is committed; `reason` is set for a rejected file."""

    source: str
    name: str
    folder: str
    reason: str | None = None


def plans_from_log(logged: Iterable[dict]) -> list[FilePlan]:
    """Moves still owed for files a crashed run committed but did not move: the rerun only finishes them."""
    return [FilePlan(row["path"], row["file_name"], row["destination"], row["reason"]) for row in logged]


def carry_out(plans: Iterable[FilePlan], checkpoint: Callable[[str], None]) -> list[str]:
    """Move every planned file; never overwrites. Returns the final paths."""
    moved = []
    for plan in plans:
        destination = move_no_overwrite(plan.source, plan.folder, plan.name)
        if plan.reason:
            write_reason(destination, plan.reason)
        moved.append(destination)
        checkpoint("stage.moved_one")
    return moved
