"""A local stand-in for the parts of `dbutils` the notebooks use, with Databricks' semantics."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class WidgetNotDefined(KeyError):
    """Raised like Databricks' InputWidgetNotDefined when a notebook reads a parameter nobody passed."""


class NotebookExit(Exception):
    """`dbutils.notebook.exit(value)` stops the notebook; the runner catches this and keeps the value."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class Widgets:
    """Job parameters, read the way a notebook task reads them."""

    def __init__(self, parameters: Mapping[str, str]) -> None:
        self._values = {k: str(v) for k, v in parameters.items()}
        self.read: set[str] = set()

    def text(self, name: str, default_value: str = "", label: str | None = None) -> None:
        self._values.setdefault(name, default_value)

    def get(self, name: str) -> str:
        if name not in self._values:
            raise WidgetNotDefined(f"No input widget named {name} is defined")
        self.read.add(name)
        return self._values[name]

    def getAll(self) -> dict[str, str]:  # noqa: N802 - Databricks' name
        return dict(self._values)


class TaskValues:
    """`dbutils.jobs.taskValues`, shared by every task of one local job run. Values must be JSON."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], Any] = {}
        self.current_task = ""

    def set(self, key: str, value: Any) -> None:
        self._values[(self.current_task, key)] = json.loads(json.dumps(value))

    def get(self, taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:  # noqa: N803
        return self._values.get((taskKey, key), default)


@dataclass
class _Jobs:
    taskValues: TaskValues  # noqa: N815 - Databricks' name


class _Notebook:
    def exit(self, value: str) -> None:
        raise NotebookExit(value)


class _Fs:
    """`dbutils.fs` for local paths; the pipeline itself moves files with os/shutil."""

    def mv(self, source: str, destination: str, recurse: bool = False) -> bool:
        shutil.move(source, destination)
        return True


class LocalDbutils:
    """What a notebook sees as `dbutils` when the local runner executes it."""

    def __init__(self, parameters: Mapping[str, str], task_values: TaskValues) -> None:
        self.widgets = Widgets(parameters)
        self.jobs = _Jobs(task_values)
        self.notebook = _Notebook()
        self.fs = _Fs()
