"""The bundle: resources typed-check against the bundle schema, the notebooks exist and read exactly what the job passes."""

from __future__ import annotations

import ast
import copy
import glob
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from databricks.bundles.dashboards import Dashboard
from databricks.bundles.jobs import Job, JobCluster
from databricks.bundles.schemas import Schema
from databricks.bundles.volumes import Volume

from order_tracking.config import STAGE_PARAMETERS, TARGET_PARAMETERS
from order_tracking.local.job import JobSpec, TaskSpec, load_job


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPED = {"jobs": Job, "schemas": Schema, "volumes": Volume, "dashboards": Dashboard}
TARGETS = tuple(yaml.safe_load(_read(os.path.join(ROOT, "databricks.yml")))["targets"])


def _resources() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "resources", "*.yml"))):
        for kind, items in yaml.safe_load(_read(path))["resources"].items():
            found.extend((kind, key, definition) for key, definition in items.items())
    return found


def _job_definition() -> dict[str, Any]:
    return next(d for kind, key, d in _resources() if (kind, key) == ("jobs", "orders"))


@pytest.mark.parametrize(("kind", "key", "definition"), _resources(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_resource_passes_the_typed_bundle_schema(kind, key, definition):
    assert kind in TYPED, f"no typed check for resources.{kind}; add its class to TYPED"
    TYPED[kind].from_dict(copy.deepcopy(definition))


def test_resources_are_the_jobs_schema_volume_and_dashboard():
    assert sorted((kind, key) for kind, key, _ in _resources()) == [
        ("dashboards", "orders_health"),
        ("jobs", "orders"),
        ("jobs", "orders_maintenance"),
        ("schemas", "orders_schema"),
        ("volumes", "landing"),
    ]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda j: j.update(max_concurent_runs=1), id="misspelt-job-key"),
        pytest.param(lambda j: j["tasks"][0].update(notebook="x.py"), id="unknown-task-key"),
        pytest.param(lambda j: j["trigger"].update(pause_status="STOPPED"), id="bad-pause-status"),
        pytest.param(lambda j: j["trigger"]["file_arrival"].update(wait_seconds=60), id="unknown-trigger-key"),
    ],
)
def test_the_typed_check_rejects_a_broken_job(mutate):
    broken = copy.deepcopy(_job_definition())
    mutate(broken)
    with pytest.raises(ValueError):
        Job.from_dict(broken)


def test_the_typed_check_rejects_a_bad_volume_type():
    volume = next(d for kind, _, d in _resources() if kind == "volumes")
    with pytest.raises(ValueError):
        Volume.from_dict({**volume, "volume_type": "MANAGED_BY_HAND"})


def test_commented_classic_cluster_block_is_a_valid_job_cluster_on_17_3():
    text = _read(os.path.join(ROOT, "resources", "orders.job.yml"))
    block = re.search(r"# --- classic compute \(begin\).*?\n(.*?)# --- classic compute \(end\)", text, re.S)
    assert block, "the classic compute block markers are gone"
    lines = [line.strip()[2:] if line.strip().startswith("# ") else "" for line in block.group(1).splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("job_clusters:"))
    clusters = yaml.safe_load("\n".join(lines[start:]))["job_clusters"]
    [cluster] = [JobCluster.from_dict(c) for c in clusters]
    assert cluster.new_cluster.spark_version == "17.3.x-scala2.13"


@pytest.mark.parametrize("target", TARGETS)
def test_each_task_runs_a_source_format_notebook(target):
    spec = load_job(ROOT, target)
    assert [t.key for t in spec.tasks] == ["orders_stage", "orders_target"]
    for task in spec.tasks:
        assert os.path.isfile(task.notebook_path), f"{task.key}: {task.notebook_path} is missing"
        with open(task.notebook_path) as notebook:
            assert notebook.readline().rstrip("\n") == "# Databricks notebook source"


