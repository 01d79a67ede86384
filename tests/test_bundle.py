"""The bundle: resources typed-check against the bundle schema, the notebooks exist and read exactly what the job passes."""

from __future__ import annotations

import copy
import glob
import json
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

from order_tracking import environment
from order_tracking.config import STAGE_PARAMETERS, TARGET_PARAMETERS
from order_tracking.local.job import TaskSpec, load_job, local_parameters
from order_tracking.local.runner import code_cells


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


def _target_overrides() -> list[tuple[str, str, str, dict[str, Any]]]:
    targets = yaml.safe_load(_read(os.path.join(ROOT, "databricks.yml")))["targets"]
    return [
        (target, kind, key, override)
        for target, settings in targets.items()
        for kind, items in ((settings or {}).get("resources") or {}).items()
        for key, override in items.items()
    ]


@pytest.mark.parametrize(("target", "kind", "key", "override"), _target_overrides())
def test_every_target_override_passes_the_typed_bundle_schema(target, kind, key, override):
    base = next(d for k, name, d in _resources() if (k, name) == (kind, key))
    TYPED[kind].from_dict({**copy.deepcopy(base), **copy.deepcopy(override)})


def test_prod_guards_the_schema_and_volume_against_destroy_and_dev_does_not():
    guarded = {(t, kind, key) for t, kind, key, o in _target_overrides() if o["lifecycle"]["prevent_destroy"] is True}
    assert guarded == {("prod", "schemas", "orders_schema"), ("prod", "volumes", "landing")}
    with pytest.raises(ValueError):
        Schema.from_dict({"catalog_name": "c", "name": "s", "lifecycle": {"prevent_destroyed": True}})


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
def test_each_task_runs_a_notebook_that_pins_serverless_environment_4(target):
    spec = load_job(ROOT, target)
    assert [t.key for t in spec.tasks] == ["orders_stage", "orders_target"]
    for task in spec.tasks:
        assert task.notebook_path.endswith(".ipynb"), "only a Jupyter notebook carries its serverless environment"
        text = _read(task.notebook_path)
        notebook = json.loads(text)
        databricks = notebook["metadata"]["application/vnd.databricks.v1+notebook"]
        # Environment 4 = Databricks Connect 17 / Spark 4.0, the client the local runner pins (pyspark 4.0.x).
        assert databricks["environmentMetadata"]["environment_version"] == "4"
        assert databricks["language"] == "python"
        # Kept diff-friendly: no outputs, and the layout `ruff format`/nbformat write (indent 1).
        assert all(not cell.get("outputs") for cell in notebook["cells"])
        assert text == json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


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


def _setup_cell(path: str) -> str:
    """The notebook's first code cell: package path, client check, parameters; everything before the work."""
    return code_cells(path)[0]


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


def _run_setup(
    task: TaskSpec, parameters: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[str], list[Any]]:
    """Run the notebook's setup cell with these parameters; return widgets read, task values asked for, clients checked."""
    widgets, upstream, checked = _Widgets(dict(parameters)), [], []

    def task_value(taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:  # noqa: N803
        upstream.append(taskKey)
        return default

    dbutils = SimpleNamespace(widgets=widgets, jobs=SimpleNamespace(taskValues=SimpleNamespace(get=task_value)))
    monkeypatch.setattr(environment, "require_supported_environment", checked.append)
    monkeypatch.setattr(sys, "path", list(sys.path))
    cell = _setup_cell(task.notebook_path)
    exec(compile(cell, task.notebook_path, "exec"), {"dbutils": dbutils, "spark": "the session", "__name__": "nb"})
    return widgets.read, upstream, checked


@pytest.mark.parametrize("target", TARGETS)
def test_notebooks_read_exactly_the_parameters_the_job_passes(target, monkeypatch):
    spec = load_job(ROOT, target)
    read = {task.key: _run_setup(task, spec.parameters, monkeypatch) for task in spec.tasks}

    assert set(read["orders_stage"][0]) == {*STAGE_PARAMETERS, "package_path"}
    assert set(read["orders_target"][0]) == {*TARGET_PARAMETERS, "package_path"}
    assert set(spec.parameters) == {name for widgets, _, _ in read.values() for name in widgets}
    for task in spec.tasks:
        # orders_target reads no task value: run by hand, outside a job, taskValues.get would raise.
        assert read[task.key][1] == [], f"{task.key} reads task values"
        assert read[task.key][2] == ["the session"], f"{task.key} does not check the client before its work"


def test_notebooks_import_the_package_from_the_path_the_job_passes(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a working directory with no ../src: only package_path can be meant
    for task in load_job(ROOT).tasks:
        _run_setup(task, {**load_job(ROOT).parameters, "package_path": "/Workspace/bundle/files/src"}, monkeypatch)
        assert sys.path[0] == "/Workspace/bundle/files/src"


def test_notebooks_fall_back_to_src_beside_them_when_run_by_hand(monkeypatch, tmp_path):
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    for task in load_job(ROOT).tasks:
        _run_setup(task, {**load_job(ROOT).parameters, "package_path": ""}, monkeypatch)
        assert sys.path[0] == str(tmp_path / "src")


def test_the_local_runner_passes_the_checkouts_src_as_package_path():
    params = local_parameters(load_job(ROOT), "l", "a", "r")
    assert params["package_path"] == os.path.join(ROOT, "src")


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
