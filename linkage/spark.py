"""The model on Spark (`hub.engine: spark`): splink's Spark backend, local or on a cluster.

Only the model moves. The `identities` table goes to Spark (by Arrow, through the driver,
so a cluster needs no shared disk), the rules' DuckDB SQL is translated to Spark SQL,
splink trains there in the same sequence as on DuckDB (linkage.model.estimate) and
predicts, and the scored pairs come back into the job's DuckDB as a table: clustering and
everything after it run on DuckDB as always. The trained model is kept in DuckDB's SQL,
so model/splink_model.json reads the same whichever engine trained it.

Spark has no unsigned integers: HMAC tokens and Bloom words (UBIGINT) travel as BIGINT
with the same 64 bits, so equality, `&` and bit_count give what they give on DuckDB. splink
draws its samples (u, EM) and chunks by hashing the unique id, and Spark's hash is not
DuckDB's: DuckDB's travels with the identities, and splink's Spark SQL reads it
(SameSamplesSparkAPI), so both engines train on the same pairs and give the same model.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import sqlglot
from splink.internals.spark.database_api import SparkAPI
from sqlglot import exp

from linkage.model import LABELLED_MATCHES, TrainedModel, estimate, new_linker
from linkage.rules import Encodings, LinkageRules, expand, rule_sql
from migralink.config import SparkConfig
from migralink.errors import ConfigError, LinkageError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from splink.internals.splink_dataframe import SplinkDataFrame

MIN_JAVA = 17  # Spark 4 runs on Java 17 or 21
JAVA_HINT = ("install Java 17 or later (Debian: apt-get install openjdk-17-jre-headless) "
             "or point JAVA_HOME at one; or link with --engine duckdb")

# What every session gets unless the config's `hub.spark.conf` says otherwise. No web UI
# (no port opened on the hub), an in-memory catalogue (no metastore_db/ or
# spark-warehouse/ left in the working directory), the driver on the loopback address.
SESSION_DEFAULTS = {
    "spark.driver.memory": "2g",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.catalogImplementation": "in-memory",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
# A local master: a partition a core (a shuffle over Spark's 200 costs more than it splits
# here), and no adaptive re-planning (a fifth of the time on small data, and nothing to gain)
LOCAL_DEFAULTS = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.adaptive.enabled": "false",
}
# Spark's own logging at ERROR: the job's progress and summary are migralink's. Not even
# that from the code generator: when the generated code of splink's comparison vectors
# grows past the JVM's 64 KB a method, Spark says so with a stack trace and evaluates the
# expressions without it, as it is designed to. The shell's loggers (PySpark's gateway
# among them) at ERROR too, else Spark prints that it sets WARN for them.
LOG4J = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark %p %c{1}: %m%n
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
logger.codegen.name = org.apache.spark.sql.catalyst.expressions.codegen.CodeGenerator
logger.codegen.level = off
"""
# The columns of splink's predictions the job reads (as on DuckDB: no comparison vectors)
PREDICTION_COLUMNS = ("match_weight", "match_probability", "unique_id_l", "unique_id_r",
                      "source_dataset_l", "source_dataset_r", "match_key")
PREDICTIONS = "spark_predictions"  # their table in the job's DuckDB


def java_command() -> str:
    """The java Spark starts (JAVA_HOME's, else the first on PATH), when it is Java 17 or
    later; LinkageError with a hint otherwise, before anything is loaded."""
    home = os.environ.get("JAVA_HOME")
    java = shutil.which("java") if not home else str(Path(home) / "bin" / "java")
    if java is None or not Path(java).is_file():
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on PATH"
        raise LinkageError(f"--engine spark needs a Java runtime, and none was found ({where})",
                           hint=JAVA_HINT)
    major = java_major(java)
    if major is not None and major < MIN_JAVA:
        raise LinkageError(f"--engine spark needs Java {MIN_JAVA} or later; {java} is Java "
                           f"{major}", hint=JAVA_HINT)
    return java


