"""Upload local CSV files into the landing volume with the Files API, never overwriting a file already there.

Why no temporary name + rename: the Files API has no move or rename (only upload, download, delete, metadata and
directory calls), so a rename would be a second full upload. A Files API upload is a single PUT (or, for files of
tens of MB and more, a multipart upload that is committed at the end) and the file is created in the volume's cloud
storage only when the request completes, so the trigger never sees a half-written file. The stage task's settle check
(size and mtime unchanged for settle_seconds) is the backstop if that ever does not hold.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from databricks.sdk.errors import NotFound, ResourceConflict

from order_tracking.files import is_candidate

# /Volumes/<catalog>/<schema>/<volume>[/<folder>...]/ : uploading to the volume root or outside /Volumes is refused.
_VOLUME_PATH = re.compile(r"/Volumes/[^/]+/[^/]+/[^/]+(/[^/]+)*/?")
# The stage task reads only the names `is_candidate` accepts; any other name uploaded would stay unread for good.
_NOT_READ = "the pipeline reads only names ending in .csv that do not start with _ or ."

Status = Literal["uploaded", "refused", "failed"]


class DestinationError(ValueError):
    """The destination is not a directory inside a Unity Catalog volume."""


@dataclass(frozen=True)
class UploadResult:
    """What happened to one local file."""

    local_path: str
    remote_path: str
    status: Status
    reason: str = ""

    def __str__(self) -> str:
        detail = f": {self.reason}" if self.reason else ""
        return f"{self.status:<8} {self.local_path} -> {self.remote_path}{detail}"


def volume_directory(destination: str) -> str:
    """Return destination as `/Volumes/<catalog>/<schema>/<volume>/.../` (trailing slash) or raise DestinationError."""
    parts = destination.rstrip("/").split("/")
    if not _VOLUME_PATH.fullmatch(destination) or any(part in (".", "..") for part in parts):
        raise DestinationError(
            f"destination {destination!r} must be a folder inside a volume: /Volumes/<catalog>/<schema>/<volume>/<folder>/"
        )
    return destination.rstrip("/") + "/"


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _exists(client: Any, remote_path: str) -> bool:
    try:
        client.files.get_metadata(remote_path)
    except NotFound:
        return False
    return True


def _upload_one(client: Any, local_path: str, remote_path: str) -> UploadResult:
    try:
        if _exists(client, remote_path):
            return UploadResult(local_path, remote_path, "refused", "a file with this name is already in the volume")
    except Exception as error:  # the check must not be skipped: without it we cannot promise "never overwrite"
        return UploadResult(local_path, remote_path, "failed", f"could not check the destination: {_describe(error)}")
    try:
        with open(local_path, "rb") as contents:
            # overwrite=False as well as the check above: another uploader may win the race in between.
            client.files.upload(remote_path, contents, overwrite=False)
    except ResourceConflict:  # 409: ALREADY_EXISTS (or RESOURCE_ALREADY_EXISTS)
        return UploadResult(
            local_path, remote_path, "refused", "a file with this name appeared in the volume meanwhile"
        )
    except Exception as error:
        return UploadResult(
            local_path, remote_path, "failed", f"upload failed ({_describe(error)}){_cleanup(client, remote_path)}"
        )
    return UploadResult(local_path, remote_path, "uploaded")


def _cleanup(client: Any, remote_path: str) -> str:
    """Remove whatever a failed upload left behind (the path was free before it), so the trigger cannot stage it."""
    try:
        if not _exists(client, remote_path):
            return "; nothing was written"
        client.files.delete(remote_path)
        return "; the partial file was deleted"
    except Exception as error:
        return f"; could not verify or delete a partial file, check {remote_path} by hand ({_describe(error)})"


def _missing_directory(client: Any, directory: str) -> str:
    """Explain why nothing can be uploaded to directory, or return "" if it exists.

    The Files API would create a missing folder silently, so a typo (`incomming/`) would park files where the
    trigger never looks.
    """
    try:
        client.files.get_directory_metadata(directory)
    except NotFound:
        return f"destination folder does not exist; create it first: databricks fs mkdir dbfs:{directory}"
    except Exception as error:
        return f"could not check the destination folder: {_describe(error)}"
    return ""


def upload_files(client: Any, files: Sequence[str], destination: str) -> list[UploadResult]:
    """Upload each local file into the destination volume folder, refusing names already there; one result per file."""
    directory = volume_directory(destination)
    missing = _missing_directory(client, directory)
    if missing:
        return [UploadResult(path, directory + os.path.basename(path), "refused", missing) for path in files]
    results: list[UploadResult] = []
    seen: set[str] = set()
    for local_path in files:
        name = os.path.basename(local_path)
        remote_path = directory + name
        if not os.path.isfile(local_path):
            results.append(UploadResult(local_path, remote_path, "refused", "not a local file"))
        elif not is_candidate(name):
            results.append(UploadResult(local_path, remote_path, "refused", _NOT_READ))
        elif name in seen:
            results.append(
                UploadResult(local_path, remote_path, "refused", "another file in this upload has the same name")
            )
        else:
            seen.add(name)
            results.append(_upload_one(client, local_path, remote_path))
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m order_tracking upload",
        description="Upload CSV files into the landing volume's incoming/ folder. Never overwrites a remote file.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="local CSV files")
    parser.add_argument(
        "--to", required=True, dest="destination", help="/Volumes/<catalog>/<schema>/<volume>/incoming/"
    )
    parser.add_argument(
        "--profile", help="Databricks CLI profile (default: DATABRICKS_* environment or DEFAULT profile)"
    )
    return parser


def main_upload(argv: Sequence[str] | None = None, client: Any = None) -> int:
    """CLI entry: upload, print one line per file, return 0 only if every file was uploaded."""
    args = _parser().parse_args(argv)
    try:
        volume_directory(args.destination)
    except DestinationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if client is None:
        from databricks.sdk import WorkspaceClient  # imported late so `--help` works without credentials

        client = WorkspaceClient(profile=args.profile) if args.profile else WorkspaceClient()
    results = upload_files(client, args.files, args.destination)
    for result in results:
        print(result, file=sys.stdout if result.status == "uploaded" else sys.stderr)
    uploaded = sum(result.status == "uploaded" for result in results)
    print(f"{uploaded} of {len(results)} file(s) uploaded")
    return 0 if uploaded == len(results) else 1
