"""`databricks bundle deploy`, `summary`, `run` and `destroy`, end to end, against the Databricks CLI's own fake
workspace (skipped only without Go or the CLI).

The fake accepts any catalog and any job settings, and `bundle run` there reports success without executing a
notebook, so these tests assert on what the workspace received and holds, never on a run's outcome.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fake_workspace import ROOT, WHY_SKIP, FakeWorkspace, copy_bundle, fake_workspace
from order_tracking.local.runner import code_cells

pytestmark = pytest.mark.skipif(bool(WHY_SKIP), reason=WHY_SKIP)
IMPORT_FILE = "/api/2.0/workspace-files/import-file"


@dataclass
class Step:
    """One CLI command: its result and the API requests it made."""

    returncode: int
    stdout: str
    stderr: str
    requests: list[dict[str, Any]]

    def calls(self, method: str, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if (r["method"], r["path"]) == (method, path)]


@dataclass
class Deployment:
    steps: dict[str, Step] = field(default_factory=dict)
    held: dict[str, tuple[int, Any]] = field(default_factory=dict)  # what the workspace answered, by name
    summary: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _step(ws: FakeWorkspace, bundle: Path, *args: str) -> Step:
    before = len(ws.log()["requests"])
    done = ws.cli(*args, cwd=bundle)
    return Step(done.returncode, done.stdout, done.stderr, ws.log()["requests"][before:])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Deployment:
    """Deploy dev, read it back, run it, destroy it; then deploy prod and try to destroy it. One fake, ~10 s."""
    scratch = tmp_path_factory.mktemp("deploy")
    bundle = copy_bundle(scratch / "bundle")
    result = Deployment()
    with fake_workspace(scratch) as ws:
        result.steps["deploy"] = _step(ws, bundle, "bundle", "deploy", "-t", "dev")
        summary = _step(ws, bundle, "bundle", "summary", "-t", "dev", "-o", "json")
        result.summary = json.loads(summary.stdout) if summary.returncode == 0 else {}
        resources = result.summary.get("resources", {})
        job_id = resources.get("jobs", {}).get("orders", {}).get("id", "0")
        schema = resources.get("schemas", {}).get("orders_schema", {})
        full_schema = f"{schema.get('catalog_name')}.{schema.get('name')}"
        files = result.summary.get("workspace", {}).get("file_path", "")
        result.held["job"] = ws.get("/api/2.2/jobs/get", job_id=job_id)
        result.held["schema"] = ws.get(f"/api/2.1/unity-catalog/schemas/{full_schema}")
        result.held["volume"] = ws.get(f"/api/2.1/unity-catalog/volumes/{full_schema}.landing")
        for task in ("orders_stage", "orders_target"):
            result.held[task] = ws.get(f"/api/2.0/workspace-files{files}/notebooks/{task}.ipynb")
        result.steps["run"] = _step(ws, bundle, "bundle", "run", "-t", "dev", "orders")
        result.steps["destroy"] = _step(ws, bundle, "bundle", "destroy", "-t", "dev", "--auto-approve")
        result.held["job after destroy"] = ws.get("/api/2.2/jobs/get", job_id=job_id)
        result.held["schema after destroy"] = ws.get(f"/api/2.1/unity-catalog/schemas/{full_schema}")
        result.held["volume after destroy"] = ws.get(f"/api/2.1/unity-catalog/volumes/{full_schema}.landing")
        result.steps["prod deploy"] = _step(ws, bundle, "bundle", "deploy", "-t", "prod")
        result.steps["prod destroy"] = _step(ws, bundle, "bundle", "destroy", "-t", "prod", "--auto-approve")
        result.held["prod schema after destroy"] = ws.get("/api/2.1/unity-catalog/schemas/main.orders")
        result.errors = ws.log()["errors"]
    return result


def _succeeded(deployment: Deployment, step: str) -> Step:
    done = deployment.steps[step]
    assert done.returncode == 0, f"bundle {step} failed:\n{done.stderr}"
    return done


def test_deploy_creates_the_schema_and_the_volume_in_it(deployment):
    deploy = _succeeded(deployment, "deploy")
    [schema] = [r["body"] for r in deploy.calls("POST", "/api/2.1/unity-catalog/schemas")]
    [volume] = [r["body"] for r in deploy.calls("POST", "/api/2.1/unity-catalog/volumes")]
    assert schema["name"] == "dev_tester_orders" and schema["catalog_name"] == "main"
    assert (volume["catalog_name"], volume["schema_name"], volume["name"]) == ("main", "dev_tester_orders", "landing")
    assert volume["volume_type"] == "MANAGED"
    assert deployment.held["schema"][0] == deployment.held["volume"][0] == 200


def _imported_modules(code: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from order_tracking import faults` imports a module too
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] == "order_tracking"}


def _package_files_the_notebooks_import() -> set[str]:
    """src/ files the notebooks import, directly or through each other (every import statement, lazy ones too)."""
    todo = {
        name
        for notebook in (ROOT / "notebooks").glob("*.ipynb")
        for cell in code_cells(str(notebook))
        for name in _imported_modules(cell)
    }
    files: set[str] = set()
    while todo:
        parts = todo.pop().split(".")
        for depth in range(1, len(parts) + 1):
            base = ROOT / "src" / Path(*parts[:depth])
            for candidate in (base / "__init__.py", base.with_suffix(".py")):
                relative = str(candidate.relative_to(ROOT))
                if candidate.is_file() and relative not in files:
                    files.add(relative)
                    todo |= _imported_modules(candidate.read_text(encoding="utf-8"))
    return files


def test_deploy_uploads_the_notebooks_and_exactly_the_modules_they_import(deployment):
    deploy = _succeeded(deployment, "deploy")
    files_root = deployment.summary["workspace"]["file_path"]
    prefix = f"{IMPORT_FILE}{files_root}/"
    uploaded = {r["path"].removeprefix(prefix) for r in deploy.requests if r["path"].startswith(prefix)}
    notebooks = {f"notebooks/{name}.ipynb" for name in ("orders_stage", "orders_target", "orders_maintenance")}
    needed = _package_files_the_notebooks_import()
    assert "src/order_tracking/stage.py" in needed and "src/order_tracking/environment.py" in needed
    # Nothing the notebooks import is left behind, and no laptop-only code or sample data goes along.
    assert uploaded == notebooks | needed


def test_the_workspace_holds_the_job_as_the_bundle_defines_it(deployment):
    status, job = deployment.held["job"]
    assert status == 200, job
    settings = job["settings"]
    volume = "/Volumes/main/dev_tester_orders/landing"
    files_root = deployment.summary["workspace"]["file_path"]
    assert settings["trigger"]["file_arrival"]["url"] == f"{volume}/incoming/"
    assert settings["trigger"]["pause_status"] == "PAUSED", "dev deploys the file-arrival trigger paused"
    assert settings["queue"] == {"enabled": True} and settings["max_concurrent_runs"] == 1
    tasks = settings["tasks"]
    assert [t["task_key"] for t in tasks] == ["orders_stage", "orders_target"]
    assert [d["task_key"] for d in tasks[1]["depends_on"]] == ["orders_stage"]
    for task in tasks:
        assert task["notebook_task"]["notebook_path"] == f"{files_root}/notebooks/{task['task_key']}"
        # No cluster of any kind: serverless, in the environment the notebook pins.
        assert not {"existing_cluster_id", "new_cluster", "job_cluster_key", "environment_key"} & set(task)
    assert {p["name"]: p["default"] for p in settings["parameters"]} == {
        "catalog": "main",
        "schema": "dev_tester_orders",
        "landing_path": f"{volume}/incoming/",
        "archive_path": f"{volume}/archive/",
        "rejected_path": f"{volume}/rejected/",
        "settle_seconds": "30",
        "max_wait_seconds": "300",
        "package_path": f"{files_root}/src",
    }


@pytest.mark.parametrize("task", ["orders_stage", "orders_target"])
def test_the_uploaded_notebooks_pin_serverless_environment_4(deployment, task):
    status, notebook = deployment.held[task]
    assert status == 200
    metadata = notebook["metadata"]["application/vnd.databricks.v1+notebook"]
    assert metadata["environmentMetadata"]["environment_version"] == "4"


def test_run_starts_the_job_and_polls_the_run(deployment):
    run = _succeeded(deployment, "run")
    job_id = int(deployment.summary["resources"]["jobs"]["orders"]["id"])
    assert [r["body"]["job_id"] for r in run.calls("POST", "/api/2.2/jobs/run-now")] == [job_id]
    assert len(run.calls("GET", "/api/2.2/jobs/runs/get")) >= 2, "the CLI polls the run until it ends"


def test_destroy_removes_the_job_the_schema_with_everything_in_it_and_the_files(deployment):
    destroy = _succeeded(deployment, "destroy")
    assert destroy.calls("POST", "/api/2.2/jobs/delete")
    schema = "/api/2.1/unity-catalog/schemas/main.dev_tester_orders"
    assert [r["query"] for r in destroy.calls("DELETE", schema)] == ["force=true"], "drops tables with it"
    assert destroy.calls("DELETE", "/api/2.1/unity-catalog/volumes/main.dev_tester_orders.landing")
    root = deployment.summary["workspace"]["root_path"]
    assert {r["body"]["path"] for r in destroy.calls("POST", "/api/2.0/workspace/delete")} == {root}
    for held in ("job after destroy", "schema after destroy", "volume after destroy"):
        assert deployment.held[held][0] == 404, held


def test_prod_refuses_to_destroy_its_schema_and_volume(deployment):
    _succeeded(deployment, "prod deploy")
    refused = deployment.steps["prod destroy"]
    assert refused.returncode != 0
    for resource in ("resources.schemas.orders_schema", "resources.volumes.landing"):
        assert f"{resource} has lifecycle.prevent_destroy set" in refused.stderr
    assert not [r for r in refused.requests if r["method"] == "DELETE"]
    assert deployment.held["prod schema after destroy"][0] == 200


def test_the_fake_workspace_served_every_request_the_cli_made(deployment):
    assert deployment.errors == []