def java_major(java: str) -> int | None:
    """The major version `java -version` states (8 for "1.8.0_392", 17 for "17.0.15")."""
    try:
        done = subprocess.run([java, "-XX:-UsePerfData", "-version"], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if not found:
        return None
    first = int(found.group(1))
    return int(found.group(2) or 0) if first == 1 else first


@dataclass
class Session:
    """A running SparkSession and the private directory of its temporary files."""

    spark: SparkSession
    folder: Path

    def stop(self) -> None:
        """Stop Spark and its JVM, and remove the temporary files."""
        self.end_spark()
        self.remove_files()

    def end_spark(self) -> None:
        """Stop the session and end its JVM: the next session starts a JVM of its own,
        with its own settings (a JVM's temporary directory and memory are set at start)."""
        from pyspark import SparkContext

        self.spark.stop()
        gateway = SparkContext._gateway
        process = getattr(gateway, "proc", None)
        if gateway is not None:
            gateway.shutdown()
            SparkContext._gateway = None
            SparkContext._jvm = None
        if process is not None:  # the JVM ends when its stdin closes
            process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def remove_files(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def local_cores(master: str) -> int:
    """The cores of a local master: N for local[N], the machine's for local or local[*]."""
    found = re.fullmatch(r"local\[(\d+)(?:,\s*\d+)?\]", master)
    return int(found.group(1)) if found else os.cpu_count() or 1


def session_conf(config: SparkConfig, folder: Path) -> dict[str, str]:
    """The settings of a session whose temporary files all go under `folder`."""
    conf = dict(SESSION_DEFAULTS)
    if config.master.startswith("local"):
        cores = str(local_cores(config.master))
        conf.update(LOCAL_DEFAULTS)
        conf["spark.sql.shuffle.partitions"] = conf["spark.default.parallelism"] = cores
    log4j = folder / "log4j2.properties"
    log4j.write_text(LOG4J, encoding="utf-8")
    conf["spark.local.dir"] = str(folder / "local")
    conf["spark.sql.warehouse.dir"] = str(folder / "warehouse")
    given = {**config.conf}
    java_options = given.pop("spark.driver.extraJavaOptions", "")  # theirs, then ours
    conf["spark.driver.extraJavaOptions"] = (
        f"{java_options} -Djava.io.tmpdir={folder} -Dlog4j.configurationFile=file:{log4j} "
        "-XX:-UsePerfData").strip()
    return {**conf, **given}


def start_session(config: SparkConfig) -> Session:
    """A SparkSession at `config.master`, its temporary files in a private directory under
    `config.local_dir` (default: the system's temporary directory)."""
    java_command()
    from pyspark.sql import SparkSession

    parent = config.local_dir or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="migralink-spark-", dir=parent))
    builder = SparkSession.builder.master(config.master).appName("migralink link")
    for key, value in session_conf(config, folder).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as err:  # noqa: BLE001 - py4j and pyspark raise several types
        shutil.rmtree(folder, ignore_errors=True)
        raise LinkageError(f"Spark did not start at {config.master} ({type(err).__name__})",
                           hint="check hub.spark in the config; run with --debug for "
                                "Spark's own message") from err
    spark.sparkContext.setLogLevel("ERROR")
    return Session(spark, folder)


def signed(column: str, type_: str) -> str:
    """DuckDB SQL giving a UBIGINT (or UBIGINT[]) column as BIGINT with the same bits."""
    def one(x: str) -> str:
        return (f"CAST(CASE WHEN {x} >= 9223372036854775808 THEN {x}::HUGEINT - "
                f"18446744073709551616 ELSE {x}::HUGEINT END AS BIGINT)")

    if type_ == "UBIGINT":
        return f"{one(column)} AS {column}"
    if type_ == "UBIGINT[]":
        return f"[{one('v')} FOR v IN {column}] AS {column}"
    return column


def to_spark(con: duckdb.DuckDBPyConnection, spark: SparkSession, table: str,
             hashed: dict[str, str] | None = None) -> DataFrame:
    """A DuckDB table as a Spark temporary view of the same name, unsigned integers as
    signed ones with the same bits; plus, for each (DuckDB expression, column) of
    `hashed`, the column holding DuckDB's hash() of the expression (UBIGINT, as a
    DECIMAL(20, 0))."""
    columns = con.execute(f"DESCRIBE {table}").fetchall()
    select = [signed(name, type_) for name, type_, *_ in columns]
    select += [f"hash({sql})::DECIMAL(20, 0) AS {column}"
               for sql, column in (hashed or {}).items()]
    frame = spark.createDataFrame(
        con.sql(f"SELECT {', '.join(select)} FROM {table}").to_arrow_table())
    frame.createOrReplaceTempView(table)
    return frame


def sample_hashes(seed: int) -> dict[str, str]:
    """What splink hashes to draw its samples (the u sample with its seed, the chunks of
    u estimation, EM's record sample): a DuckDB expression -> the identities' column
    that carries DuckDB's hash of it to Spark."""
    return {"unique_id": "duckdb_hash_id", f"unique_id || '_{seed}'": "duckdb_hash_id_seed"}


