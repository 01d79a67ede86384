"""Which Java the local Spark would start, and whether Spark 4.0 runs on it.

Spark 4.0 supports Java 17 and 21. Newer JDKs fail at start-up with a message that names neither Java nor its
version: on Java 25 Hadoop's login code stops with "getSubject is not supported" (the Security Manager is gone
since Java 24, and allowing it is refused), and PySpark then reports only JAVA_GATEWAY_EXITED. A fresh laptop
often has the newest JDK first on PATH, so both `make` (check-prereqs) and a failed local start say it plainly.

Standard library only: `make` runs this before the virtual environment exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

OLDEST_JAVA, NEWEST_JAVA = 17, 21


class UnsupportedJava(RuntimeError):
    """Spark could not start, and the java it starts is missing or one Spark 4.0 does not run on."""


_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def java_command() -> str:
    """The java Spark starts: $JAVA_HOME/bin/java when JAVA_HOME is set, else java on PATH."""
    home = os.environ.get("JAVA_HOME")
    return os.path.join(home, "bin", "java") if home else "java"


def java_problem(java: str | None = None) -> str | None:
    """Why Spark 4.0 cannot run on `java` (default: the one Spark starts), or None if it can."""
    java = java or java_command()
    if shutil.which(java) is None:  # a bare name is looked up on PATH, a path is checked as it is
        return f"Java {OLDEST_JAVA} to {NEWEST_JAVA} is required (Spark 4.0 runs on the JVM); no {java} was found."
    try:
        shown = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"Java {OLDEST_JAVA} to {NEWEST_JAVA} is required; {java} -version failed: {error}"
    # java -version writes to stderr, after any "Picked up JAVA_TOOL_OPTIONS: ..." line: look at every line.
    lines = (shown.stderr or shown.stdout).strip().splitlines()
    version_line = next((line for line in lines if _VERSION.search(line)), lines[0] if lines else "")
    found = _VERSION.search(version_line)
    major = None
    if found:
        major = int(found.group(2)) if found.group(1) == "1" and found.group(2) else int(found.group(1))  # "1.8" is 8
    if major is None or major < OLDEST_JAVA:
        return f"Java {OLDEST_JAVA} to {NEWEST_JAVA} is required (Spark 4.0), found: {version_line}"
    if major > NEWEST_JAVA:
        return (
            f"Java {major} is too new for Spark 4.0, which runs on Java {OLDEST_JAVA} to {NEWEST_JAVA} (on Java 25 it "
            f"stops at start-up: getSubject is not supported). Found: {version_line}. Point JAVA_HOME at a JDK "
            f"{OLDEST_JAVA} or {NEWEST_JAVA}."
        )
    return None


def main(argv: list[str]) -> int:
    """`python -m order_tracking.local.prereqs [JAVA]`: print the problem and exit 1, or exit 0."""
    problem = java_problem(argv[0] if argv else None)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
