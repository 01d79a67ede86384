"""The Databricks CLI against the fake workspace its own acceptance tests use (tests/fakeworkspace), for bundle tests.

Both are Go: the tests that use them skip where Go or a Databricks CLI is missing, and only there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
MIN_CLI = (0, 267, 0)  # databricks.yml: bundle.databricks_cli_version
BUNDLE_FILES = ("databricks.yml", ".gitignore", "resources", "notebooks", "src")
TOKEN = "fake-workspace-token"  # the fake keeps one workspace per token


def _find_cli() -> tuple[str | None, str]:
    """The Go `databricks` CLI (env DATABRICKS_CLI, .venv/bin, then PATH) or why it cannot be used."""
    candidates = [
        os.environ.get("DATABRICKS_CLI"),
        str(ROOT / ".venv" / "bin" / "databricks"),
        shutil.which("databricks"),
    ]
    for cli in filter(None, candidates):
        if not os.access(cli, os.X_OK):
            continue
        try:
            out = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        # The legacy pip package `databricks-cli` also installs a `databricks` command; it cannot do bundles.
        found = re.search(r"Databricks CLI v(\d+)\.(\d+)\.(\d+)", out)
        if found and tuple(map(int, found.groups())) >= MIN_CLI:
            return cli, ""
    return None, "no Databricks CLI >= v0.267.0 found (scripts/install-databricks-cli.sh builds one into .venv/bin)"


CLI, _NO_CLI = _find_cli()
GO = shutil.which("go")
WHY_SKIP = _NO_CLI or ("" if GO else "Go is not installed: it builds the fake workspace (tests/fakeworkspace)")


def copy_bundle(destination: Path) -> Path:
    """The bundle's files as a checkout has them, without Python caches."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in BUNDLE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(source, destination / name)
    return destination


STARTER_WAREHOUSE = "Serverless Starter Warehouse"


@dataclass
class FakeWorkspace:
    """A running fake workspace: its URL, its request log, and the CLI pointed at it."""

    url: str
    home: Path
    warehouse_id: str = ""

    def log(self) -> dict[str, list]:
        """Every API request received so far, in order, and every error the fake raised."""
        with urllib.request.urlopen(f"{self.url}/fake-workspace/log", timeout=30) as response:
            log = json.load(response)
        return {"requests": log["requests"] or [], "errors": log["errors"] or []}

    def get(self, path: str, **query: Any) -> tuple[int, Any]:
        """GET an API path as the CLI's user; (status, parsed JSON body or None)."""
        request = urllib.request.Request(
            f"{self.url}{path}?{urlencode(query)}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        try:
            return status, json.loads(body) if body else None
        except json.JSONDecodeError:
            return status, body.decode(errors="replace")

    def post(self, path: str, body: dict) -> Any:
        """POST a JSON body to an API path as the CLI's user; the parsed reply."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def cli(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run `databricks <args>` in cwd with only the fake's credentials and the direct deployment engine."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "BUNDLE_VAR_"))}
        env.update(
            HOME=str(self.home),
            DATABRICKS_HOST=self.url,
            DATABRICKS_TOKEN=TOKEN,
            DATABRICKS_CONFIG_FILE=str(self.home / "no-profiles.cfg"),
            # The default (Terraform) engine downloads Terraform first; the direct one calls the APIs itself.
            DATABRICKS_BUNDLE_ENGINE="direct",
        )
        return subprocess.run([CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


_built: list[Path] = []  # one build per test process, shared by the bundle test modules


def build_fake_workspace(destination: Path) -> Path:
    """Build tests/fakeworkspace (our main.go around the CLI module's libs/testserver), once per test process."""
    if _built and _built[0].is_file():
        return _built[0]
    binary = destination / "fakeworkspace"
    build = subprocess.run(
        [GO, "build", "-trimpath", "-o", str(binary), "."],
        cwd=ROOT / "tests" / "fakeworkspace",
        capture_output=True,
        text=True,
        timeout=900,  # the first build downloads and compiles the module's dependencies
    )
    assert build.returncode == 0, f"building tests/fakeworkspace failed:\n{build.stderr}"
    _built[:] = [binary]
    return binary


@contextlib.contextmanager
def fake_workspace(scratch: Path) -> Iterator[FakeWorkspace]:
    """Build and start a fake workspace on a loopback port; stop it afterwards (closing its stdin ends it)."""
    binary = build_fake_workspace(scratch)
    (scratch / "home").mkdir()
    with open(scratch / "fakeworkspace.log", "w") as errors:
        server = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            url = server.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), f"the fake workspace did not start: {url!r}"
            workspace = FakeWorkspace(url, scratch / "home")
            # The bundle's warehouse_id variable looks this warehouse up by name, as in a new workspace.
            workspace.warehouse_id = workspace.post("/api/2.0/sql/warehouses", {"name": STARTER_WAREHOUSE})["id"]
            yield workspace
        finally:
            server.stdin.close()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
