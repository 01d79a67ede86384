"""After the stage commit: move each file to the archive, or to the rejected folder with its reason."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from order_tracking.files import move_no_overwrite, safe_name, write_reason


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
        if plan.reason:
            # Before the move: once the file has left landing no rerun looks at it again, so a crash between
            # the move and the reason would leave a rejected file that never gets one.
            os.makedirs(plan.folder, exist_ok=True)
            expected = write_reason(os.path.join(plan.folder, safe_name(plan.name)), plan.reason)
        destination = move_no_overwrite(plan.source, plan.folder, plan.name)
        if plan.reason and destination + ".reason.txt" != expected:
            write_reason(destination, plan.reason)
        moved.append(destination)
        checkpoint("stage.moved_one")
    return moved
