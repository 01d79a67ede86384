"""The notebooks' first check: the Spark client must be new enough, or the run stops at once with one clear line."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.connect.session import SparkSession as ConnectSession

from order_tracking.environment import Client, UnsupportedEnvironment, problems, require_supported_environment


class _Column:
    def try_cast(self, to): ...


class _DataFrame:
    def observe(self, observation, *exprs): ...


class _MergeBuilder:
    def withSchemaEvolution(self): ...  # noqa: N802 - Delta's name


class _OldColumn:  # Databricks Connect 14.3 (serverless environment 1): no try_cast
    def cast(self, to): ...


class _OldMergeBuilder:  # and a merge builder without schema evolution
    def execute(self): ...


def _client(**changes) -> Client:
    current = {
        "python": "3.12.3",
        "pyspark": "4.0.0",
        "databricks_connect": "17.2.3",
        "runtime": "client.4.9",
        "classes": {"Column": _Column, "DataFrame": _DataFrame, "DeltaMergeBuilder": _MergeBuilder},
    }
    return Client(**{**current, **changes})


def test_environment_1_is_refused_in_one_line_naming_what_was_found_and_what_is_needed():
    environment_1 = _client(
        python="3.10.12",
        pyspark="3.5.0",
        databricks_connect="14.3.7",
        runtime="client.1.13",
        classes={"Column": _OldColumn, "DataFrame": _DataFrame, "DeltaMergeBuilder": _OldMergeBuilder},
    )

    with pytest.raises(UnsupportedEnvironment) as refused:
        require_supported_environment(None, environment_1)

    message = str(refused.value)
    assert "\n" not in message
    assert "serverless environment version 4 or later" in message
    assert "Databricks Connect 14.3.7, PySpark 3.5.0, Python 3.10.12, DATABRICKS_RUNTIME_VERSION=client.1.13" in message
    assert "no Column.try_cast" in message and "no DeltaMergeBuilder.withSchemaEvolution" in message


def test_environment_3_has_every_method_but_is_refused_by_version():
    # Databricks Connect 16.4's MERGE can return no metrics row after committing; only the version shows it.
    assert problems(_client(databricks_connect="16.4.2", pyspark="3.5.2")) == [
        "Databricks Connect 16.4.2 is older than 17"
    ]


def test_a_cluster_without_databricks_connect_is_judged_by_its_pyspark():
    assert problems(_client(databricks_connect=None, pyspark="4.0.0")) == []
    assert problems(_client(databricks_connect=None, pyspark="3.5.2")) == ["PySpark 3.5.2 is older than 4.0"]


def test_a_missing_delta_client_counts_as_a_missing_method():
    classes = {"Column": _Column, "DataFrame": _DataFrame, "DeltaMergeBuilder": None}
    assert problems(_client(classes=classes)) == ["no DeltaMergeBuilder.withSchemaEvolution"]


def test_environment_4_passes():
    assert problems(_client()) == []


@pytest.mark.parametrize("session_class", [SparkSession, ConnectSession], ids=["classic", "spark-connect"])
def test_the_local_client_passes_with_its_real_classes(session_class):
    session = object.__new__(session_class)  # no JVM, no server: only the session's type is read

    client = require_supported_environment(session)

    assert client.pyspark.startswith("4.0")
    assert all(
        cls.__module__.startswith(("pyspark.sql.connect", "delta.connect")) == (session_class is ConnectSession)
        for cls in client.classes.values()
    )
