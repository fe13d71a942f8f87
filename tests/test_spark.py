"""`migralink link --engine spark`: the same rules on splink's Spark backend, the same persons.

One small synthetic demo is linked twice, on DuckDB and on Spark (local mode, Java from the
system or installed by tests/java.py), and the persons, the model and the scored pairs of
the two runs are compared. Spark gets encodings only, and leaves no temporary file behind.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from java import ensure_java
from pydantic import ValidationError
from splink.internals.chunking import _chunk_assignment_sql
from splink.internals.dialects import SparkDialect
from splink.internals.em_sampling import _em_sample_filter_sql
from splink.internals.input_column import InputColumn
from test_end_to_end import raw_birth_dates, raw_identity_values

import linkage.spark as spark_module
from linkage.job import LinkResult, run_link
from linkage.rules import Encodings, LinkageRules, load_rules
from linkage.spark import Session, check_spark_sql, explained, spark_sql, with_duckdb_hashes
from migralink.cli import app
from migralink.config import (
    CONFIGS_DIR,
    RULES_DIR,
    HubConfig,
    JobConfig,
    SparkConfig,
    load_config,
)
from migralink.demo import DemoResult, run_demo
from migralink.errors import ConfigError, LinkageError
from pseudonymise.audit import hub_side_files, scan

PERSONS = 1_000
SEED = 11
LEFT_BY_SPARK = ("spark-warehouse", "metastore_db", "derby.log", "spark-", "blockmgr-",
                 "migralink-spark-")


@dataclass
class Runs:
    """The demo linked on DuckDB (with its truth) and again on Spark, into spark-out/."""

    duckdb: DemoResult
    spark: LinkResult
    spark_config: JobConfig
    sent: list[Path] = field(default_factory=list)       # what Spark received, as Parquet
    temporary: list[Path] = field(default_factory=list)  # Spark's files, before removal
    left_in_temp: set[str] = field(default_factory=set)  # new names in the system temp dir
    # each shipped rule file checked in the job's session: rule file -> error, or None
    compiled: dict[str, str | None] = field(default_factory=dict)


def spark_job(config: JobConfig, local_dir: Path) -> JobConfig:
    """The demo config linking on Spark, with outputs of its own and temporary files under
    `local_dir`."""
    hub = HubConfig(engine="spark", spark=SparkConfig(local_dir=local_dir))
    paths = config.paths.model_copy(update={"outputs": Path("spark-out")})
    return config.model_copy(update={"hub": hub, "paths": paths})


def spark_named(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith(LEFT_BY_SPARK)}


def salted(encodings: Encodings) -> Encodings:
    """The encodings as if the name filters were salted with the birth year, so the
    salt_differs() levels are in the model too."""
    salts = {"bf_given_name": "birth_year", "bf_family_name": "birth_year"}
    return Encodings(encodings.bloom_words, salts, encodings.flips, encodings.popcounts,
                     encodings.columns)


def broken_rules() -> LinkageRules:
    """The default rules with a level that Spark cannot read."""
    rules = load_rules(RULES_DIR / "linkage" / "default.yaml").model_dump(by_alias=True)
    rules["comparisons"][0]["levels"][2]["sql"] = "no_such_function(l.sex) = 1"
    return LinkageRules.model_validate(rules)


def check_more(spark: object, encodings: Encodings, compiled: dict[str, str | None]) -> None:
    """Both shipped rule files on salted filters, and the broken rules, in a live session."""
    rule_files = {name: load_rules(RULES_DIR / "linkage" / name)
                  for name in ("default.yaml", "febrl4.yaml")}
    for name, rules in {**rule_files, "broken": broken_rules()}.items():
        try:
            check_spark_sql(spark, rules, salted(encodings))
            compiled[name] = None
        except ConfigError as err:
            compiled[name] = str(err)


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    ensure_java()
    root = tmp_path_factory.mktemp("spark-demo")
    on_duckdb = run_demo(root, persons=PERSONS, seed=SEED)
    config = spark_job(on_duckdb.config, root / "spark-tmp")
    kept = Runs(on_duckdb, on_duckdb.link, config)
    to_spark, remove_files = spark_module.to_spark, Session.remove_files

    def to_spark_kept(con, spark, table, hashed=None):  # noqa: ANN001, ANN202
        frame = to_spark(con, spark, table, hashed)
        kept.sent.append(root / f"sent-{table}.parquet")
        pq.write_table(frame.toArrow(), kept.sent[-1])
        return frame

    def check_also(spark, rules, encodings):  # noqa: ANN001, ANN202 - the job's own check
        check_spark_sql(spark, rules, encodings)
        check_more(spark, encodings, kept.compiled)

    def listed_then_removed(self: Session) -> None:
        kept.temporary.extend(p for p in self.folder.rglob("*") if p.is_file())
        remove_files(self)

    before = spark_named(Path(tempfile.gettempdir()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(spark_module, "to_spark", to_spark_kept)
        patch.setattr(spark_module, "check_spark_sql", check_also)
        patch.setattr(Session, "remove_files", listed_then_removed)
        kept.spark = run_link(config)
    kept.left_in_temp = spark_named(Path(tempfile.gettempdir())) - before
    return kept


def person_pairs(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """Every pair of identities placed in one person."""
    members: dict[str, list[str]] = {}
    for identity, person in con.execute(
            "SELECT identity_id, person_id FROM identity_person ORDER BY identity_id"
    ).fetchall():
        members.setdefault(person, []).append(identity)
    return {pair for ids in members.values() for pair in combinations(ids, 2)}


def test_spark_finds_the_same_persons(runs: Runs) -> None:
    on_duckdb, on_spark = person_pairs(runs.duckdb.link.con), person_pairs(runs.spark.con)
    assert len(on_duckdb) > 1000
    both = len(on_duckdb & on_spark)
    f1 = 2 * both / (len(on_duckdb) + len(on_spark))
    assert f1 >= 0.999, (f1, len(on_duckdb), len(on_spark))
    persons = runs.duckdb.link.counts["persons"], runs.spark.counts["persons"]
    assert abs(persons[0] - persons[1]) <= max(2, persons[0] // 500), persons


def test_spark_trains_the_model_duckdb_trains(runs: Runs) -> None:
    """Same samples (DuckDB's hash on both), so the same parameters up to rounding; the
    saved model is in DuckDB's SQL whichever engine trained it."""
    files = [c.outputs_dir / "model" / "splink_model.json"
             for c in (runs.duckdb.config, runs.spark_config)]
    on_duckdb, on_spark = (json.loads(f.read_text(encoding="utf-8")) for f in files)
    assert on_spark["sql_dialect"] == "duckdb"
    assert on_spark["probability_two_random_records_match"] == pytest.approx(
        on_duckdb["probability_two_random_records_match"], rel=1e-9)
    for a, b in zip(on_duckdb["comparisons"], on_spark["comparisons"], strict=True):
        for x, y in zip(a["comparison_levels"], b["comparison_levels"], strict=True):
            assert x["sql_condition"] == y["sql_condition"]
            for p in ("m_probability", "u_probability"):
                assert (x.get(p) is None) == (y.get(p) is None), (x["label_for_charts"], p)
                if x.get(p) is not None:
                    assert y[p] == pytest.approx(x[p], rel=1e-6, abs=1e-12), \
                        (a["output_column_name"], x["label_for_charts"], p)
    assert not [w for w in runs.spark.model_warnings if "own hash" in w]


def test_spark_scores_the_pairs_duckdb_scores(runs: Runs) -> None:
    def scored(con: duckdb.DuckDBPyConnection, table: str) -> dict[tuple[str, str], float]:
        return {(a, b): w for a, b, w in con.execute(
            f"SELECT unique_id_l, unique_id_r, match_weight FROM {table}").fetchall()}

    duck_con = runs.duckdb.link.con
    table = duck_con.execute("SELECT table_name FROM duckdb_tables() "
                             "WHERE table_name LIKE '__splink__df_predict%'").fetchall()[0][0]
    on_duckdb = scored(duck_con, table)
    on_spark = scored(runs.spark.con, spark_module.PREDICTIONS)
    assert on_duckdb.keys() == on_spark.keys()
    assert max(abs(on_duckdb[k] - on_spark[k]) for k in on_duckdb) < 1e-6
    assert runs.spark.quality["match_weight_histogram"] == \
        runs.duckdb.link.quality["match_weight_histogram"]


def test_spark_run_writes_the_same_outputs(runs: Runs) -> None:
    names = {p.relative_to(runs.duckdb.config.outputs_dir) for p in runs.duckdb.link.outputs}
    spark_names = {p.relative_to(runs.spark_config.outputs_dir) for p in runs.spark.outputs}
    assert spark_names == names


def test_spark_gets_encodings_only_and_leaves_no_file(runs: Runs) -> None:
    raw = runs.duckdb.config.workdir / "raw"
    forbidden = raw_identity_values(raw) | raw_birth_dates(raw)
    assert [p.name for p in runs.sent] == ["sent-identities.parquet"]
    findings = scan([*runs.sent, *hub_side_files(runs.spark_config.outputs_dir)], forbidden)
    assert findings == [], "\n".join(str(f) for f in findings)
    assert runs.temporary, "Spark wrote no temporary file: was local_dir used?"
    local_dir = runs.spark_config.hub.spark.local_dir
    assert local_dir is not None and list(local_dir.iterdir()) == []
    assert runs.left_in_temp == set()
    for folder in (Path.cwd(), runs.duckdb.config.workdir):
        assert not spark_named(folder) & {"spark-warehouse", "metastore_db", "derby.log"}


def test_every_rule_compiles_in_spark(runs: Runs) -> None:
    """Every condition of both shipped rule files, translated, binds in Spark (checked in
    the job's session); a condition Spark cannot read is named."""
    assert runs.compiled["default.yaml"] is None
    assert runs.compiled["febrl4.yaml"] is None
    assert "comparison 'given_name', level 'Dice >= 0.95': not valid Spark SQL" in \
        str(runs.compiled["broken"])


@pytest.mark.parametrize(("duckdb_sql", "spark"), [
    ("list_has_any(l.tok_ssn_near, r.tok_ssn_near)",
     "ARRAYS_OVERLAP(l.tok_ssn_near, r.tok_ssn_near)"),
    ("l.birth_year // 10 = r.birth_year // 10", "l.birth_year DIV 10 = r.birth_year DIV 10"),
    ("2.0 * (bit_count(l.a & r.a)) / nullif(l.p + r.p, 0) >= 0.8",
     "CAST(2.0 * (BIT_COUNT(l.a & r.a)) AS DOUBLE) / NULLIF(l.p + r.p, 0) >= 0.8"),
    ("l.tok_salt IS DISTINCT FROM r.tok_salt", "l.tok_salt IS DISTINCT FROM r.tok_salt"),
])
def test_duckdb_sql_becomes_spark_sql(duckdb_sql: str, spark: str) -> None:
    assert spark_sql(duckdb_sql) == spark


def test_samples_are_drawn_on_duckdbs_hash() -> None:
    """Each way splink draws a sample or chunk on Spark reads the identities' column of
    DuckDB's hash of what it hashes; a hash of anything else is said in the warnings."""
    uid = [InputColumn("unique_id", sqlglot_dialect_str="spark")]
    dialect = SparkDialect()
    hashed = spark_module.sample_hashes(20181012)
    drawn = {"u sample": dialect.proportion_sample_sql(0.3, uid, seed=20181012),
             "u chunk": _chunk_assignment_sql(uid, 2, 10, "r", dialect),
             "EM sample": _em_sample_filter_sql(uid, 100, 10_000, "l", dialect)}
    warnings: list[str] = []
    for what, clause in drawn.items():
        sql = with_duckdb_hashes(f"SELECT * FROM t AS r WHERE 1 = 1 {clause}", hashed, warnings)
        assert "HASH(" not in sql.upper() and "duckdb_hash_id" in sql, (what, sql)
    assert warnings == []
    other = dialect.proportion_sample_sql(0.3, uid, seed=5)
    assert "HASH(" in with_duckdb_hashes(f"SELECT * FROM t WHERE 1 = 1 {other}", hashed,
                                         warnings)
    assert len(warnings) == 1 and "its own hash" in warnings[0]


def test_spark_errors_are_one_line() -> None:
    from py4j.protocol import Py4JError
    from splink.internals.exceptions import SplinkException

    failed = r"Spark failed while training \(Py4JError\)"
    with pytest.raises(LinkageError, match=failed), explained("training"):
        raise SplinkException("Error executing the following sql") from Py4JError("x")
    with pytest.raises(ZeroDivisionError), explained("training"):  # not Spark's: as it is
        raise ZeroDivisionError


def test_spark_conf_is_text(tmp_path: Path) -> None:
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=tmp_path)
    assert config.hub.engine == "duckdb" and config.hub.spark.master == "local[*]"
    hub = HubConfig.model_validate({"engine": "spark", "spark": {"conf": {
        "spark.sql.shuffle.partitions": 4, "spark.sql.ansi.enabled": False}}})
    assert hub.spark.conf == {"spark.sql.shuffle.partitions": "4",
                              "spark.sql.ansi.enabled": "false"}
    with pytest.raises(ValidationError, match="must be an absolute path"):
        HubConfig.model_validate({"spark": {"local_dir": "spark-tmp"}})


def no_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no java on it


def test_spark_without_java_stops_before_loading(runs: Runs, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    no_java(monkeypatch, tmp_path)
    with pytest.raises(LinkageError, match="needs a Java runtime") as raised:
        run_link(runs.spark_config)
    assert "openjdk-17-jre-headless" in raised.value.hint


def test_cli_engine_option(runs: Runs, monkeypatch: pytest.MonkeyPatch,
                           tmp_path: Path) -> None:
    from typer.testing import CliRunner

    workdir = str(runs.duckdb.config.workdir)
    args = ["link", "--config", "demo.yaml", "--workdir", workdir]
    wrong = CliRunner().invoke(app, [*args, "--engine", "sparkle"])
    assert wrong.exit_code == 2
    assert "--engine 'sparkle': not an engine; hint: --engine is one of duckdb, spark" in \
        wrong.stderr
    no_java(monkeypatch, tmp_path)
    missing = CliRunner().invoke(app, [*args, "--engine", "spark"])
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: --engine spark needs a Java runtime")
    assert len(missing.stderr.strip().splitlines()) == 1
