"""A local SparkSession with Delta Lake that behaves like the Databricks one for this pipeline."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterator
from importlib.metadata import version

import pyspark
from pyspark.errors import PySparkRuntimeError
from pyspark.sql import SparkSession

from order_tracking.local.prereqs import UnsupportedJava, java_problem
from order_tracking.local.quiet import LOG4J2_PROPERTIES, jvm_stderr_filtered
from order_tracking.tables import sql_string

LOCAL_CATALOG = "spark_catalog"

# Databricks filters a join's large side by the keys of its small side at run time (dynamic file pruning,
# runtime bloom filters). Open-source Spark does it only for scans above 10 GB; a laptop's tables are smaller.
# With these, a MERGE's scan of the target drops rows whose key is not in the batch before the shuffle: the
# merge of 1M random keys into 10M rows took 37.6 and 38.4 s instead of 55.3 and 47.1 s (benchmarks/README.md).
# Small tables (tests, the demo) stay below the threshold and plan as before.
RUNTIME_FILTERS = {
    "spark.sql.optimizer.runtime.bloomFilter.enabled": "true",
    "spark.sql.optimizer.runtime.bloomFilter.applicationSideScanSizeThreshold": "32MB",
    "spark.sql.optimizer.runtime.bloomFilter.creationSideThreshold": "1GB",
}

# Spark keeps the classes it generates for a query's code in a cache of 100 by default, least recently used
# first. A stage + merge pair generates about 200, so each job run of a long-lived session (`watch`, benchmarks)
# compiled them all again: 70 + 128 classes, 2.7-3.6 s of compiling, per warm pair on two rows. With 1,000 entries
# a warm pair compiles 2 + 2 and took 10.6 s instead of 14.8 s (docs/decisions.md). A static setting: at start only.
CODEGEN_CACHE = {"spark.sql.codegen.cache.maxEntries": "1000"}
_COMMIT = re.compile(r"\d{20}\.json")

# The JVM's default time zone, whatever the machine's. Delta checks every commit of a JVM outside UTC with a full
# state reconstruction (`allFilesInCrc.verificationMode.forceOnNonUTC`): with TZ=Europe/Berlin, job runs on a few
# rows took 0.8 s longer to stage and 0.7 s longer to merge, 17% (docs/decisions.md). SQL
# already runs in UTC (spark.sql.session.timeZone), and Databricks' JVMs run in UTC too.
JVM_TIME_ZONE = "-Duser.timezone=UTC"

# For a session that runs the job again and again (`watch`, the test suite): the full JIT (C2), compiling a method
# only after 4 times the usual number of calls, since most of Spark's code runs a few times per query and
# compiling all of it costs more than it saves. Job runs of one small file each, one warm session per setting
# (docs/decisions.md): runs 11-20 took 6.9 s each with this, 13.7 s with C1 (`short_runs`).
LONG_SESSION_JAVA_OPTIONS = "-XX:CompileThresholdScaling=4"


# Spark 4's default Ivy folder: where `spark.jars.packages` are fetched to, and where they stay for later starts.
IVY_HOME = os.path.join(os.path.expanduser("~"), ".ivy2.5.2")


def cached_delta_jars(ivy_home: str = IVY_HOME) -> list[str] | None:
    """The Delta jars an earlier start already fetched through Ivy, or None if any is missing.

    Handing them to Spark directly skips Ivy's dependency resolution, which every start pays otherwise.
    """
    delta = version("delta-spark")
    folder = os.path.join(ivy_home, "jars")
    wanted = [f"io.delta_delta-spark_2.13-{delta}.jar", f"io.delta_delta-storage-{delta}.jar"]
    jars = [os.path.join(folder, name) for name in wanted]
    jars += glob.glob(os.path.join(folder, "org.antlr_antlr4-runtime-*.jar"))
    return jars if len(jars) == 3 and all(os.path.isfile(j) for j in jars) else None


def delta_jar_settings(ivy_home: str = IVY_HOME) -> dict[str, str]:
    """Where Spark finds Delta: the jars an earlier start already fetched, else the Maven package for Ivy to
    fetch (the package `delta.configure_spark_with_delta_pip` names)."""
    jars = cached_delta_jars(ivy_home)
    if jars:
        return {"spark.jars": ",".join(jars)}
    return {"spark.jars.packages": f"io.delta:delta-spark_2.13:{version('delta-spark')}"}


@contextlib.contextmanager
def one_jar_fetch_at_a_time(ivy_home: str = IVY_HOME) -> Iterator[None]:
    """Hold this around a JVM start, and build its settings inside: while the Delta jars are not yet fetched,
    processes start one at a time, and the later ones find the jars the first one fetched.

    Two Ivy fetches into one Ivy folder at once fail: on a fresh machine `make test` started its two test
    workers together and one failed with "problem during retrieve ... FileNotFoundException".
    Once the jars are there, starts take no lock.
    """
    if cached_delta_jars(ivy_home):
        yield
        return
    print("fetching Delta's jars from Maven Central (first start on this machine only)", file=sys.stderr, flush=True)
    os.makedirs(ivy_home, exist_ok=True)
    with open(os.path.join(ivy_home, ".order-tracking-jar-fetch.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def use_the_installed_spark() -> list[str]:
    """Make this process (and those it starts) run the Spark that comes with the installed pyspark, locally; the
    variables that said otherwise, each named in a warning.

    - SPARK_HOME: PySpark starts `$SPARK_HOME/bin/spark-submit` whenever it is set, and a data engineer's laptop
      often sets it for a Spark installed by hand. A Spark 3.5 (Scala 2.12) cannot load Delta 4 for Scala 2.13;
      a stale path made `make demo` fail with "No such file or directory: .../bin/spark-submit".
    - SPARK_REMOTE: set for Spark Connect or Databricks Connect, it made every local start fail with
      CANNOT_CONFIGURE_SPARK_CONNECT_MASTER.

    The local tools run the pinned pyspark, the Spark of Databricks Runtime 17.3 LTS, and nothing else.
    """
    installed = os.path.dirname(os.path.abspath(pyspark.__file__))
    ignored = []
    spark_home = os.environ.get("SPARK_HOME")
    if spark_home is not None and os.path.realpath(spark_home) != os.path.realpath(installed):
        os.environ["SPARK_HOME"] = installed
        ignored.append(f"SPARK_HOME={spark_home}")
    if os.environ.pop("SPARK_REMOTE", None) is not None:
        ignored.append("SPARK_REMOTE")  # its value may hold a token: not repeated
    for variable in ignored:
        warnings.warn(
            f"{variable} is ignored: the local tools run the pinned pyspark {version('pyspark')} locally "
            f"(SPARK_HOME={installed}).",
            stacklevel=2,
        )
    return ignored


def utf8_file_names_for_the_jvm() -> str | None:
    """Give the JVMs this process starts a UTF-8 character type (LC_CTYPE), so they can open files whose names are
    not ASCII; the variable set, or None where the locale already is UTF-8 (or on macOS, whose JVM always is).

    Under the POSIX locale (LC_ALL=C, or no LANG: Docker images, some CI) the JVM encodes file names as ASCII: a
    landed `orders_ünïcødé_📦.csv` made the whole stage run fail with PATH_NOT_FOUND, and
    `-Dsun.jnu.encoding=UTF-8` is ignored. Python itself runs in UTF-8 mode there, so only the JVM needs it.
    """
    if not sys.platform.startswith("linux"):
        return None
    for variable in ("LC_ALL", "LC_CTYPE", "LANG"):  # the first one set decides, as in setlocale(3)
        value = os.environ.get(variable)
        if value:
            break
    else:
        variable, value = "LC_CTYPE", ""
    if value.lower().replace("-", "").endswith("utf8"):
        return None
    variable = "LC_ALL" if variable == "LC_ALL" else "LC_CTYPE"  # LC_ALL would override LC_CTYPE
    os.environ[variable] = "C.UTF-8"
    return variable


@contextlib.contextmanager
def starting_a_local_jvm() -> Iterator[None]:
    """Hold this around every local JVM start (the session's, the Connect server's), and build its settings inside:
    the pinned pyspark's own Spark (`use_the_installed_spark`), UTF-8 file names (`utf8_file_names_for_the_jvm`),
    and one Delta jar fetch at a time (`one_jar_fetch_at_a_time`)."""
    use_the_installed_spark()
    utf8_file_names_for_the_jvm()
    with one_jar_fetch_at_a_time():
        yield


def java_option_value(value: str) -> str:
    """`value` quoted for spark.driver.extraJavaOptions, which Spark splits at whitespace as a shell would: a
    path with a space (a clone under "My Projects") stays one option instead of stopping the JVM from starting."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def shared_settings(
    warehouse: str, *, shuffle_partitions: int = 1, short_runs: bool = True, java_options: str = ""
) -> dict[str, str]:
    """What the local session and the local Spark Connect server both run with: Delta, UTC (SQL and JVM), ANSI on (as on
    Databricks), UI off, few partitions, runtime filters, the Delta jars; `short_runs` stops the JIT at C1 (see
    `local_spark`); `java_options` are more driver JVM options."""
    more_options = " -XX:TieredStopAtLevel=1" if short_runs else ""
    more_options += f" {java_options}" if java_options else ""
    return {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.warehouse.dir": warehouse,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.databricks.delta.snapshotPartitions": str(shuffle_partitions),
        "spark.ui.enabled": "false",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={java_option_value(warehouse)} {JVM_TIME_ZONE} "
        f"-Dlog4j2.configurationFile={java_option_value(LOG4J2_PROPERTIES)} -XX:+UseParallelGC{more_options}",
        **RUNTIME_FILTERS,
        **CODEGEN_CACHE,
        **delta_jar_settings(),
    }


