"""The upload command against a loopback Files API: uploads, never overwrites, cleans up after a failed upload."""

from __future__ import annotations

from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import NotFound

from order_tracking.upload import DestinationError, main_upload, upload_files, volume_directory
from workspace_stub import WorkspaceStub

INCOMING = "/Volumes/main/orders/landing/incoming/"


@pytest.fixture
def stub():
    with WorkspaceStub() as workspace:
        workspace.add_directory(INCOMING)
        yield workspace


@pytest.fixture
def client(stub: WorkspaceStub) -> WorkspaceClient:
    # A short retry budget so a regression that makes the SDK retry fails fast instead of hanging the suite.
    return WorkspaceClient(config=Config(host=stub.host, token="x", retry_timeout_seconds=5))


@pytest.fixture
def csv(tmp_path: Path):
    def make(name: str, text: str = "tracking_number,status\nTRK001,Shipped\n") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return make


def test_upload_puts_the_exact_bytes_into_the_folder(stub, client, csv):
    local = csv("orders_1.csv", "tracking_number,status\nTRK001,Shipped\nTRK002,\n")

    [result] = upload_files(client, [local], INCOMING)

    assert (result.status, result.remote_path) == ("uploaded", INCOMING + "orders_1.csv")
    assert stub.files[INCOMING + "orders_1.csv"] == Path(local).read_bytes()


def test_destination_without_trailing_slash_means_the_same_folder(stub, client, csv):
    [result] = upload_files(client, [csv("orders_1.csv")], INCOMING.rstrip("/"))

    assert result.status == "uploaded"
    assert INCOMING + "orders_1.csv" in stub.files


def test_existing_remote_file_is_refused_and_nothing_is_sent(stub, client, csv):
    stub.files[INCOMING + "orders_1.csv"] = b"already here"

    [result] = upload_files(client, [csv("orders_1.csv")], INCOMING)

    assert result.status == "refused"
    assert "already" in result.reason
    assert stub.methods_on(INCOMING + "orders_1.csv") == ["HEAD"]
    assert stub.files[INCOMING + "orders_1.csv"] == b"already here"


def test_file_created_between_check_and_upload_is_not_overwritten(stub, client, csv, monkeypatch):
    stub.files[INCOMING + "orders_1.csv"] = b"the other uploader won"

    def looks_free(path: str):
        raise NotFound("not there (yet)")

    monkeypatch.setattr(client.files, "get_metadata", looks_free)
    [result] = upload_files(client, [csv("orders_1.csv")], INCOMING)

    assert result.status == "refused"
    assert stub.files[INCOMING + "orders_1.csv"] == b"the other uploader won"


def test_server_error_on_upload_leaves_nothing_behind_and_says_why(stub, client, csv):
    stub.fail_uploads_with, stub.store_partial = 500, True

    [result] = upload_files(client, [csv("orders_1.csv")], INCOMING)

    assert result.status == "failed"
    assert "storage backend unavailable" in result.reason
    assert "partial file was deleted" in result.reason
    assert stub.files == {}


def test_server_error_that_wrote_nothing_is_reported_as_such(stub, client, csv):
    stub.fail_uploads_with = 500

    [result] = upload_files(client, [csv("orders_1.csv")], INCOMING)

    assert result.status == "failed"
    assert result.reason.endswith("nothing was written")
    assert "DELETE" not in stub.methods_on(INCOMING + "orders_1.csv")


@pytest.mark.parametrize(
    "destination",
    [
        "/Volumes/main/orders/",  # no volume
        "/Volumes/main/orders/landing/../other/incoming/",
        "/tmp/incoming/",
        "dbfs:/Volumes/main/orders/landing/incoming/",
        "Volumes/main/orders/landing/incoming/",
        "",
    ],
)
def test_destination_outside_a_volume_folder_is_refused_before_any_request(stub, client, csv, destination):
    with pytest.raises(DestinationError):
        upload_files(client, [csv("orders_1.csv")], destination)
    assert main_upload([csv("orders_2.csv"), "--to", destination], client=client) == 2
    assert [r for r in stub.requests if r[1].startswith("/Volumes")] == []


def test_volume_directory_accepts_the_volume_root_and_subfolders():
    assert volume_directory("/Volumes/c/s/v") == "/Volumes/c/s/v/"
    assert volume_directory("/Volumes/c/s/v/incoming/2026") == "/Volumes/c/s/v/incoming/2026/"


def test_missing_destination_folder_refuses_every_file(stub, client, csv):
    results = upload_files(client, [csv("a.csv"), csv("b.csv")], "/Volumes/main/orders/landing/incomming/")

    assert [r.status for r in results] == ["refused", "refused"]
    assert "does not exist" in results[0].reason
    assert not any(method == "PUT" for method, _ in stub.requests)


@pytest.mark.parametrize(
    "name", ["_partial.csv", ".hidden.csv", "orders.csv.tmp", "orders.csv.part", "orders.csv.gz", "orders.txt"]
)
def test_names_the_pipeline_ignores_are_refused(stub, client, csv, name):
    [result] = upload_files(client, [csv(name)], INCOMING)

    assert result.status == "refused"
    assert "reads only names ending in .csv" in result.reason
    assert stub.files == {}


def test_two_local_files_with_one_name_upload_only_the_first(stub, client, tmp_path):
    first, second = tmp_path / "a" / "orders.csv", tmp_path / "b" / "orders.csv"
    for path, text in ((first, "first"), (second, "second")):
        path.parent.mkdir()
        path.write_text(text)

    results = upload_files(client, [str(first), str(second)], INCOMING)

    assert [r.status for r in results] == ["uploaded", "refused"]
    assert stub.files[INCOMING + "orders.csv"] == b"first"


def test_cli_exit_code_is_zero_only_when_every_file_was_uploaded(stub, client, csv, capsys):
    assert main_upload([csv("a.csv"), "--to", INCOMING], client=client) == 0
    assert main_upload([csv("a.csv"), csv("b.csv"), "--to", INCOMING], client=client) == 1

    out, err = capsys.readouterr()
    assert "refused" in err and INCOMING + "a.csv" in err
    assert "1 of 2 file(s) uploaded" in out
    assert set(stub.files) == {INCOMING + "a.csv", INCOMING + "b.csv"}


def test_cli_reports_a_missing_local_file(stub, client, tmp_path):
    assert main_upload([str(tmp_path / "nope.csv"), "--to", INCOMING], client=client) == 1
    assert stub.files == {}


def test_a_csv_name_in_capitals_is_uploaded_as_the_stage_task_reads_it(stub, client, csv):
    [result] = upload_files(client, [csv("ORDERS_2026.CSV")], INCOMING)

    assert result.status == "uploaded"
    assert INCOMING + "ORDERS_2026.CSV" in stub.files
