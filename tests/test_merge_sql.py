"""The merge's SQL pieces, as plain strings: no Spark needed."""

from __future__ import annotations

from order_tracking.merge import changed_condition, merge_condition, newer_condition, update_condition


def test_merge_matches_on_the_key_only() -> None:
    assert merge_condition() == "t.tracking_num = s.tracking_num"


def test_change_detection_is_null_safe_and_skips_lineage() -> None:
    condition = changed_condition(
        ["tracking_num", "status", "_batch_id", "_source_row", "_updated_at"], ["tracking_num", "status"]
    )
    assert condition == "(NOT (t.`tracking_num` <=> s.`tracking_num`) OR NOT (t.`status` <=> s.`status`))"
    assert "<>" not in condition


def test_a_column_new_to_the_target_counts_as_a_change_when_set() -> None:
    assert changed_condition(["status", "weight"], ["status"]) == (
        "(NOT (t.`status` <=> s.`status`) OR s.`weight` IS NOT NULL)"
    )


def test_newer_compares_event_time_first_then_arrival() -> None:
    newer = newer_condition()
    assert newer.startswith("((s.status_ts IS NOT NULL AND t.status_ts IS NULL) OR s.status_ts > t.status_ts")
    assert "struct(s.`_batch_id`, s.`_file_mtime`, s.`_source_file`, s.`_source_row`)" in newer
    assert update_condition(["status"], ["status"]) == f"{newer} AND (NOT (t.`status` <=> s.`status`))"


def test_the_batch_key_range_is_a_target_only_predicate_with_escaped_literals() -> None:
    assert merge_condition(("B'01", "C\\9")) == (
        "t.tracking_num BETWEEN 'B\\'01' AND 'C\\\\9' AND t.tracking_num = s.tracking_num"
    )


def test_a_dollar_sign_in_a_key_goes_as_an_escape_so_spark_cannot_substitute_it() -> None:
    assert merge_condition(("TRK${y}9", "TRK$9")) == (
        "t.tracking_num BETWEEN 'TRK\\u0024{y}9' AND 'TRK\\u00249' AND t.tracking_num = s.tracking_num"
    )