def local_spark(
    warehouse: str,
    *,
    app_name: str = "order-tracking",
    driver_memory: str = "2g",
    shuffle_partitions: int = 1,
    short_runs: bool = True,
    java_options: str = "",
) -> SparkSession:
    """Start (or return) the local session: Delta, UTC, ANSI on (as on Databricks), UI off, few partitions.

    No Hive metastore: tables are Delta folders under `warehouse`, registered again at start-up by
    `register_local_tables`, which is faster to start and leaves no metastore_db behind.
    `short_runs` (the demo, one `run`) stops the JIT at C1: on tiny data Spark spends its time compiling,
    and the demo's job ran in 38 s instead of 70 s. Long-lived sessions (`watch`, the tests) pass False with
    LONG_SESSION_JAVA_OPTIONS, benchmarks and big loads False for C2's peak speed.
    """
    # Python workers (used by createDataFrame on local data) run in this interpreter, not whatever
    # `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warehouse = os.path.abspath(warehouse)
    os.makedirs(warehouse, exist_ok=True)
    with starting_a_local_jvm():  # before the builder: `master` refuses to be set beside a SPARK_REMOTE
        builder = (
            SparkSession.builder.master("local[2]")
            .appName(app_name)
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", driver_memory)
        )
        settings = shared_settings(
            warehouse, shuffle_partitions=shuffle_partitions, short_runs=short_runs, java_options=java_options
        )
        for key, value in settings.items():
            builder = builder.config(key, value)
        try:
            with jvm_stderr_filtered():
                spark = builder.getOrCreate()
        except PySparkRuntimeError as error:  # e.g. JAVA_GATEWAY_EXITED, which does not say why
            problem = java_problem()
            if problem:
                raise UnsupportedJava(problem) from error
            raise
    return spark


