"""A few Python rows as a DataFrame, written into the query as SQL literals.

Why not `spark.createDataFrame(rows)`: in a classic (local) session it ships the rows through a Python worker. A
warm log append of one row took 0.95-1.44 s that way and 0.31-0.48 s as literals, the same one Spark job
(docs/decisions.md). Over Spark Connect both are a local relation. Why not bound parameters (`?`) or a `lit()` per
value: Spark's analysis of either grows with the square of the values (5,000 rows of six columns: 26 s and 187 s,
against 1.7 s as text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


def sql_literal(value: object) -> str:
    """`value` as a Spark SQL literal that neither its content nor a session setting can change.

    Text goes as its UTF-8 bytes in hex (`X'...'`, read back by a CAST to STRING): no quote or backslash to escape,
    and no `${...}` for Spark's variable substitution to replace. A lone surrogate (a file name that was not valid
    UTF-8) becomes U+FFFD, as `createDataFrame` makes it. A timestamp goes in UTC with its offset; a naive one is
    taken as local time, as `createDataFrame` takes it.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):  # before int: a bool is an int in Python
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return f"{value}L"
    if isinstance(value, str):
        return f"X'{_LONE_SURROGATE.sub(_REPLACEMENT, value).encode('utf-8').hex()}'"
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.astimezone(timezone.utc).isoformat()}'"
    raise TypeError(f"no SQL literal for a {type(value).__name__}: {value!r}")


def local_rows(spark: SparkSession, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[object]]) -> DataFrame:
    """`rows` as a DataFrame of `columns` ((name, SQL type) pairs, in the rows' order); at least one row."""
    if not rows:
        raise ValueError("local_rows needs at least one row")
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"every row must have {len(columns)} values")
    selected = ", ".join(f"CAST(col{i} AS {sql_type}) AS `{name}`" for i, (name, sql_type) in enumerate(columns, 1))
    values = ", ".join("(" + ", ".join(sql_literal(value) for value in row) + ")" for row in rows)
    return spark.sql(f"SELECT {selected} FROM VALUES {values}")
