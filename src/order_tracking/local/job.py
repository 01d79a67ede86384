"""Read the bundle's job definition so the local runner runs the same tasks, in the same order, with the same defaults."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
NOTEBOOK_EXTENSIONS = (".ipynb", ".py")
_MAX_DEPTH = 20  # references nest a few levels (job -> volume -> schema -> var); deeper means a cycle


class BundleError(ValueError):
    """The bundle configuration cannot be read the way the local runner needs it."""


@dataclass(frozen=True)
class TriggerSpec:
    """The job's file-arrival trigger."""

    url: str
    wait_after_last_change_seconds: int | None
    min_time_between_triggers_seconds: int | None


@dataclass(frozen=True)
class TaskSpec:
    """One notebook task: what to run, after which tasks, and how often Databricks would retry it."""

    key: str
    notebook_path: str
    depends_on: tuple[str, ...]
    max_retries: int


@dataclass(frozen=True)
class JobSpec:
    """A job as the bundle deploys it, with every `${...}` reference resolved; tasks in dependency order."""

    name: str
    tasks: tuple[TaskSpec, ...]
    parameters: dict[str, str]
    trigger: TriggerSpec | None
    max_concurrent_runs: int | None


@dataclass(frozen=True)
class _Bundle:
    name: str
    target: str
    root: str
    variables: dict[str, Any]
    resources: dict[str, dict[str, Any]]
    sources: dict[tuple[str, str], str]  # (kind, key) -> directory of the file that defines it


