"""`make demo` and `make test` stop early, with a clear message, when Python 3.11+ or Java 17 to 21 is missing; a local
Spark start that fails on an unsupported Java says so too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def check_prereqs(java: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "check-prereqs", f"JAVA={java}", f"PYTHON={python}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def fake_java(tmp_path: Path, version_line: str) -> str:
    path = tmp_path / "bin" / "java"  # as $JAVA_HOME/bin/java
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    path.chmod(0o755)
    return str(path)


def test_missing_java_is_named(tmp_path: Path) -> None:
    result = check_prereqs(str(tmp_path / "no-such-java"))
    assert result.returncode != 0
    assert "Java 17 to 21 is required" in result.stderr


@pytest.mark.parametrize("line", ['openjdk version "11.0.2" 2019-01-15', 'java version "1.8.0_292"'])
def test_old_java_is_refused_with_the_version_found(tmp_path: Path, line: str) -> None:
    result = check_prereqs(fake_java(tmp_path, line))
    assert result.returncode != 0
    assert "found: " + line in result.stderr


@pytest.mark.parametrize(
    "line",
    [
        'openjdk version "17.0.15" 2025-04-15',
        'openjdk version "21" 2023-09-19',
        # JAVA_TOOL_OPTIONS (a proxy, a trust store) makes java print this line before its version
        'Picked up JAVA_TOOL_OPTIONS: -Dhttps.proxyHost=proxy\nopenjdk version "17.0.15" 2025-04-15',
    ],
)
def test_java_17_to_21_passes(tmp_path: Path, line: str) -> None:
    assert check_prereqs(fake_java(tmp_path, line)).returncode == 0


@pytest.mark.parametrize("line", ['openjdk version "25.0.3" 2026-04-21 LTS', 'openjdk version "22" 2024-03-19'])
def test_java_newer_than_21_is_refused_with_the_version_found(tmp_path: Path, line: str) -> None:
    """Spark 4.0.1 on Temurin 25 stopped at start-up ("getSubject is not supported") with only JAVA_GATEWAY_EXITED
    in Python: the first thing a laptop whose newest JDK is on PATH would see."""
    result = check_prereqs(fake_java(tmp_path, line))
    assert result.returncode != 0
    assert "too new for Spark 4.0" in result.stderr and f"Found: {line}" in result.stderr


def test_a_local_start_that_fails_on_an_unsupported_java_names_it(tmp_path: Path, monkeypatch, capsys) -> None:
    from pyspark.errors import PySparkRuntimeError

    from order_tracking import cli
    from order_tracking.local import session

    def gateway_exited(*_args, **_kwargs):
        raise PySparkRuntimeError(errorClass="JAVA_GATEWAY_EXITED", messageParameters={})

    monkeypatch.setattr(session.SparkSession.Builder, "getOrCreate", gateway_exited)
    monkeypatch.setenv(
        "JAVA_HOME", str(Path(fake_java(tmp_path, 'openjdk version "25.0.3" 2026-04-21 LTS')).parents[1])
    )
    with pytest.raises(RuntimeError, match="Java 25 is too new for Spark 4.0"):
        session.local_spark(str(tmp_path / "warehouse"))
    # The CLI says it in one line and exits 2, as for any set-up problem.
    assert cli.main(["run", "--warehouse", str(tmp_path / "warehouse"), "--landing", str(tmp_path / "in")]) == 2
    assert capsys.readouterr().err.startswith("not started: Java 25 is too new for Spark 4.0")

    # On a supported Java the start's own error stays as it is.
    monkeypatch.setenv("JAVA_HOME", str(Path(fake_java(tmp_path, 'openjdk version "21" 2023-09-19')).parents[1]))
    with pytest.raises(PySparkRuntimeError):
        session.local_spark(str(tmp_path / "warehouse"))


def fake_python(tmp_path: Path, version: tuple[int, int, int]) -> str:
    """This interpreter, reporting `version` to code given with -c (the Makefile's version check), else unchanged."""
    path = tmp_path / "python"
    reported = f"sys.version_info = {version + ('final', 0)!r}; sys.version = {'.'.join(map(str, version))!r}"
    path.write_text(
        f'#!/bin/sh\nif [ "$1" = -c ]; then exec "{sys.executable}" -c "import sys; {reported}; exec(sys.argv[1])" "$2"; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    path.chmod(0o755)
    return str(path)


def test_python_3_10_is_refused_with_the_version_found(tmp_path: Path) -> None:
    """hypothesis, pyarrow and matplotlib as pinned need 3.11: on 3.10 pip failed with a page of versions."""
    result = check_prereqs(
        fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15'), fake_python(tmp_path, (3, 10, 13))
    )
    assert result.returncode != 0
    assert "Python 3.11+ is required, found 3.10.13" in result.stderr


def test_python_3_11_passes(tmp_path: Path) -> None:
    java = fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')
    assert check_prereqs(java, fake_python(tmp_path, (3, 11, 0))).returncode == 0
