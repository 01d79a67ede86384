"""`databricks bundle validate` for every target, against the CLI's own fake workspace (skipped without Go or the CLI)."""

from __future__ import annotations

import json

import pytest
import yaml

from fake_workspace import ROOT, WHY_SKIP, copy_bundle, fake_workspace

with open(ROOT / "databricks.yml", encoding="utf-8") as _config:
    TARGETS = tuple(yaml.safe_load(_config)["targets"])

pytestmark = pytest.mark.skipif(bool(WHY_SKIP), reason=WHY_SKIP)


@pytest.fixture(scope="module")
def validated(tmp_path_factory) -> dict[str, dict]:
    """Validate every target once, from a copy of the bundle, against one fake workspace; target -> resolved config."""
    scratch = tmp_path_factory.mktemp("validate")
    bundle = copy_bundle(scratch / "bundle")
    results = {}
    with fake_workspace(scratch) as ws:
        for target in TARGETS:
            run = ws.cli("bundle", "validate", "--target", target, "--output", "json", cwd=bundle)
            assert run.returncode == 0, f"validate -t {target} failed:\n{run.stderr}"
            assert "Warning" not in run.stderr and "Error" not in run.stderr, run.stderr
            results[target] = json.loads(run.stdout)
        results["user"] = ws.get("/api/2.0/preview/scim/v2/Me")[1]["userName"]
        results["warehouse_id"] = ws.warehouse_id
    return results


@pytest.mark.parametrize("target", TARGETS)
def test_validate_accepts_the_target(validated, target):
    job = validated[target]["resources"]["jobs"]["orders"]
    assert [t["task_key"] for t in job["tasks"]] == ["orders_stage", "orders_target"]
    assert job["max_concurrent_runs"] == 1, "dev mode must not lift the one-run-at-a-time limit"
    assert job["queue"] == {"enabled": True}
    for task in job["tasks"]:
        # Deployed as workspace notebooks (extension dropped) in the synced files, where package_path points.
        assert task["notebook_task"]["notebook_path"].endswith(f"/files/notebooks/{task['task_key']}")
    files = validated[target]["workspace"]["file_path"]
    assert {p["name"]: p["default"] for p in job["parameters"]}["package_path"] == f"{files}/src"


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
    assert prod["workspace"]["root_path"] == f"/Workspace/Users/{validated['user']}/.bundle/order-tracking/prod"
    for kind, key in (("schemas", "orders_schema"), ("volumes", "landing")):
        assert prod["resources"][kind][key]["lifecycle"] == {"prevent_destroy": True}, f"{kind}.{key} unguarded"


def test_dev_can_be_destroyed(validated):
    dev = validated["dev"]["resources"]
    assert all(
        "lifecycle" not in dev[kind][key] for kind, key in (("schemas", "orders_schema"), ("volumes", "landing"))
    )


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
    assert dashboard["warehouse_id"] == validated["warehouse_id"]
    assert dashboard["dataset_schema"] in ("${resources.schemas.orders_schema.name}", schema["name"])
    datasets = json.loads(dashboard["serialized_dashboard"])["datasets"]
    assert {d["name"] for d in datasets} == {
        "files_per_day",
        "rejections_per_day",
        "quarantine_per_day",
        "merges_per_day",
        "arrival_to_merge",
    }