def create_local_schema(spark: SparkSession, schema: str, location: str) -> None:
    """Create `schema` in the local catalog with its tables under the folder `location`, unless it exists."""
    # A path may hold a quote or a backslash (a Windows path, a user name like o'brien): quote it as a literal.
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {LOCAL_CATALOG}.`{schema}` LOCATION {sql_string(location)}")


def register_local_tables(spark: SparkSession, warehouse: str, schema: str) -> None:
    """Create the local schema and re-register the Delta tables a previous process left in the warehouse."""
    location = os.path.join(os.path.abspath(warehouse), f"{schema}.db")
    create_local_schema(spark, schema, location)
    if not os.path.isdir(location):
        return
    for table in sorted(os.listdir(location)):
        path = os.path.join(location, table)
        _forget_uncreated(path)
        if os.path.isdir(os.path.join(path, "_delta_log")):
            registered = f"{LOCAL_CATALOG}.`{schema}`.`{table}`"
            spark.sql(f"CREATE TABLE IF NOT EXISTS {registered} USING DELTA LOCATION {sql_string(path)}")


def _forget_uncreated(path: str) -> None:
    """Remove what a kill during CREATE TABLE leaves: a `_delta_log` without its first commit.

    That table was never created, yet registering it fails and so does creating it again over a non-empty
    folder, which would block every rerun; the task's CREATE TABLE IF NOT EXISTS makes it again.
    """
    log = os.path.join(path, "_delta_log")
    if os.path.isdir(log) and not any(_COMMIT.fullmatch(name) for name in os.listdir(log)):
        shutil.rmtree(log)
        with contextlib.suppress(OSError):
            os.rmdir(path)  # only if nothing else is in it
