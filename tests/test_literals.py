"""A few Python rows as SQL literals: the same rows `createDataFrame` gives, whatever the text holds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from order_tracking.literals import local_rows, sql_literal
from order_tracking.maintenance import append_to_log, data_files
from order_tracking.tables import sql_string

COLUMNS = [("name", "STRING"), ("at", "TIMESTAMP"), ("size", "BIGINT"), ("note", "STRING")]
HOSTILE_TEXT = [
    "it's",
    'say "hi"',
    "back\\slash \\' \\\\",
    "line\nbreak\ttab\r",
    "${spark.app.name} ${y} $x",
    "?, :name, -- not a comment; /* nor this */",
    "nul\x00byte",
    "é 日本 🚚",
    "",
]


def test_rows_are_the_ones_create_dataframe_gives(spark):
    rows = [
        (text, datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc), 2**40 + i, None if i % 2 else text)
        for i, text in enumerate(HOSTILE_TEXT)
    ]
    rows.append((None, datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))), None, "offset"))
    rows.append(("naive time is local time", datetime(2026, 6, 1, 12, 0, 0, 1), -1, None))
    schema = ", ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS)

    assert local_rows(spark, COLUMNS, rows).collect() == spark.createDataFrame(rows, schema).collect()


def test_a_lone_surrogate_becomes_the_replacement_character_as_create_dataframe_makes_it(spark):
    name = "orders\udcff.csv"  # os.listdir's way of keeping a byte that is not UTF-8
    [got] = local_rows(spark, [("name", "STRING")], [(name,)]).collect()
    [expected] = spark.createDataFrame([(name,)], "name STRING").collect()

    assert got == expected
    assert got.name == "orders\ufffd.csv"


def test_a_quoted_string_literal_reaches_spark_unchanged(spark):
    for text in HOSTILE_TEXT:
        assert spark.sql(f"SELECT {sql_string(text)} AS text").first().text == text


def test_a_literal_holds_no_quote_or_dollar_sign():
    for text in HOSTILE_TEXT:
        literal = sql_literal(text)
        assert literal.startswith("X'") and not any(c in literal[2:-1] for c in "'\\$?:\n")


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "NULL"),
        (True, "TRUE"),
        (7, "7L"),
        (datetime(2026, 1, 2, tzinfo=timezone.utc), "TIMESTAMP '2026-01-02T00:00:00+00:00'"),
    ],
)
def test_other_literals(value, literal):
    assert sql_literal(value) == literal


def test_a_type_without_a_literal_is_refused():
    with pytest.raises(TypeError, match="float"):
        sql_literal(1.5)


def test_rows_must_match_the_columns(spark):
    with pytest.raises(ValueError, match="at least one row"):
        local_rows(spark, COLUMNS, [])
    with pytest.raises(ValueError, match="4 values"):
        local_rows(spark, COLUMNS, [("a", None, 1)])


def test_a_log_append_writes_one_file_and_nothing_for_no_rows(spark, ws):
    table = ws.tables.name("literal_log")
    spark.sql(
        f"CREATE TABLE {table} (name STRING NOT NULL, at TIMESTAMP NOT NULL, size BIGINT, note STRING) USING delta"
    )
    at = datetime(2026, 1, 2, tzinfo=timezone.utc)

    append_to_log(spark, table, [(f"f{i}.csv", at, i, HOSTILE_TEXT[i]) for i in range(5)])
    append_to_log(spark, table, [])

    assert data_files(spark, table) == 1
    assert spark.sql(f"DESCRIBE HISTORY {table}").count() == 2  # the creation and one append
    assert sorted(r.note for r in spark.table(table).collect()) == sorted(HOSTILE_TEXT[:5])


def test_a_log_append_keeps_the_table_constraints(spark, ws):
    table = ws.tables.name("strict_log")
    spark.sql(f"CREATE TABLE {table} (name STRING NOT NULL, at TIMESTAMP NOT NULL) USING delta")

    with pytest.raises(Exception, match="(?i)null"):
        append_to_log(spark, table, [(None, datetime(2026, 1, 2, tzinfo=timezone.utc))])
    assert spark.table(table).count() == 0