def _read_yaml(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise BundleError(f"{path} must contain a YAML mapping")
    return data


def _variable_values(config: Mapping[str, Any], target: str, overrides: Mapping[str, str]) -> dict[str, Any]:
    declared = config.get("variables") or {}
    # A lookup variable (the dashboard's warehouse) is resolved by the CLI against the workspace; no local job reads it.
    values = {
        name: (spec or {}).get("default", "" if "lookup" in (spec or {}) else None) for name, spec in declared.items()
    }
    target_values = (config["targets"][target] or {}).get("variables") or {}
    for name, value in {**target_values, **overrides}.items():
        if name not in declared:
            raise BundleError(f"variable {name!r} is not declared in databricks.yml")
        # A target may give either the value itself or {default: value}, as the CLI accepts both.
        values[name] = value["default"] if isinstance(value, dict) and "default" in value else value
    missing = sorted(name for name, value in values.items() if value is None)
    if missing:
        raise BundleError(f"variables without a value for target {target!r}: {', '.join(missing)}")
    return values


def _refuse_resource_overrides(target: str, overrides: Mapping[str, Any]) -> None:
    """Refuse target overrides of resources, except `lifecycle`, which changes nothing the local job runs.

    They merge by rules (tasks by task_key, ...) this loader does not reproduce, and running something other
    than what would be deployed is worse than refusing."""
    for kind, items in overrides.items():
        for key, definition in (items or {}).items():
            if set(definition or {}) - {"lifecycle"}:
                raise BundleError(f"target {target!r} overrides resources.{kind}.{key}; the local loader cannot")


def _load_bundle(repo_root: str, target: str, overrides: Mapping[str, str]) -> _Bundle:
    root = os.path.abspath(repo_root)
    config = _read_yaml(os.path.join(root, "databricks.yml"))
    targets = config.get("targets") or {}
    if target not in targets:
        raise BundleError(f"unknown target {target!r}; databricks.yml defines: {', '.join(sorted(targets))}")
    _refuse_resource_overrides(target, (targets[target] or {}).get("resources") or {})

    files = [os.path.join(root, "databricks.yml")]
    for pattern in config.get("include") or []:
        files.extend(sorted(glob.glob(os.path.join(root, pattern))))
    resources: dict[str, dict[str, Any]] = {}
    sources: dict[tuple[str, str], str] = {}
    for path in files:
        data = config if path == files[0] else _read_yaml(path)
        for kind, items in (data.get("resources") or {}).items():
            for key, definition in (items or {}).items():
                if key in resources.setdefault(kind, {}):
                    raise BundleError(f"resources.{kind}.{key} is defined twice (again in {path})")
                resources[kind][key] = definition
                sources[(kind, key)] = os.path.dirname(path)
    return _Bundle(
        name=config["bundle"]["name"],
        target=target,
        root=root,
        variables=_variable_values(config, target, overrides),
        resources=resources,
        sources=sources,
    )


def _lookup(bundle: _Bundle, reference: str) -> Any:
    parts = reference.split(".")
    if parts[0] == "var" and len(parts) == 2 and parts[1] in bundle.variables:
        return bundle.variables[parts[1]]
    if parts[:2] == ["bundle", "name"] and len(parts) == 2:
        return bundle.name
    if parts[:2] == ["bundle", "target"] and len(parts) == 2:
        return bundle.target
    if reference == "workspace.file_path":
        # Where deploy syncs the bundle's root folder to; locally the files are the checkout itself.
        return bundle.root
    if parts[0] == "resources" and len(parts) == 4:
        definition = bundle.resources.get(parts[1], {}).get(parts[2])
        if isinstance(definition, dict) and parts[3] in definition:
            return definition[parts[3]]
    raise BundleError(f"cannot resolve ${{{reference}}} locally")


def _resolve(bundle: _Bundle, value: Any, depth: int = 0) -> Any:
    """Replace every `${...}` in value, recursively; a string that is exactly one reference keeps the target's type."""
    if depth > _MAX_DEPTH:
        raise BundleError(f"reference cycle while resolving {value!r}")
    if isinstance(value, dict):
        return {key: _resolve(bundle, item, depth) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(bundle, item, depth) for item in value]
    if not isinstance(value, str):
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        return _resolve(bundle, _lookup(bundle, whole.group(1)), depth + 1)
    return _REFERENCE.sub(lambda m: str(_resolve(bundle, _lookup(bundle, m.group(1)), depth + 1)), value)


def _notebook_file(base_dir: str, notebook_path: str) -> str:
    path = os.path.normpath(os.path.join(base_dir, notebook_path))
    # The CLI accepts a notebook path with or without its extension; locally we need the file.
    found = [path + ext for ext in NOTEBOOK_EXTENSIONS if not path.endswith(ext) and os.path.exists(path + ext)]
    return path if path.endswith(NOTEBOOK_EXTENSIONS) or not found else found[0]


def _in_dependency_order(tasks: list[TaskSpec]) -> tuple[TaskSpec, ...]:
    by_key = {task.key: task for task in tasks}
    for task in tasks:
        for upstream in task.depends_on:
            if upstream not in by_key:
                raise BundleError(f"task {task.key!r} depends on unknown task {upstream!r}")
    ordered: list[TaskSpec] = []
    done: set[str] = set()
    while len(ordered) < len(tasks):
        # Stable: among ready tasks, keep the order the YAML lists them in.
        ready = [t for t in tasks if t.key not in done and set(t.depends_on) <= done]
        if not ready:
            raise BundleError(f"tasks depend on each other in a cycle: {sorted(set(by_key) - done)}")
        ordered.append(ready[0])
        done.add(ready[0].key)
    return tuple(ordered)


def _trigger(raw: Mapping[str, Any] | None) -> TriggerSpec | None:
    file_arrival = (raw or {}).get("file_arrival")
    if not file_arrival:
        return None
    return TriggerSpec(
        url=str(file_arrival["url"]),
        wait_after_last_change_seconds=file_arrival.get("wait_after_last_change_seconds"),
        min_time_between_triggers_seconds=file_arrival.get("min_time_between_triggers_seconds"),
    )


def load_job(
    repo_root: str, target: str = "dev", overrides: Mapping[str, str] | None = None, job_key: str = "orders"
) -> JobSpec:
    """Load resources.jobs.<job_key> for a target, resolving variables (overrides win over defaults) and references."""
    bundle = _load_bundle(repo_root, target, overrides or {})
    if job_key not in bundle.resources.get("jobs", {}):
        raise BundleError(f"the bundle defines no job {job_key!r}")
    job = _resolve(bundle, bundle.resources["jobs"][job_key])
    base_dir = bundle.sources[("jobs", job_key)]
    tasks = []
    for task in job.get("tasks") or []:
        if "notebook_task" not in task:
            raise BundleError(
                f"task {task.get('task_key')!r} is not a notebook task; the local runner only runs notebooks"
            )
        tasks.append(
            TaskSpec(
                key=task["task_key"],
                notebook_path=_notebook_file(base_dir, task["notebook_task"]["notebook_path"]),
                depends_on=tuple(dep["task_key"] for dep in task.get("depends_on") or []),
                max_retries=int(task.get("max_retries") or 0),
            )
        )
    return JobSpec(
        name=job.get("name", job_key),
        tasks=_in_dependency_order(tasks),
        parameters={p["name"]: str(p.get("default", "")) for p in job.get("parameters") or []},
        trigger=_trigger(job.get("trigger")),
        max_concurrent_runs=job.get("max_concurrent_runs"),
    )


def local_parameters(
    spec: JobSpec,
    landing: str,
    archive: str,
    rejected: str,
    catalog: str = "spark_catalog",
    schema: str = "orders",
    settle_seconds: float | str | None = None,
) -> dict[str, str]:
    """The job's parameter defaults with the workspace catalog, schema and volume paths swapped for local ones."""
    local = {
        "catalog": catalog,
        "schema": schema,
        "landing_path": landing,
        "archive_path": archive,
        "rejected_path": rejected,
    }
    if settle_seconds is not None:
        local["settle_seconds"] = settle_seconds if isinstance(settle_seconds, str) else f"{settle_seconds:g}"
    unknown = sorted(set(local) - set(spec.parameters))
    if unknown:
        # Setting a parameter the job does not pass would hide a drift between the bundle and the runner.
        raise BundleError(f"job {spec.name!r} has no parameters {unknown}")
    return {**spec.parameters, **{name: str(value) for name, value in local.items()}}