def _unqualified(node: exp.Expression) -> str:
    """An expression's Spark SQL without parentheses, quotes or table names, to compare
    two: (r.unique_id) || '_1' reads as unique_id || '_1'."""
    node = node.copy()
    while isinstance(node, exp.Paren):
        node = node.this
    for paren in list(node.find_all(exp.Paren)):
        paren.replace(paren.this)
    if isinstance(node, exp.Column):
        return exp.column(node.name).sql(dialect="spark")
    for column in list(node.find_all(exp.Column)):
        column.replace(exp.column(column.name))
    return node.sql(dialect="spark")


def with_duckdb_hashes(sql: str, hashed: dict[str, str], warnings: list[str]) -> str:
    """splink's Spark SQL with each hash() of an expression of `hashed` (DuckDB SQL ->
    column, sample_hashes) reading that column of the same table instead; a hash of
    anything else is left to Spark, and said in `warnings`."""
    columns = {_unqualified(sqlglot.parse_one(key, read="duckdb")): column
               for key, column in hashed.items()}

    def swap(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "hash"
                and len(node.expressions) == 1):
            return node
        argument = node.expressions[0]
        column = columns.get(_unqualified(argument))
        if column is None:
            warning = (f"Spark drew a sample on its own hash of {argument.sql('spark')}, "
                       "not DuckDB's: the model may differ from DuckDB's")
            if warning not in warnings:
                warnings.append(warning)
            return node
        side = next(iter(argument.find_all(exp.Column)), None)
        return exp.column(column, table=(side.table if side is not None else "") or None)

    return sqlglot.parse_one(sql, read="spark").transform(swap).sql(dialect="customspark",
                                                                    pretty=True)


