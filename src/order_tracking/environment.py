"""Stop a notebook at its first line when the Spark client is older than the pipeline needs, saying so in one line.

Which client a serverless notebook gets is its environment version (pinned in each notebook's environmentMetadata).
On an older one the pipeline would fail late and obscurely: no `Column.try_cast` (environment 1), or a MERGE that
commits and then cannot report its metrics (environments 2 and 3), so every later run fails the same way.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from importlib import metadata

from pyspark.sql import SparkSession

REQUIRED = (
    "serverless environment version 4 or later (Databricks Connect 17+, Spark 4.0+) or Databricks Runtime 17.3 LTS+"
)
MIN_DATABRICKS_CONNECT = (17, 0)
MIN_PYSPARK = (4, 0)
# (class, method) the pipeline calls; absent on clients older than the versions above.
REQUIRED_METHODS = (
    ("Column", "try_cast"),
    ("DataFrame", "observe"),
    ("DeltaMergeBuilder", "withSchemaEvolution"),
)


class UnsupportedEnvironment(RuntimeError):
    """The notebook runs on a Spark client the pipeline does not support."""


@dataclass(frozen=True)
class Client:
    """The running client: its versions, and the classes whose methods the pipeline calls (None: not importable)."""

    python: str
    pyspark: str
    databricks_connect: str | None
    runtime: str | None
    classes: dict[str, type | None]

    def describe(self) -> str:
        parts = [f"Databricks Connect {self.databricks_connect}"] if self.databricks_connect else []
        parts += [f"PySpark {self.pyspark}", f"Python {self.python}"]
        if self.runtime:
            parts.append(f"DATABRICKS_RUNTIME_VERSION={self.runtime}")
        return ", ".join(parts)


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _client_classes(spark_connect: bool) -> dict[str, type | None]:
    # Over Spark Connect (serverless) the session hands out pyspark.sql.connect's classes and delta.connect's
    # merge builder; on a cluster the public pyspark.sql classes and delta.tables'. Importing them runs nothing.
    try:
        if spark_connect:
            from pyspark.sql.connect.column import Column
            from pyspark.sql.connect.dataframe import DataFrame
        else:
            from pyspark.sql import Column, DataFrame
    except ImportError:
        Column = DataFrame = None  # noqa: N806 - the class names they stand for
    try:
        if spark_connect:
            from delta.connect.tables import DeltaMergeBuilder
        else:
            from delta.tables import DeltaMergeBuilder
    except ImportError:
        DeltaMergeBuilder = None  # noqa: N806
    return {"Column": Column, "DataFrame": DataFrame, "DeltaMergeBuilder": DeltaMergeBuilder}


def detect_client(spark: SparkSession) -> Client:
    """Versions and classes of the client `spark` belongs to, without calling the session."""
    import pyspark

    return Client(
        python=platform.python_version(),
        pyspark=pyspark.__version__,
        databricks_connect=_installed_version("databricks-connect"),
        runtime=os.environ.get("DATABRICKS_RUNTIME_VERSION"),
        classes=_client_classes(type(spark).__module__.startswith("pyspark.sql.connect")),
    )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def problems(client: Client) -> list[str]:
    """What rules this client out: a version below the minimum, and each required method it lacks."""
    found = []
    if client.databricks_connect:
        if _version(client.databricks_connect) < MIN_DATABRICKS_CONNECT:
            found.append(f"Databricks Connect {client.databricks_connect} is older than 17")
    elif _version(client.pyspark) < MIN_PYSPARK:
        found.append(f"PySpark {client.pyspark} is older than 4.0")
    for class_name, method in REQUIRED_METHODS:
        cls = client.classes.get(class_name)
        if cls is None or not callable(getattr(cls, method, None)):
            found.append(f"no {class_name}.{method}")
    return found


def require_supported_environment(spark: SparkSession, client: Client | None = None) -> Client:
    """Return the client if the pipeline supports it, else raise UnsupportedEnvironment with a one-line message."""
    client = client or detect_client(spark)
    found = problems(client)
    if found:
        raise UnsupportedEnvironment(
            f"order-tracking needs {REQUIRED}; this notebook runs on {client.describe()} ({'; '.join(found)}). "
            "Run the bundle's notebooks as deployed: their environmentMetadata pins environment version 4."
        )
    return client
