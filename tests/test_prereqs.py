"""`make demo` and `make test` stop early, with a clear message, when Python 3.11+ or Java 17+ is missing."""

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
    path = tmp_path / "java"
    path.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    path.chmod(0o755)
    return str(path)


def test_missing_java_is_named(tmp_path: Path) -> None:
    result = check_prereqs(str(tmp_path / "no-such-java"))
    assert result.returncode != 0
    assert "Java 17+ is required" in result.stderr


@pytest.mark.parametrize("line", ['openjdk version "11.0.2" 2019-01-15', 'java version "1.8.0_292"'])
def test_old_java_is_refused_with_the_version_found(tmp_path: Path, line: str) -> None:
    result = check_prereqs(fake_java(tmp_path, line))
    assert result.returncode != 0
    assert "found: " + line in result.stderr


@pytest.mark.parametrize("line", ['openjdk version "17.0.15" 2025-04-15', 'openjdk version "21" 2023-09-19'])
def test_java_17_or_newer_passes(tmp_path: Path, line: str) -> None:
    assert check_prereqs(fake_java(tmp_path, line)).returncode == 0


def fake_python(tmp_path: Path, version: tuple[int, int, int]) -> str:
    """This interpreter, reporting `version` to the code it is given with -c (as the Makefile's check runs it)."""
    path = tmp_path / "python"
    reported = f"sys.version_info = {version + ('final', 0)!r}; sys.version = {'.'.join(map(str, version))!r}"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "import sys; {reported}; exec(sys.argv[1])" "$2"\n')
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
