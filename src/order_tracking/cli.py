"""`python -m order_tracking run|show|watch|upload|generate|replay|report|upkeep`: the job and its tools on a laptop."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

LOCAL = ".local"


def repo_root() -> str:
    """The checkout holding databricks.yml: the runner reads the job definition from there."""
    for candidate in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (candidate / "databricks.yml").is_file():
            return str(candidate)
    raise SystemExit("databricks.yml not found: run from a checkout of the order-tracking repository")


def _local_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--warehouse", default=os.path.join(LOCAL, "warehouse"), help="local tables (persist)")
    parser.add_argument("--schema", default="orders", help="local schema in spark_catalog")
    parser.add_argument("--target", default="dev", help="bundle target whose job definition is used")


def _job_args(parser: argparse.ArgumentParser) -> None:
    _local_args(parser)
    parser.add_argument("--landing", default=os.path.join(LOCAL, "landing"))
    parser.add_argument("--archive", default=os.path.join(LOCAL, "archive"))
    parser.add_argument("--rejected", default=os.path.join(LOCAL, "rejected"))
    parser.add_argument("--settle-seconds", type=float, default=None, help="override the job's settle_seconds")
    parser.add_argument("--verbose", action="store_true", help="also print what the notebooks print")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m order_tracking", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the job once: stage then merge")
    _job_args(run)
    run.add_argument("--json", action="store_true", help="also print the whole run summary as one JSON line, last")
    run.add_argument("--no-wait", action="store_true", help="exit (code 3) instead of queueing behind a running job")
    run.add_argument("--show", action="store_true", help="print the target table after a successful run")
    show = commands.add_parser("show", help="print the target table and table counts")
    _local_args(show)
    show.add_argument("--limit", type=int, default=50)
    watch = commands.add_parser("watch", help="emulate the file-arrival trigger on the local landing folder")
    _job_args(watch)
    watch.add_argument("--wait-after-last-change", type=float, default=None)
    watch.add_argument("--min-time-between-triggers", type=float, default=None)
    watch.add_argument("--poll-seconds", type=float, default=1.0)
    commands.add_parser("upload", help="upload CSVs to a Unity Catalog volume (Files API)", add_help=False)
    commands.add_parser("generate", help="write realistic order-tracking CSVs", add_help=False)
    commands.add_parser("replay", help="send rejected files back into the landing folder", add_help=False)
    commands.add_parser("report", help="print and draw the health view of the local tables", add_help=False)
    commands.add_parser("upkeep", help="the maintenance job on the local tables", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "upload":
        from order_tracking.upload import main_upload

        return main_upload(argv[1:])
    if argv and argv[0] == "generate":
        from order_tracking.generate import main_generate

        return main_generate(argv[1:])
    if argv and argv[0] in ("replay", "report", "upkeep"):
        from order_tracking.local import operate

        return getattr(operate, f"main_{argv[0]}")(argv[1:])
    args = build_parser().parse_args(argv)
    from order_tracking.local import commands
    from order_tracking.local.prereqs import UnsupportedJava

    try:
        return {"run": commands.run, "show": commands.show, "watch": commands.watch}[args.command](args, repo_root())
    except UnsupportedJava as problem:  # a set-up problem, not a bug: say it in one line, no traceback
        print(f"not started: {problem}", file=sys.stderr)
        return 2
