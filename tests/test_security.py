"""Hostile job parameters are refused before any SQL runs, and a file name cannot steer a move out of its folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from order_tracking.cli import repo_root
from order_tracking.config import ConfigError, StageConfig, TargetConfig
from order_tracking.files import move_no_overwrite, safe_name
from order_tracking.local.job import load_job, local_parameters
from order_tracking.local.runner import run_job

HOSTILE_NAMES = ["x; DROP TABLE y", "a`b", "`orders`", "orders.stage", "a b", "x'--", 'x"', "", " ", "a" * 256, "名前"]


def _stage_params(**overrides: str) -> dict[str, str]:
    params = {
        "catalog": "main",
        "schema": "orders",
        "landing_path": "/Volumes/main/orders/landing/incoming",
        "archive_path": "/Volumes/main/orders/landing/archive",
        "rejected_path": "/Volumes/main/orders/landing/rejected",
    }
    return {**params, **overrides}


@pytest.mark.parametrize("field", ["catalog", "schema"])
@pytest.mark.parametrize("value", HOSTILE_NAMES)
def test_hostile_catalog_and_schema_names_are_refused_by_both_tasks(field: str, value: str):
    with pytest.raises(ConfigError, match=field if value.strip() else "required"):
        StageConfig.from_params(_stage_params(**{field: value}))
    with pytest.raises(ConfigError, match=field if value.strip() else "required"):
        TargetConfig.from_params({"catalog": "main", "schema": "orders", field: value})


def test_ordinary_names_with_hyphens_and_underscores_are_accepted():
    config = StageConfig.from_params(_stage_params(catalog="dev-catalog", schema="dev_jane_orders"))
    assert config.tables.target == "`dev-catalog`.`dev_jane_orders`.`orders_target`"


class SqlRecorder:
    """A stand-in SparkSession that records every call instead of running it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        self.calls.append(name)
        return lambda *args, **kwargs: self


@pytest.mark.parametrize("task", ["orders_stage", "orders_target"])
def test_a_job_run_with_an_injected_schema_fails_before_touching_spark(task: str, tmp_path: Path):
    spec = load_job(repo_root())
    params = local_parameters(
        spec, str(tmp_path / "in"), str(tmp_path / "arch"), str(tmp_path / "rej"), schema="x; DROP TABLE y"
    )
    recorder = SqlRecorder()
    only_task = type(spec)(spec.name, tuple(t for t in spec.tasks if t.key == task), spec.parameters, None, 1)

    run = run_job(recorder, only_task, params, checkpoint=lambda _: None)

    assert run.status == "failed" and run.failed_task == task
    assert "ConfigError" in run.error and "not a valid identifier" in run.error
    assert recorder.calls == []


@pytest.mark.parametrize(
    "name", ["../escape.csv", "../../etc/passwd.csv", "/abs/path.csv", "sub/../../x.csv", "..\\..\\win.csv"]
)
def test_a_file_name_cannot_steer_a_move_outside_the_destination(tmp_path: Path, name: str):
    source = tmp_path / "incoming" / "payload.csv"
    source.parent.mkdir()
    source.write_text("x\n")
    destination = tmp_path / "archive" / "batch"

    final = move_no_overwrite(str(source), str(destination), name)

    assert os.path.dirname(final) == str(destination)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [safe_name(name)]


@pytest.mark.parametrize("name", ["..", ".", "", "/"])
def test_a_name_that_is_only_a_directory_reference_is_refused(name: str):
    with pytest.raises(ValueError, match="unsafe file name"):
        safe_name(name)
