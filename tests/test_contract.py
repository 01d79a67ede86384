"""The CSV contract, without Spark."""

from __future__ import annotations

import pytest

from order_tracking.contract import check_header, extra_columns, normalize_column_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tracking_num", "tracking_num"),
        (" Tracking Num ", "tracking_num"),
        ("\ufeffTRACKING-NUM", "tracking_num"),
        ("Status TS", "status_ts"),
        ("__x__", "x"),
        ("   ", ""),
    ],
)
def test_column_names_match_whatever_their_case_spacing_or_bom(raw: str, expected: str) -> None:
    assert normalize_column_name(raw) == expected


def test_a_header_in_any_order_with_extras_is_accepted() -> None:
    check = check_header(["Status", "order_id", "Tracking Num", "Carrier"])
    assert check.ok
    assert check.columns == ("status", "order_id", "tracking_num", "carrier")
    assert extra_columns(check.columns) == ("carrier",)


@pytest.mark.parametrize(
    ("fields", "reason_part"),
    [
        (None, "no header row"),
        ([""], "no header row"),
        (["tracking_num;order_id;status"], "';'"),
        (["tracking_num\torder_id\tstatus"], "'\\t'"),
        (["tracking_num", "order_id"], "missing required column(s) ['status']"),
        (["00123", "1", "Shipped"], "missing required column(s)"),
        (["tracking_num", "order_id", "status", "Status"], "repeats column(s) ['status']"),
        (["tracking_num", "", "order_id", "status"], "blank column name"),
    ],
)
def test_bad_headers_are_rejected_with_a_precise_reason(fields, reason_part: str) -> None:
    check = check_header(fields)
    assert not check.ok
    assert reason_part in check.reason
