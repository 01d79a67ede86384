"""Job parameters turned into validated, frozen configuration objects."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

# Conservative on purpose: names are interpolated into SQL, so anything beyond letters, digits,
# underscore and hyphen (quotes, backticks, spaces, semicolons) is refused before any SQL runs.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,254}")

STAGE_PARAMETERS = (
    "catalog",
    "schema",
    "landing_path",
    "archive_path",
    "rejected_path",
    "settle_seconds",
    "max_wait_seconds",
)
TARGET_PARAMETERS = ("catalog", "schema")


class ConfigError(ValueError):
    """A job parameter is missing or unsafe."""


class Widgets(Protocol):
    """The part of `dbutils.widgets` the notebooks use."""

    def get(self, name: str) -> str: ...


def validate_identifier(value: str, what: str) -> str:
    """Return `value` if it is a safe catalog/schema/table name, else raise ConfigError."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ConfigError(
            f"{what} {value!r} is not a valid identifier: use letters, digits, '_' or '-' (at most 255 characters)"
        )
    return value


def quote_identifier(name: str) -> str:
    """Backtick-quote a name that validate_identifier accepted."""
    return f"`{validate_identifier(name, 'name')}`"


@dataclass(frozen=True)
class Tables:
    """Fully qualified, quoted names of every table the pipeline owns."""

    catalog: str
    schema: str

    def __post_init__(self) -> None:
        validate_identifier(self.catalog, "catalog")
        validate_identifier(self.schema, "schema")

    def name(self, table: str) -> str:
        return f"{quote_identifier(self.catalog)}.{quote_identifier(self.schema)}.{quote_identifier(table)}"

    @property
    def stage(self) -> str:
        return self.name("orders_stage")

    @property
    def quarantine(self) -> str:
        return self.name("orders_quarantine")

    @property
    def file_log(self) -> str:
        """One row per landed file per batch: the stage task's commit record."""
        return self.name("orders_file_log")

    @property
    def merge_log(self) -> str:
        """One row per stage batch merged into the target."""
        return self.name("orders_merge_log")

    @property
    def target(self) -> str:
        return self.name("orders_target")


def _is_inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _seconds(params: Mapping[str, str], name: str, default: float) -> float:
    raw = params.get(name, "")
    if raw in ("", None):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or str(value).strip() == "":
        raise ConfigError(f"job parameter {name!r} is required")
    return str(value).strip()


@dataclass(frozen=True)
class StageConfig:
    """Everything task 1 needs: where files land, where they go, and the tables."""

    tables: Tables
    landing_path: str
    archive_path: str
    rejected_path: str
    settle_seconds: float = 30.0
    max_wait_seconds: float = 300.0

    def __post_init__(self) -> None:
        # The file-arrival trigger watches the landing folder recursively: a move into a subfolder
        # would fire the job again and, worse, the next run would list archived files as new.
        for name, path in (("archive_path", self.archive_path), ("rejected_path", self.rejected_path)):
            if _is_inside(path, self.landing_path):
                raise ConfigError(f"{name} {path!r} must be outside landing_path {self.landing_path!r}")
            if _is_inside(self.landing_path, path):
                raise ConfigError(f"landing_path {self.landing_path!r} must not be inside {name} {path!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> StageConfig:
        return cls(
            tables=Tables(_required(params, "catalog"), _required(params, "schema")),
            landing_path=_required(params, "landing_path"),
            archive_path=_required(params, "archive_path"),
            rejected_path=_required(params, "rejected_path"),
            settle_seconds=_seconds(params, "settle_seconds", 30.0),
            max_wait_seconds=_seconds(params, "max_wait_seconds", 300.0),
        )

    @classmethod
    def from_widgets(cls, widgets: Widgets) -> StageConfig:
        return cls.from_params({name: widgets.get(name) for name in STAGE_PARAMETERS})


@dataclass(frozen=True)
class TargetConfig:
    """Everything task 2 needs: the tables."""

    tables: Tables

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> TargetConfig:
        return cls(tables=Tables(_required(params, "catalog"), _required(params, "schema")))

    @classmethod
    def from_widgets(cls, widgets: Widgets) -> TargetConfig:
        return cls.from_params({name: widgets.get(name) for name in TARGET_PARAMETERS})
