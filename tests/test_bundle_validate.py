"""`databricks bundle validate` for every target, against a loopback workspace stub (skipped without the Go CLI)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from workspace_stub import USER_NAME, WAREHOUSE, WorkspaceStub

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_CLI = (0, 281, 0)  # databricks.yml: bundle.databricks_cli_version
BUNDLE_FILES = ("databricks.yml", ".gitignore", "resources", "notebooks", "src")
with open(os.path.join(ROOT, "databricks.yml"), encoding="utf-8") as _config:
    TARGETS = tuple(yaml.safe_load(_config)["targets"])


def _find_cli() -> tuple[str | None, str]:
    """The Go `databricks` CLI (env DATABRICKS_CLI, .venv/bin, then PATH) or why it cannot be used."""
    candidates = [
        os.environ.get("DATABRICKS_CLI"),
        os.path.join(ROOT, ".venv", "bin", "databricks"),
        shutil.which("databricks"),
    ]
    for cli in filter(None, candidates):
        if not os.access(cli, os.X_OK):
            continue
        try:
            out = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        # The legacy pip package `databricks-cli` also installs a `databricks` command; it cannot do bundles.
        found = re.search(r"Databricks CLI v(\d+)\.(\d+)\.(\d+)", out)
        if found and tuple(map(int, found.groups())) >= MIN_CLI:
            return cli, ""
    return None, "no Databricks CLI >= v0.281.0 found (scripts/install-databricks-cli.sh builds one into .venv/bin)"


CLI, WHY_NOT = _find_cli()
pytestmark = pytest.mark.skipif(CLI is None, reason=WHY_NOT)


@pytest.fixture(scope="module")
def validated(tmp_path_factory) -> dict[str, dict]:
    """Validate every target once, from a copy of the bundle, against one stub; target -> the resolved config."""
    bundle = tmp_path_factory.mktemp("bundle")
    for name in BUNDLE_FILES:
        source = os.path.join(ROOT, name)
        if os.path.isdir(source):
            shutil.copytree(source, bundle / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(source, bundle / name)
    home = tmp_path_factory.mktemp("home")
    results = {}
    with WorkspaceStub() as stub:
        # Only the stub's credentials: no profile file, no inherited DATABRICKS_* setting.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "BUNDLE_VAR_"))}
        env.update(
            HOME=str(home),
            DATABRICKS_HOST=stub.host,
            DATABRICKS_TOKEN="stub-token",
            DATABRICKS_CONFIG_FILE=str(home / "none.cfg"),
        )
        for target in TARGETS:
            run = subprocess.run(
                [CLI, "bundle", "validate", "--target", target, "--output", "json"],
                cwd=bundle,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert run.returncode == 0, f"validate -t {target} failed:\n{run.stderr}"
            assert "Warning" not in run.stderr and "Error" not in run.stderr, run.stderr
            results[target] = json.loads(run.stdout)
    return results


@pytest.mark.parametrize("target", TARGETS)
def test_validate_accepts_the_target(validated, target):
    job = validated[target]["resources"]["jobs"]["orders"]
    assert [t["task_key"] for t in job["tasks"]] == ["orders_stage", "orders_target"]
    assert job["max_concurrent_runs"] == 1, "dev mode must not lift the one-run-at-a-time limit"
    assert job["queue"] == {"enabled": True}
    for task in job["tasks"]:
        # Notebooks deploy next to the synced src/, which they put on sys.path as ../src.
        assert task["notebook_task"]["notebook_path"].endswith(f"/files/notebooks/{task['task_key']}")


def test_dev_pauses_the_trigger_and_prefixes_names(validated):
    dev = validated["dev"]["resources"]
    assert dev["jobs"]["orders"]["trigger"]["pause_status"] == "PAUSED"
    assert dev["jobs"]["orders"]["name"] == "[dev tester] orders"
    assert dev["schemas"]["orders_schema"]["name"] == "dev_tester_orders"


def test_prod_trigger_is_active_and_names_are_as_written(validated):
    prod = validated["prod"]
    job = prod["resources"]["jobs"]["orders"]
    assert job["trigger"].get("pause_status", "UNPAUSED") == "UNPAUSED"
    assert job["name"] == "orders"
    assert prod["resources"]["schemas"]["orders_schema"]["name"] == "orders"
    assert prod["workspace"]["root_path"] == f"/Workspace/Users/{USER_NAME}/.bundle/order-tracking/prod"


@pytest.mark.parametrize("target", TARGETS)
def test_trigger_and_landing_path_point_at_the_volume_resource(validated, target):
    job = validated[target]["resources"]["jobs"]["orders"]
    volume_ref = "/Volumes/${resources.volumes.landing.catalog_name}/${resources.volumes.landing.schema_name}/${resources.volumes.landing.name}"
    params = {p["name"]: p["default"] for p in job["parameters"]}
    # References (resolved at deploy) rather than variables, so dev's schema prefix reaches the trigger too.
    assert job["trigger"]["file_arrival"]["url"] == params["landing_path"] == volume_ref + "/incoming/"


@pytest.mark.parametrize("target", TARGETS)
def test_maintenance_job_is_scheduled_weekly_one_run_at_a_time(validated, target):
    job = validated[target]["resources"]["jobs"]["orders_maintenance"]
    assert job["max_concurrent_runs"] == 1
    assert job["schedule"]["quartz_cron_expression"] == "0 0 3 ? * SUN"
    assert job["tasks"][0]["notebook_task"]["notebook_path"].endswith("/files/notebooks/orders_maintenance")
    params = {p["name"]: p["default"] for p in job["parameters"]}
    assert int(params["vacuum_retention_hours"]) >= 168
    assert params["dry_run"] == "false" and params["replay"] == ""


@pytest.mark.parametrize("target", TARGETS)
def test_dashboard_reads_the_pipelines_schema_on_the_looked_up_warehouse(validated, target):
    dashboard = validated[target]["resources"]["dashboards"]["orders_health"]
    schema = validated[target]["resources"]["schemas"]["orders_schema"]
    assert dashboard["warehouse_id"] == WAREHOUSE["id"]
    assert dashboard["dataset_schema"] in ("${resources.schemas.orders_schema.name}", schema["name"])
    datasets = json.loads(dashboard["serialized_dashboard"])["datasets"]
    assert {d["name"] for d in datasets} == {
        "files_per_day",
        "rejections_per_day",
        "quarantine_per_day",
        "merges_per_day",
        "arrival_to_merge",
    }
