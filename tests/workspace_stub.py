"""A loopback stand-in for the few Databricks workspace REST calls the upload command and `bundle validate` make."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

FILES = "/api/2.0/fs/files"
DIRECTORIES = "/api/2.0/fs/directories"
USER_NAME = "tester@example.com"
WAREHOUSE = {"id": "stubwarehouse01", "name": "Serverless Starter Warehouse"}  # found by the bundle's lookup


@dataclass
class WorkspaceStub:
    """In-memory volume files and directories plus a fixed current user; records every request it sees."""

    files: dict[str, bytes] = field(default_factory=dict)
    directories: set[str] = field(default_factory=set)
    workspace_folders: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    unhandled: list[tuple[str, str]] = field(default_factory=list)
    # When set, every upload answers with this HTTP status; `store_partial` keeps half the bytes first.
    fail_uploads_with: int | None = None
    store_partial: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> WorkspaceStub:
        stub = self

        class Handler(_Handler):
            workspace = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_directory(self, path: str) -> None:
        """Create a directory and its parents, as the Files API does."""
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            self.directories.add("/" + "/".join(parts[:depth]))

    def methods_on(self, path: str) -> list[str]:
        """HTTP methods the stub received for one file path."""
        return [method for method, seen in self.requests if seen == path]


class _Handler(BaseHTTPRequestHandler):
    workspace: WorkspaceStub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _reply(self, status: int, body: dict | None = None, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None or self.command == "HEAD" else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, code: str, message: str) -> None:
        self._reply(status, {"error_code": code, "message": message})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        ws = self.workspace
        body = self._body()
        with ws.lock:
            ws.requests.append((self.command, path.removeprefix(FILES).removeprefix(DIRECTORIES) or path))
            if path.startswith(FILES + "/"):
                return self._files(path.removeprefix(FILES), query, body)
            if path.startswith(DIRECTORIES + "/"):
                return self._directories(path.removeprefix(DIRECTORIES).rstrip("/"))
            if self.command == "GET" and path == "/api/2.0/preview/scim/v2/Me":
                return self._reply(
                    200, {"id": "1000", "userName": USER_NAME, "displayName": "Tester", "active": True, "groups": []}
                )
            if self.command == "GET" and path == "/api/2.0/workspace/get-status":
                return self._workspace_status(query.get("path", [""])[0])
            if self.command == "POST" and path == "/api/2.0/workspace/mkdirs":
                ws.workspace_folders.add(json.loads(body or b"{}").get("path", ""))
                return self._reply(200, {})
            if self.command == "GET" and path == "/api/2.0/sql/warehouses":
                return self._reply(200, {"warehouses": [WAREHOUSE]})
            if path == "/.well-known/databricks-config":
                return self._error(404, "NOT_FOUND", "no host metadata")  # SDKs fall back to explicit config
            ws.unhandled.append((self.command, self.path))
            return self._error(404, "ENDPOINT_NOT_FOUND", f"stub does not serve {self.command} {path}")

    def _files(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        ws = self.workspace
        if self.command == "HEAD":
            if path not in ws.files:
                return self._reply(404, None)
            headers = {
                "Content-Length": str(len(ws.files[path])),
                "Content-Type": "application/octet-stream",
                "Last-Modified": formatdate(usegmt=True),
            }
            return self._reply(200, None, headers)
        if self.command == "PUT":
            if path in ws.files and query.get("overwrite", ["true"])[0] == "false":
                return self._error(409, "ALREADY_EXISTS", f"The file being created already exists: {path}")
            if ws.fail_uploads_with is not None:
                if ws.store_partial:
                    ws.files[path] = body[: len(body) // 2]
                return self._error(ws.fail_uploads_with, "INTERNAL_ERROR", "storage backend unavailable")
            ws.add_directory(path.rsplit("/", 1)[0])
            ws.files[path] = body
            return self._reply(204)
        if self.command == "DELETE":
            if ws.files.pop(path, None) is None:
                return self._error(404, "NOT_FOUND", f"no such file: {path}")
            return self._reply(200, {})
        return self._error(405, "BAD_REQUEST", f"stub does not serve {self.command} on files")

    def _directories(self, path: str) -> None:
        if self.command == "HEAD":
            return self._reply(200 if path in self.workspace.directories else 404, None)
        if self.command == "PUT":
            self.workspace.add_directory(path)
            return self._reply(204)
        return self._error(405, "BAD_REQUEST", f"stub does not serve {self.command} on directories")

    def _workspace_status(self, path: str) -> None:
        # Validate creates the bundle's files folder with mkdirs, then reads it back.
        if path in self.workspace.workspace_folders:
            return self._reply(200, {"object_type": "DIRECTORY", "path": path, "object_id": 1})
        return self._error(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({path}) doesn't exist.")

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = _dispatch
