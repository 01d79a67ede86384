"""The local file-arrival trigger's rules, with a fake clock and no Spark."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from order_tracking.local.watch import Watcher, install_interrupt_handler


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _watcher(landing: Path, clock: Clock, runs: list, **kwargs) -> Watcher:
    settings = {"wait_after_last_change": 60, "min_time_between_triggers": 120} | kwargs
    return Watcher(str(landing), lambda: runs.append(clock.now), poll_seconds=0, clock=clock, **settings)


def test_a_run_waits_for_a_quiet_period_after_the_last_change(tmp_path: Path) -> None:
    clock, runs = Clock(), []
    watcher = _watcher(tmp_path, clock, runs)
    (tmp_path / "a.csv").write_text("x")
    assert not watcher.due()
    clock.now += 30
    (tmp_path / "b.csv").write_text("x")  # a second file restarts the quiet period
    assert not watcher.due()
    clock.now += 59
    assert not watcher.due()
    clock.now += 1
    assert watcher.due()


def test_only_new_names_fire_and_runs_keep_their_distance(tmp_path: Path) -> None:
    clock, runs = Clock(), []
    watcher = _watcher(tmp_path, clock, runs)
    (tmp_path / "a.csv").write_text("x")
    watcher.due()
    clock.now += 60
    watcher.loop(max_runs=1)
    assert runs == [1060]
    clock.now += 100
    assert not watcher.due()  # a.csv is still there (say, it could not be moved): no new name, no run
    (tmp_path / "b.csv").write_text("x")
    watcher.due()
    clock.now += 60  # quiet for 60 s, and 160 s since the last trigger (at least 120 s)
    assert watcher.due()


def test_hidden_and_temporary_files_do_not_fire(tmp_path: Path) -> None:
    clock, runs = Clock(), []
    watcher = _watcher(tmp_path, clock, runs, wait_after_last_change=0, min_time_between_triggers=0)
    for name in (".a.csv", "_b.csv", "c.csv.tmp", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert not watcher.due()


def test_min_time_between_triggers_delays_the_next_run(tmp_path: Path) -> None:
    clock, runs = Clock(), []
    watcher = _watcher(tmp_path, clock, runs, wait_after_last_change=0)
    (tmp_path / "a.csv").write_text("x")
    watcher.loop(max_runs=1)
    (tmp_path / "a.csv").unlink()
    (tmp_path / "b.csv").write_text("x")
    clock.now += 119
    assert not watcher.due()
    clock.now += 1
    assert watcher.due()


def test_ctrl_c_stops_the_watcher_after_the_run_in_progress(tmp_path: Path) -> None:
    clock, finished = Clock(), []
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    def run_interrupted_midway() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        finished.append("run completed")

    watcher = Watcher(
        str(tmp_path),
        run_interrupted_midway,
        wait_after_last_change=0,
        min_time_between_triggers=0,
        poll_seconds=0,
        clock=clock,
    )
    install_interrupt_handler(watcher)
    try:
        (tmp_path / "a.csv").write_text("x")
        watcher.loop()
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    assert finished == ["run completed"]
    assert watcher.stop.is_set()


def test_watch_keeps_a_long_session_with_the_full_jit_while_one_run_stops_it_at_c1(tmp_path: Path, monkeypatch) -> None:
    """`watch` runs the job for hours in one session: C2 compiling later made later runs twice as fast there
    (docs/decisions.md); one `run` is over before C2 pays off."""
    from order_tracking import cli
    from order_tracking.local import commands
    from order_tracking.local.session import LONG_SESSION_JAVA_OPTIONS

    class Started(Exception):
        pass

    settings = {}

    def session_started(warehouse: str, **options) -> None:
        settings[command] = options
        raise Started

    monkeypatch.setattr(commands, "local_spark", session_started)
    folders = [f"--{name}={tmp_path / name}" for name in ("warehouse", "landing", "archive", "rejected")]
    for command in ("watch", "run"):
        with pytest.raises(Started):
            getattr(commands, command)(cli.build_parser().parse_args([command, *folders]), cli.repo_root())
    assert settings == {"watch": {"short_runs": False, "java_options": LONG_SESSION_JAVA_OPTIONS}, "run": {}}
