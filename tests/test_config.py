"""Job parameters: identifiers that could inject SQL and folder layouts the trigger cannot live with."""

from __future__ import annotations

import pytest

from order_tracking.config import ConfigError, StageConfig, Tables, TargetConfig, quote_identifier

PARAMS = {
    "catalog": "main",
    "schema": "orders",
    "landing_path": "/Volumes/main/orders/landing/incoming",
    "archive_path": "/Volumes/main/orders/landing/archive",
    "rejected_path": "/Volumes/main/orders/landing/rejected",
    "settle_seconds": "30",
    "max_wait_seconds": "300",
}


def test_valid_parameters_build_quoted_table_names() -> None:
    config = StageConfig.from_params(PARAMS)
    assert config.tables.stage == "`main`.`orders`.`orders_stage`"
    assert config.settle_seconds == 30.0
    assert TargetConfig.from_params(PARAMS).tables.target == "`main`.`orders`.`orders_target`"


@pytest.mark.parametrize("bad", ["x; DROP TABLE y", "a`b", "`main`", "main.orders", "", " ", "a b", "x'--", "é"])
@pytest.mark.parametrize("field", ["catalog", "schema"])
def test_unsafe_names_are_refused_before_any_sql(field: str, bad: str) -> None:
    with pytest.raises(ConfigError):
        TargetConfig.from_params({**PARAMS, field: bad})


def test_quote_identifier_refuses_backticks() -> None:
    with pytest.raises(ConfigError):
        quote_identifier("a`; DROP TABLE t; --")


def test_hyphenated_catalog_names_are_allowed() -> None:
    assert Tables("dev-catalog", "dev_me_orders").target == "`dev-catalog`.`dev_me_orders`.`orders_target`"


@pytest.mark.parametrize("field", ["archive_path", "rejected_path"])
def test_archive_and_rejected_inside_the_watched_folder_are_refused(field: str) -> None:
    with pytest.raises(ConfigError, match="outside landing_path"):
        StageConfig.from_params({**PARAMS, field: PARAMS["landing_path"] + "/archive"})


def test_landing_inside_archive_is_refused() -> None:
    with pytest.raises(ConfigError, match="must not be inside"):
        StageConfig.from_params({**PARAMS, "landing_path": PARAMS["archive_path"] + "/incoming"})


@pytest.mark.parametrize(("value", "message"), [("soon", "number of seconds"), ("-1", "negative")])
def test_bad_settle_seconds_are_refused(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StageConfig.from_params({**PARAMS, "settle_seconds": value})


def test_missing_parameter_is_named() -> None:
    with pytest.raises(ConfigError, match="landing_path"):
        StageConfig.from_params({k: v for k, v in PARAMS.items() if k != "landing_path"})