class SameSamplesSparkAPI(SparkAPI):
    """splink's SparkAPI, drawing every sample and chunk DuckDB draws. splink draws them by
    hashing the unique id (`hash(r.unique_id) % n`), and Spark's hash is not DuckDB's: with
    DuckDB's hash in columns of the identities (to_spark's `hashed`), both engines train
    on the same pairs."""

    def __init__(self, *, hashed: dict[str, str], warnings: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hashed, self.warnings = hashed, warnings

    def _setup_for_execute_sql(self, sql: str, physical_name: str) -> str:
        return with_duckdb_hashes(sql, self.hashed, self.warnings)


def to_duckdb(con: duckdb.DuckDBPyConnection, frame: DataFrame, table: str) -> str:
    """A Spark DataFrame as a table of the job's DuckDB."""
    con.register("_from_spark", frame.toArrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _from_spark").fetchall()
    finally:
        con.unregister("_from_spark")
    return table


def _spark_node(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.ArrayOverlaps):  # sqlglot writes `&&`, which Spark does not read
        return exp.Anonymous(this="arrays_overlap", expressions=[node.this, node.expression])
    if isinstance(node, exp.Div) and not node.args.get("typed") and not (
            isinstance(node.this, exp.Cast) and node.this.is_type("double")):
        # DuckDB's `/` gives a DOUBLE; Spark's, on a decimal such as 2.0 * n, a decimal
        # rounded to 6 places, which could put a Dice on the other side of its bound
        return exp.Div(this=exp.cast(node.this, "DOUBLE"), expression=node.expression)
    return node


def spark_sql(sql: str) -> str:
    """A condition of the rules (DuckDB SQL, macros expanded) as Spark SQL."""
    return sqlglot.parse_one(sql, read="duckdb").transform(_spark_node).sql(dialect="spark")


def check_spark_sql(spark: SparkSession, rules: LinkageRules, encodings: Encodings) -> None:
    """Every condition of the rules, in Spark SQL, parses and binds against the identities
    view (Spark analyses, nothing runs); ConfigError naming the pass, level or training rule
    otherwise, before any training."""
    conditions = [(what, spark_sql(expanded)) for what, sql, _, _ in rule_sql(rules)
                  if not encodings.lacks(expanded := expand(sql, encodings))]

    def analyse(sqls: list[str]) -> None:
        columns = ", ".join(f"({sql}) AS c{i}" for i, sql in enumerate(sqls))
        spark.sql(f"SELECT {columns} FROM identities l, identities r")

    with contextlib.suppress(Exception):  # one analysis for all, when they are all valid
        analyse([sql for _, sql in conditions])
        return
    for what, sql in conditions:  # else the first that is not
        try:
            analyse([sql])
        except Exception as err:  # noqa: BLE001 - pyspark's AnalysisException and py4j's
            kind = getattr(err, "getCondition", lambda: None)() or type(err).__name__
            raise ConfigError("linkage rules", f"{what}: not valid Spark SQL ({kind})"
                              ) from None


def spark_settings(model: dict[str, Any]) -> dict[str, Any]:
    """The settings of `linkage.model.settings` with every condition in Spark SQL."""
    out = copy.deepcopy(model)
    for comparison in out["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level["sql_condition"] != "ELSE":
                level["sql_condition"] = spark_sql(level["sql_condition"])
    for rule in out["blocking_rules_to_generate_predictions"]:
        rule["blocking_rule"] = spark_sql(rule["blocking_rule"])
        rule["sql_dialect"] = "spark"
    return out


def in_duckdb_sql(trained: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The model trained on Spark (`trained`, splink's JSON) with the conditions of
    `model`, the DuckDB settings it was translated from: same levels, same order."""
    out = copy.deepcopy(trained)
    out["sql_dialect"] = "duckdb"
    for comparison, original in zip(out["comparisons"], model["comparisons"], strict=True):
        for level, source in zip(comparison["comparison_levels"],
                                 original["comparison_levels"], strict=True):
            level["sql_condition"] = source["sql_condition"]
    out["blocking_rules_to_generate_predictions"] = copy.deepcopy(
        model["blocking_rules_to_generate_predictions"])
    return out


@contextlib.contextmanager
def explained(step: str) -> Iterator[None]:
    """Spark's own errors (the JVM's, PySpark's, also when splink wraps them in its own) as
    one LinkageError naming the step; their message, which may quote data, only with --debug.
    Any other error (splink finding too little to train on) goes on as it is."""
    try:
        yield
    except Exception as err:
        cause = spark_error(err)
        if cause is None:
            raise
        raise LinkageError(f"Spark failed while {step} ({type(cause).__name__})",
                           hint="run with --debug for Spark's own message; for more memory, "
                                "set spark.driver.memory in hub.spark.conf") from err


def spark_error(err: BaseException | None) -> BaseException | None:
    """The error of Spark's (py4j's or PySpark's) that `err` is, or was raised from."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    while err is not None and not isinstance(err, Py4JError | PySparkException):
        err = err.__cause__
    return err


@dataclass
class SparkModel(TrainedModel):
    """A model trained on Spark, whose session runs until `predict`; after it, the model
    lives on in DuckDB (for its JSON and charts) next to the scored pairs."""

    con: duckdb.DuckDBPyConnection | None = None
    session: Session | None = None
    model: dict[str, Any] = field(default_factory=dict)  # the settings, in DuckDB's SQL

    def predict(self) -> SplinkDataFrame:
        """Score on Spark, bring the pairs into DuckDB, stop Spark; the pairs as DuckDB's."""
        from splink import DuckDBAPI

        assert self.con is not None and self.session is not None, "predict runs once"
        try:
            with explained("scoring the pairs"):
                scored = super().predict()
                columns = ", ".join(PREDICTION_COLUMNS)
                table = to_duckdb(self.con, self.session.spark.sql(
                    f"SELECT {columns} FROM {scored.physical_name}"), PREDICTIONS)
            trained = in_duckdb_sql(self.model_json(), self.model)
        finally:
            self.session.stop()
            self.session = None
        db_api = DuckDBAPI(connection=self.con)
        self.linker = new_linker(db_api.register("identities"), trained)
        return db_api.table_to_splink_dataframe("__splink__df_predict", table)


def train_on_spark(con: duckdb.DuckDBPyConnection, rules: LinkageRules, encodings: Encodings,
                   model: dict[str, Any], labels: bool, config: SparkConfig,
                   warnings: list[str]) -> SparkModel:
    """linkage.model.train on Spark: the identities (and labelled matches) sent there, the
    same settings and training sequence in Spark SQL, on the samples DuckDB would draw.
    Spark stops when the model has predicted, or here if training fails."""
    session = start_session(config)
    try:
        hashed = sample_hashes(rules.training.seed)
        with explained("loading the identities"):
            to_spark(con, session.spark, "identities", hashed).persist()
        check_spark_sql(session.spark, rules, encodings)
        with explained("training the model"):
            if labels:
                to_spark(con, session.spark, LABELLED_MATCHES)
            db_api = SameSamplesSparkAPI(hashed=hashed, warnings=warnings,
                                         spark_session=session.spark,
                                         break_lineage_method="persist",
                                         register_udfs_automatically=False)
            linker = new_linker(db_api.register("identities"), spark_settings(model))
            estimate(linker, rules.training, lambda rule: spark_sql(expand(rule, encodings)),
                     LABELLED_MATCHES if labels else None)
    except BaseException:
        session.stop()
        raise
    return SparkModel(linker, rules, warnings, con=con, session=session, model=model)
