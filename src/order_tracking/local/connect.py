"""A local Spark Connect server with Delta, so the pipeline can be run the way Databricks serverless runs it.

Serverless speaks Spark Connect: no sparkContext, no RDDs, no JVM handle in the Python process. Running the job
against a separate server JVM is the local check that the package needs none of them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from pyspark import find_spark_home
from pyspark.sql import SparkSession

from order_tracking.local.prereqs import java_problem
from order_tracking.local.session import shared_settings, starting_a_local_jvm

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
_CONNECT_MODE = "SPARK_CONNECT_MODE_ENABLED"  # pyspark's switch that routes functions/DeltaTable to Connect


def server_settings(warehouse: str, port: int, *, shuffle_partitions: int = 1) -> dict[str, str]:
    """The same settings as `local_spark`, given to the server because static ones cannot be set by a client."""
    return {
        **shared_settings(warehouse, shuffle_partitions=shuffle_partitions),
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: Linux sends SIGTERM to the server if this process dies without stopping it."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG, kept across exec


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ConnectServer:
    """One Spark Connect server JVM, started by `spark-submit` and owned by this process."""

    process: subprocess.Popen
    port: int
    log_path: str

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, warehouse: str, *, driver_memory: str = "2g", timeout_seconds: float = 600.0) -> ConnectServer:
        """Start the server and wait until it accepts connections; the log is kept beside the warehouse."""
        warehouse = os.path.abspath(warehouse)
        os.makedirs(warehouse, exist_ok=True)
        with starting_a_local_jvm():  # its spark-submit may fetch Delta's jars, and reads SPARK_HOME and the locale
            server = cls._launch(warehouse, driver_memory)
            server._wait_until_listening(timeout_seconds)
        return server

    @classmethod
    def _launch(cls, warehouse: str, driver_memory: str) -> ConnectServer:
        """Start the server's JVM (spark-submit) with the local session's settings, its log beside the warehouse."""
        port = _free_port()
        command = [
            os.path.join(find_spark_home._find_spark_home(), "bin", "spark-submit"),
            "--class",
            SERVER_CLASS,
            "--master",
            "local[2]",
            "--driver-memory",
            driver_memory,
        ]
        for key, value in server_settings(warehouse, port).items():
            command += ["--conf", f"{key}={value}"]
        log_path = os.path.join(os.path.dirname(warehouse), f"connect-server-{port}.log")
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
        env.pop("SPARK_REMOTE", None)  # the server is a classic application
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=warehouse,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return cls(process, port, log_path)

    def _wait_until_listening(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                problem = java_problem()
                raise RuntimeError(
                    (f"{problem}\n" if problem else "")
                    + f"Spark Connect server did not start on port {self.port}; see {self.log_path}:\n"
                    + self.log_tail()
                )
            time.sleep(0.5)

    def log_tail(self, lines: int = 30) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            return "".join(log.readlines()[-lines:])

    def session(self) -> SparkSession:
        """A Connect session on this server; refuses (SESSION_ALREADY_EXIST) if a classic one is active here."""
        return SparkSession.builder.remote(self.url).getOrCreate()

    def stop(self, timeout_seconds: float = 60.0) -> None:
        """SIGTERM lets Spark's shutdown hooks run; the whole group goes if that is not enough."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextlib.contextmanager
def local_connect_spark(warehouse: str, **server_options) -> Iterator[SparkSession]:
    """A Spark Connect session backed by a fresh local server with Delta; both are stopped on exit.

    pyspark marks the whole process as a Connect client once a remote session exists (functions and
    DeltaTable then build Connect plans), so use it in a process without a classic session.
    """
    mode_was_set = _CONNECT_MODE in os.environ
    server = ConnectServer.start(warehouse, **server_options)
    try:
        spark = server.session()
        try:
            yield spark
        finally:
            spark.stop()
    finally:
        server.stop()
        if not mode_was_set:
            os.environ.pop(_CONNECT_MODE, None)
