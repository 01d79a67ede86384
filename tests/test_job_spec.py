"""load_job reads the bundle the way the CLI would; local_parameters swaps in the local catalog and folders."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from order_tracking.local.job import BundleError, TaskSpec, TriggerSpec, load_job, local_parameters

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOLUME = "/Volumes/main/orders/landing"


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_the_real_bundle_resolves_to_the_documented_job(target):
    spec = load_job(ROOT, target)

    assert spec.name == "orders"
    assert spec.tasks == (
        TaskSpec("orders_stage", os.path.join(ROOT, "notebooks", "orders_stage.ipynb"), (), 2),
        TaskSpec("orders_target", os.path.join(ROOT, "notebooks", "orders_target.ipynb"), ("orders_stage",), 2),
    )
    assert spec.parameters == {
        "catalog": "main",
        "schema": "orders",
        "landing_path": f"{VOLUME}/incoming/",
        "archive_path": f"{VOLUME}/archive/",
        "rejected_path": f"{VOLUME}/rejected/",
        "settle_seconds": "30",
        "max_wait_seconds": "300",
        # ${workspace.file_path}/src: deployed, the synced copy; locally, the checkout's own src/
        "package_path": os.path.join(ROOT, "src"),
    }
    assert spec.trigger == TriggerSpec(f"{VOLUME}/incoming/", 60, 60)
    assert spec.max_concurrent_runs == 1


def test_overrides_flow_through_schema_and_volume_references():
    spec = load_job(ROOT, "dev", overrides={"catalog": "qa", "schema": "tracking", "volume": "drop"})

    assert spec.trigger.url == "/Volumes/qa/tracking/drop/incoming/"
    assert spec.parameters["archive_path"] == "/Volumes/qa/tracking/drop/archive/"
    assert (spec.parameters["catalog"], spec.parameters["schema"]) == ("qa", "tracking")


def test_an_unknown_override_or_target_is_an_error_not_a_silent_default():
    with pytest.raises(BundleError, match="not declared"):
        load_job(ROOT, "dev", overrides={"catalgo": "qa"})
    with pytest.raises(BundleError, match="unknown target 'staging'"):
        load_job(ROOT, "staging")


def test_local_parameters_replace_workspace_locations_and_keep_the_rest():
    spec = load_job(ROOT)

    params = local_parameters(spec, ".local/landing", ".local/archive", ".local/rejected", settle_seconds=0)

    assert params == {
        "catalog": "spark_catalog",
        "schema": "orders",
        "landing_path": ".local/landing",
        "archive_path": ".local/archive",
        "rejected_path": ".local/rejected",
        "settle_seconds": "0",
        "max_wait_seconds": "300",
        "package_path": os.path.join(ROOT, "src"),
    }
    assert spec.parameters["catalog"] == "main", "the spec itself is left alone"


def test_local_parameters_keep_the_job_default_settle_time_unless_given():
    params = local_parameters(load_job(ROOT), "l", "a", "r", catalog="c", schema="s")
    assert (params["settle_seconds"], params["catalog"], params["schema"]) == ("30", "c", "s")
    assert local_parameters(load_job(ROOT), "l", "a", "r", settle_seconds=2.5)["settle_seconds"] == "2.5"


def _bundle(tmp_path: Path, job_yaml: str, extra: str = "") -> str:
    (tmp_path / "resources").mkdir()
    (tmp_path / "databricks.yml").write_text(
        textwrap.dedent(
            """\
            bundle: {name: t}
            include: [resources/*.yml]
            variables:
              where: {default: here}
            targets:
              dev: {default: true}
              other:
                variables: {where: there}
            """
        )
        + extra
    )
    (tmp_path / "resources" / "j.job.yml").write_text(textwrap.dedent(job_yaml))
    return str(tmp_path)


def _tasks(*specs: tuple[str, list[str]]) -> str:
    lines = ["resources:", "  jobs:", "    orders:", "      name: j-${var.where}", "      tasks:"]
    for key, deps in specs:
        lines += [f"        - task_key: {key}", f"          notebook_task: {{notebook_path: ../nb/{key}.py}}"]
        if deps:
            lines.append("          depends_on: [" + ", ".join(f"{{task_key: {d}}}" for d in deps) + "]")
    return "\n".join(lines) + "\n"


def test_tasks_come_out_in_dependency_order_whatever_the_yaml_order(tmp_path):
    root = _bundle(tmp_path, _tasks(("c", ["b"]), ("b", ["a"]), ("a", []), ("d", ["a"])))

    spec = load_job(root)

    assert [t.key for t in spec.tasks] == ["a", "b", "c", "d"]
    assert spec.tasks[0].notebook_path == str(tmp_path / "nb" / "a.py")
    assert spec.trigger is None and spec.parameters == {} and spec.tasks[0].max_retries == 0


def test_a_dependency_cycle_or_unknown_task_is_reported(tmp_path):
    (tmp_path / "x").mkdir(), (tmp_path / "y").mkdir()
    with pytest.raises(BundleError, match="cycle"):
        load_job(_bundle(tmp_path / "x", _tasks(("a", ["b"]), ("b", ["a"]))))
    with pytest.raises(BundleError, match="unknown task 'z'"):
        load_job(_bundle(tmp_path / "y", _tasks(("a", ["z"]))))


def test_target_variables_override_defaults(tmp_path):
    root = _bundle(tmp_path, _tasks(("a", [])))
    assert load_job(root, "dev").name == "j-here"
    assert load_job(root, "other").name == "j-there"
    assert load_job(root, "other", overrides={"where": "cli"}).name == "j-cli"


def test_target_resource_overrides_are_refused_rather_than_half_applied(tmp_path):
    extra = "  patched:\n    resources: {jobs: {orders: {max_concurrent_runs: 5}}}\n"
    root = _bundle(tmp_path, _tasks(("a", [])), extra=extra)
    with pytest.raises(BundleError, match="overrides resources.jobs.orders"):
        load_job(root, "patched")


def test_a_target_may_set_lifecycle_which_changes_nothing_the_job_runs(tmp_path):
    extra = "  guarded:\n    resources: {jobs: {orders: {lifecycle: {prevent_destroy: true}}}}\n"
    root = _bundle(tmp_path, _tasks(("a", [])), extra=extra)
    assert load_job(root, "guarded") == load_job(root, "dev")


def test_workspace_file_path_is_the_bundle_root_locally(tmp_path):
    root = _bundle(
        tmp_path, _tasks(("a", [])) + "      parameters: [{name: code, default: '${workspace.file_path}/src'}]\n"
    )
    assert load_job(root).parameters == {"code": os.path.join(str(tmp_path), "src")}


def test_a_notebook_path_without_extension_finds_the_ipynb(tmp_path):
    root = _bundle(tmp_path, _tasks(("a", [])).replace("../nb/a.py", "../nb/a"))
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "a.ipynb").write_text("{}")
    assert load_job(root).tasks[0].notebook_path == str(tmp_path / "nb" / "a.ipynb")


def test_a_reference_the_loader_cannot_resolve_is_an_error(tmp_path):
    root = _bundle(tmp_path, _tasks(("a", [])).replace("j-${var.where}", "${workspace.current_user.userName}"))
    with pytest.raises(BundleError, match="cannot resolve"):
        load_job(root)
