"""The maintenance job and the health dashboard as the bundle ships them (no Spark)."""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace

import pytest
import yaml

from order_tracking import environment
from order_tracking.health import QUERIES, dashboard_json, query_lines
from order_tracking.local.job import load_job
from order_tracking.local.runner import code_cells
from order_tracking.upkeep import MIN_VACUUM_HOURS, UPKEEP_PARAMETERS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DASHBOARD = os.path.join(ROOT, "resources", "orders_health.lvdash.json")


def test_the_dashboards_queries_are_exactly_the_packages_sql():
    with open(DASHBOARD, encoding="utf-8") as handle:
        shipped = json.load(handle)
    assert {d["name"]: "".join(d["queryLines"]) for d in shipped["datasets"]} == QUERIES
    for dataset in shipped["datasets"]:
        assert dataset["queryLines"] == query_lines(QUERIES[dataset["name"]])


def test_the_shipped_dashboard_file_is_the_generated_one():
    with open(DASHBOARD, encoding="utf-8") as handle:
        assert handle.read() == dashboard_json(), "regenerate it: python -c 'from order_tracking.health import ...'"


def test_every_widget_reads_a_dataset_and_fields_it_has():
    shipped = json.loads(dashboard_json())
    names = {d["name"] for d in shipped["datasets"]}
    for item in shipped["pages"][0]["layout"]:
        query = item["widget"]["queries"][0]["query"]
        assert query["datasetName"] in names
        sql = QUERIES[query["datasetName"]]
        for field in query["fields"]:
            column = field["expression"].split("`")[1]
            assert f" AS {column}" in sql or f"  {column}," in sql, (query["datasetName"], column)


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_the_maintenance_notebook_reads_exactly_the_parameters_its_job_passes(target, monkeypatch):
    spec = load_job(ROOT, target, job_key="orders_maintenance")
    assert spec.max_concurrent_runs == 1
    assert [t.key for t in spec.tasks] == ["orders_maintenance"]
    assert int(spec.parameters["vacuum_retention_hours"]) >= MIN_VACUUM_HOURS
    read: list[str] = []

    def get(name: str) -> str:
        read.append(name)
        return spec.parameters[name]

    widgets = SimpleNamespace(text=lambda *a, **k: None, get=get)
    notebook = spec.tasks[0].notebook_path
    setup = code_cells(notebook)[0]
    monkeypatch.chdir(os.path.dirname(notebook))
    monkeypatch.setattr(sys, "path", list(sys.path))
    spark = SimpleNamespace()  # the environment check only looks at the session's type
    monkeypatch.setattr(environment, "require_supported_environment", lambda session: None)
    exec(compile(setup, notebook, "exec"), {"dbutils": SimpleNamespace(widgets=widgets), "spark": spark})
    assert set(read) == {*UPKEEP_PARAMETERS, "package_path"} == set(spec.parameters)


def test_the_schedule_and_retentions_are_bundle_variables():
    with open(os.path.join(ROOT, "databricks.yml"), encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)["variables"]
    assert variables["vacuum_retention_hours"]["default"] == "168"
    assert int(variables["stage_retention_days"]["default"]) >= 7
    assert int(variables["archive_retention_days"]["default"]) >= int(variables["stage_retention_days"]["default"])