@pytest.mark.parametrize("target", TARGETS)
def test_trigger_watches_incoming_and_files_move_outside_it(target):
    spec = load_job(ROOT, target)
    volume = "/Volumes/{catalog}/{schema}/".format(**spec.parameters)
    params = spec.parameters
    assert spec.trigger is not None
    assert re.fullmatch(re.escape(volume) + r"[^/]+/incoming/", spec.trigger.url)
    assert params["landing_path"] == spec.trigger.url
    for name in ("archive_path", "rejected_path"):
        assert params[name].startswith(volume), name
        assert not params[name].startswith(spec.trigger.url), f"{name} is inside the watched folder"
        assert not spec.trigger.url.startswith(params[name]), f"the watched folder is inside {name}"
    assert spec.max_concurrent_runs == 1


def _setup_cells(path: str) -> list[str]:
    """The notebook's code cells up to (not including) the first one that touches `spark`."""
    cells = _read(path).split("# COMMAND ----------")
    setup = []
    for cell in cells:
        if all(
            line.startswith("# MAGIC") or not line.strip() or line.startswith("# Databricks")
            for line in cell.splitlines()
        ):
            continue
        if any(isinstance(node, ast.Name) and node.id == "spark" for node in ast.walk(ast.parse(cell))):
            break
        setup.append(cell)
    return setup


class _Widgets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values, self.read = values, []

    def text(self, name: str, default: str = "", label: str | None = None) -> None:
        pass

    def get(self, name: str) -> str:
        self.read.append(name)
        if name not in self.values:
            raise ValueError(f"InputWidgetNotDefined: {name} (the job does not pass it)")
        return self.values[name]


def _run_setup(task: TaskSpec, spec: JobSpec, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """Run the notebook's setup cells with the job's parameters; return the widgets read and task values asked for."""
    widgets, upstream = _Widgets(dict(spec.parameters)), []

    def task_value(taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:  # noqa: N803
        upstream.append(taskKey)
        return default

    dbutils = SimpleNamespace(widgets=widgets, jobs=SimpleNamespace(taskValues=SimpleNamespace(get=task_value)))
    monkeypatch.chdir(os.path.dirname(task.notebook_path))  # notebooks find ../src from their working directory
    monkeypatch.setattr(sys, "path", list(sys.path))
    for cell in _setup_cells(task.notebook_path):
        exec(compile(cell, task.notebook_path, "exec"), {"dbutils": dbutils, "__name__": "__notebook__"})
    return widgets.read, upstream


@pytest.mark.parametrize("target", TARGETS)
def test_notebooks_read_exactly_the_parameters_the_job_passes(target, monkeypatch):
    spec = load_job(ROOT, target)
    read = {task.key: _run_setup(task, spec, monkeypatch) for task in spec.tasks}

    assert set(read["orders_stage"][0]) == set(STAGE_PARAMETERS)
    assert set(read["orders_target"][0]) == set(TARGET_PARAMETERS)
    assert set(spec.parameters) == {name for widgets, _ in read.values() for name in widgets}
    for task in spec.tasks:
        assert set(read[task.key][1]) <= set(task.depends_on), (
            f"{task.key} reads task values of a task it does not wait for"
        )


def _repo_text_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [p for p in listed if os.path.isfile(os.path.join(ROOT, p)) and not p.endswith((".csv", ".parquet", ".png"))]


def test_no_workspace_host_or_token_in_the_bundle():
    config = yaml.safe_load(_read(os.path.join(ROOT, "databricks.yml")))
    sections = [config] + list(config["targets"].values())
    assert all("host" not in ((section or {}).get("workspace") or {}) for section in sections)


def test_no_secrets_hosts_or_personal_addresses_in_the_repo():
    token = re.compile(r"dapi[0-9a-f]{32}")
    host = re.compile(r"https://[a-z0-9-]+\.(cloud\.databricks\.com|azuredatabricks\.net|gcp\.databricks\.com)")
    email = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")
    placeholder_domains = {"example.com", "example.org", "example.net"}
    problems = []
    for path in _repo_text_files():
        try:
            text = _read(os.path.join(ROOT, path))
        except UnicodeDecodeError:
            continue
        problems += [f"{path}: token" for _ in token.finditer(text)]
        problems += [f"{path}: host {m.group(0)}" for m in host.finditer(text)]
        problems += [
            f"{path}: {m.group(0)}" for m in email.finditer(text) if m.group(1).lower() not in placeholder_domains
        ]
    assert problems == []
