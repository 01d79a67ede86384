"""Machine facts and memory sampling, so every result file says where and how it was measured."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import threading
from importlib import metadata

import psutil


class RssMonitor:
    """Samples, in a background thread, the resident memory of the Spark JVM (the java processes this Python
    process started) and of this process itself (where delta-rs and pyarrow run); keeps the peaks."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._me = psutil.Process()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._peak_jvm = self._peak_python = self._run_jvm = self._run_python = 0
        self._thread = threading.Thread(target=self._loop, name="rss-monitor", daemon=True)

    def __enter__(self) -> RssMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _jvm_rss(self) -> int:
        total = 0
        for child in self._me.children(recursive=True):
            try:
                if "java" in child.name():
                    total += child.memory_info().rss
            except psutil.Error:  # a child can exit between listing and reading it
                continue
        return total

    def sample(self) -> None:
        jvm, python = self._jvm_rss(), self._me.memory_info().rss
        with self._lock:
            self._peak_jvm, self._run_jvm = max(self._peak_jvm, jvm), max(self._run_jvm, jvm)
            self._peak_python, self._run_python = max(self._peak_python, python), max(self._run_python, python)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def take_peaks(self) -> dict[str, float]:
        """Peak RSS in MiB since the previous call (per case), then start a new interval."""
        self.sample()
        with self._lock:
            peaks = {"jvm_peak_rss_mib": self._peak_jvm / 2**20, "python_peak_rss_mib": self._peak_python / 2**20}
            self._peak_jvm = self._peak_python = 0
        return peaks

    def run_peaks(self) -> dict[str, float]:
        """Peak RSS in MiB over the whole run."""
        with self._lock:
            return {"jvm_peak_rss_mib": self._run_jvm / 2**20, "python_peak_rss_mib": self._run_python / 2**20}


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.splitlines()[0].strip() if out else "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            match = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.MULTILINE)
    except OSError:
        return platform.processor() or "unknown"
    return match.group(1).strip() if match else platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_facts(spark_version: str, driver_memory: str) -> dict[str, object]:
    return {
        "cpu_cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _java_version(),
        "spark": spark_version,
        "delta_spark": _version("delta-spark"),
        "deltalake_delta_rs": _version("deltalake"),
        "pyarrow": _version("pyarrow"),
        "load_average_1_5_15_min": tuple(round(x, 2) for x in os.getloadavg()),
        "spark_master": "local[2]",
        "driver_memory": driver_memory,
    }
