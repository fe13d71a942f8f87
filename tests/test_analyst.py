"""Analysts' read-only access: outputs.duckdb holds analyst tables only, `query` and `shell`
run SELECTs on it and nothing else, and no query reaches files, settings or other databases."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from linkage.analyst import (
    ANALYST_TABLES,
    CAST_HINT,
    EXTENSION_HINT,
    FIND_HINT,
    FUNCTIONS_HINT,
    TABLES_HINT,
    TYPES_HINT,
    QueryError,
    formatted,
    open_outputs,
    run_query,
    shell,
)
from linkage.outputs import write_outputs
from migralink.cli import app

HUB_ONLY = re.compile(r"^(tok_|bf_)|token|bloom|filter|weight|match_prob|record_id|identity_id|"
                      r"cell_key")
WRITTEN = ["persons", "border_crossings", "stays", "person_months", "indicator_cells",
           "published_cells"]


def job_tables(con: duckdb.DuckDBPyConnection) -> None:
    """A linked job's tables as the hub holds them, hub-only columns included."""
    con.execute("""CREATE TABLE persons AS SELECT * FROM (VALUES
        ('P0000000000000a1', 'F', 'MAR', 1980, 3),
        ('P0000000000000b2', 'M', 'FRA', 1975, 1),
        ('P0000000000000c3', 'F', NULL, 1990, 2)) t(person_id, sex, citizenship, birth_year,
                                                    n_records)""")
    con.execute("""CREATE TABLE border_crossings AS SELECT * FROM (VALUES
        ('P0000000000000a1', 'border', 'BP000000001', DATE '2024-01-05', 'in', 'TNG-AIR'),
        ('P0000000000000a1', 'border', 'BP000000002', DATE '2024-06-30', 'out', 'TNG-AIR'))
        t(person_id, source, record_id, date, direction, border_post)""")
    con.execute("""CREATE TABLE stays AS SELECT * FROM (VALUES
        ('P0000000000000a1', 0, 'out', DATE '0001-01-01', DATE '2024-01-05'),
        ('P0000000000000a1', 1, 'in', DATE '2024-01-05', DATE '2024-06-30'))
        t(person_id, stay, side, start_date, end_date)""")
    con.execute("""CREATE TABLE person_months AS SELECT * FROM (VALUES
        ('P0000000000000a1', DATE '2024-02-01', 29, true, true, false, false))
        t(person_id, month, days_in, declared_work, present, work_while_abroad, resident)""")
    con.execute("""CREATE TABLE indicator_cells AS SELECT * FROM (VALUES
        ('stock', 'A', '2024', '_T', 'MAR', 12, 0.25)) t(indicator, frequency, time_period,
                                                         sex, citizenship, persons, cell_key)""")
    con.execute("""CREATE TABLE published_cells AS SELECT * FROM (VALUES
        ('stock', 'A', '2024', '_T', 'MAR', 12, 'A', 'none')) t(indicator, frequency,
        time_period, sex, citizenship, value, status, protection)""")
    con.execute("""CREATE TABLE record_links AS SELECT * FROM (VALUES
        ('border', 'BP000000001', 'border:0123456789abcdef', 'P0000000000000a1'))
        t(source, record_id, identity_id, person_id)""")


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("job")
    with duckdb.connect() as con:
        job_tables(con)
        write_outputs(con, directory, {"model": "m"})
        (directory / "encoded").mkdir()
        encoded = directory / "encoded" / "border.parquet"
        con.execute("COPY (SELECT 'BP000000001' AS record_id, 42::UBIGINT AS tok_passport, "
                    f"7::UBIGINT AS bf_given_name_w0) TO '{encoded}' (FORMAT parquet)")
    (directory / "encoded" / "border.csv").write_text("record_id,tok_passport\nBP1,42\n")
    return directory


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refusal(directory: Path, sql: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        run_query(directory, sql, "csv")
    assert "\n" not in str(caught.value)
    return caught.value


# --- What the files hold -----------------------------------------------------------------------


def test_outputs_hold_the_analyst_tables_without_hub_only_columns(job: Path) -> None:
    with duckdb.connect(str(job / "outputs.duckdb"), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        columns = con.execute("SELECT table_name, column_name FROM duckdb_columns()").fetchall()
        crossing = con.execute("FROM border_crossings ORDER BY date").fetchall()[0]
    assert sorted(tables) == sorted(WRITTEN)
    assert [f"{t}.{c}" for t, c in columns if HUB_ONLY.search(c)] == []
    assert crossing[:3] == ("P0000000000000a1", "border", crossing[2])  # source kept
    assert str(crossing[2]) == "2024-01-05"


def test_linkage_file_keeps_record_links_and_cell_keys(job: Path) -> None:
    with duckdb.connect(str(job / "linkage.duckdb"), read_only=True) as con:
        tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        link = con.execute("FROM record_links").fetchall()
        key = con.execute("SELECT cell_key FROM indicator_cells").fetchall()
    assert tables == {"record_links", "indicator_cells"}
    assert link == [("border", "BP000000001", "border:0123456789abcdef", "P0000000000000a1")]
    assert key == [(0.25,)]


def test_indicator_cells_parquet_has_no_cell_key(job: Path) -> None:
    columns = duckdb.sql(f"DESCRIBE FROM '{job / 'outputs' / 'indicator_cells.parquet'}'"
                         ).fetchall()
    assert [c[0] for c in columns] == ["indicator", "frequency", "time_period", "sex",
                                       "citizenship", "persons"]


# --- Formats ---------------------------------------------------------------------------------

PERSONS = "SELECT person_id, sex, citizenship, birth_year FROM persons ORDER BY person_id"


def test_csv_has_a_header_and_every_row(job: Path) -> None:
    assert run_query(job, PERSONS, "csv") == (
        "person_id,sex,citizenship,birth_year\n"
        "P0000000000000a1,F,MAR,1980\n"
        "P0000000000000b2,M,FRA,1975\n"
        "P0000000000000c3,F,,1990")
    assert run_query(job, PERSONS, "csv", limit=1) == (
        "person_id,sex,citizenship,birth_year\nP0000000000000a1,F,MAR,1980")


def test_json_is_a_list_of_objects_with_iso_dates(job: Path) -> None:
    sql = ("SELECT person_id, month, days_in, present, NULL AS note FROM person_months "
           "UNION ALL SELECT person_id, start_date, NULL, NULL, side FROM stays "
           "ORDER BY month")
    assert json.loads(run_query(job, sql, "json")) == [
        {"person_id": "P0000000000000a1", "month": "0001-01-01", "days_in": None,
         "present": None, "note": "out"},
        {"person_id": "P0000000000000a1", "month": "2024-01-05", "days_in": None,
         "present": None, "note": "in"},
        {"person_id": "P0000000000000a1", "month": "2024-02-01", "days_in": 29,
         "present": True, "note": None}]
    assert run_query(job, "SELECT 1.5 AS x, DATE '2024-03-01' AS d", "json") == (
        '[\n  {\n    "x": 1.5,\n    "d": "2024-03-01"\n  }\n]')
    assert json.loads(run_query(job, "SELECT 1 AS n, 2 AS n", "json")) == [{"n": 1, "n_1": 2}]


def test_table_aligns_columns_and_counts_rows(job: Path) -> None:
    assert run_query(job, PERSONS) == (
        "person_id         sex  citizenship  birth_year\n"
        "----------------  ---  -----------  ----------\n"
        "P0000000000000a1  F    MAR                1980\n"
        "P0000000000000b2  M    FRA                1975\n"
        "P0000000000000c3  F    NULL               1990\n"
        "3 rows")
    assert run_query(job, PERSONS, limit=3).splitlines()[-1] == "3 rows"
    assert run_query(job, PERSONS, limit=2).splitlines()[-1] == "more than 2 rows (--limit 2)"
    assert run_query(job, PERSONS, limit=1).splitlines()[-1] == "more than 1 row (--limit 1)"


def test_table_shows_forty_rows_unless_told(job: Path) -> None:
    lines = run_query(job, "SELECT range AS n FROM range(100)").splitlines()
    assert len(lines) == 2 + 40 + 1
    assert lines[-2:] == ["39", "more than 40 rows (showing 40; use --limit or --format csv)"]
    assert run_query(job, "FROM range(40)").splitlines()[-1] == "40 rows"
    assert run_query(job, "FROM range(41)").splitlines()[-1].startswith("more than 40 rows")
    assert len(run_query(job, "FROM range(100)", "csv").splitlines()) == 101


class Result:
    """A query result that counts the rows fetched from it."""

    description = [("n",)]

    def __init__(self, rows: int) -> None:
        self.rows, self.fetched = rows, 0

    def fetchmany(self, size: int) -> list[tuple[int]]:
        chunk = [(n,) for n in range(self.fetched, min(self.fetched + size, self.rows))]
        self.fetched += len(chunk)
        return chunk

    def fetchall(self) -> list[tuple[int]]:
        return self.fetchmany(self.rows)


def test_a_table_fetches_one_row_past_what_it_shows() -> None:
    result = Result(1_000_000)
    text = formatted(result, "table", None, "showing 40; more")  # type: ignore[arg-type]
    assert text.splitlines()[-1] == "more than 40 rows (showing 40; more)"
    assert result.fetched == 41
    result = Result(1_000_000)
    assert formatted(result, "table", 5, "--limit 5").splitlines()[-1] == (  # type: ignore[arg-type]
        "more than 5 rows (--limit 5)")
    assert result.fetched == 6


def test_a_large_result_shows_at_once(job: Path) -> None:
    started = time.monotonic()
    assert run_query(job, "SELECT * FROM range(100000000000)").splitlines()[-1] == (
        "more than 40 rows (showing 40; use --limit or --format csv)")
    assert time.monotonic() - started < 5  # counting the rows would take hours


@pytest.mark.parametrize("sql", [
    "DESCRIBE persons", "SHOW TABLES", "SUMMARIZE persons", "EXPLAIN SELECT * FROM persons",
    "FROM persons", "WITH p AS (FROM persons) SELECT count(*) FROM p", "TABLE persons",
    "PIVOT persons ON sex IN ('F', 'M') USING count(*)"])
def test_other_read_only_statements_run(job: Path, sql: str) -> None:
    assert run_query(job, sql, "csv")


# --- Refused statements ----------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "kind"), [
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("CREATE TEMP TABLE t AS SELECT 1", "CREATE"),
    ("CREATE MACRO m(a) AS a", "CREATE"),
    ("INSERT INTO persons VALUES ('P1', 'F', 'MAR', 1980, 1)", "INSERT"),
    ("WITH a AS (SELECT 1) INSERT INTO persons SELECT * FROM a", "INSERT"),
    ("UPDATE persons SET sex = 'M'", "UPDATE"),
    ("DELETE FROM persons", "DELETE"),
    ("TRUNCATE persons", "TRUNCATE"),
    ("DROP TABLE persons", "DROP"),
    ("ALTER TABLE persons ADD COLUMN x INTEGER", "ALTER"),
    ("COPY persons TO 'persons.csv'", "COPY"),
    ("ATTACH 'linkage.duckdb' AS hub", "ATTACH"),
    ("DETACH outputs", "DETACH"),
    ("SET enable_external_access = true", "SET"),
    ("RESET lock_configuration", "RESET"),
    ("PRAGMA version", "PRAGMA"),
    ("EXPORT DATABASE 'out'", "EXPORT"),
    ("IMPORT DATABASE 'out'", "IMPORT"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("CALL pragma_version()", "CALL"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("BEGIN TRANSACTION", "BEGIN"),
    ("PREPARE p AS SELECT 1", "PREPARE"),
    ("VACUUM", "VACUUM"),
    ("USE memory", "USE"),
    ("UPDATE EXTENSIONS", "UPDATE"),
    ("EXPLAIN CREATE TABLE t AS SELECT 1", "EXPLAIN"),
    ("PIVOT persons ON sex USING count(*)", "PIVOT"),
    ("-- a comment\n/* and another */ create table t (a integer)", "CREATE"),
])
def test_only_select_is_allowed(job: Path, sql: str, kind: str) -> None:
    before = sha256(job / "outputs.duckdb")
    err = refusal(job, sql)
    assert str(err) == f"query: only SELECT is allowed (got {kind})"
    assert err.hint
    assert sha256(job / "outputs.duckdb") == before


def test_one_statement_at_a_time(job: Path) -> None:
    err = refusal(job, "SELECT 1; DROP TABLE persons")
    assert str(err) == "query: one statement at a time (got 2)"
    assert str(refusal(job, "  ")) == "query: no SQL statement given"


def test_a_syntax_error_names_its_position(job: Path) -> None:
    err = refusal(job, "SELECT sex,\n  count(*)\nFORM persons")
    assert str(err) == ('query: Parser Error: syntax error at or near "persons" '
                        "(line 3, column 6)")


def test_a_wrong_name_is_one_line_with_the_tables_hint(job: Path) -> None:
    err = refusal(job, "SELECT * FROM record_links")
    assert str(err).startswith("query: Catalog Error: Table with name record_links does not")
    assert str(err).endswith("(line 1, column 15)")
    assert "SHOW TABLES" in err.hint


@pytest.mark.parametrize(("sql", "hint"), [
    ("SELECT * FROM nosuch", TABLES_HINT),
    ("SELECT * FROM nosuch.persons", TABLES_HINT),
    ("SELECT nosuch FROM persons", TABLES_HINT),
    ("SELECT p.nosuch FROM persons p", TABLES_HINT),
    ("SELECT nosuch.sex FROM persons", TABLES_HINT),
    ("SELECT * FROM iceberg_scan('x')", EXTENSION_HINT),
    ("SELECT st_point(1, 2)", EXTENSION_HINT),
    ("SELECT nosuchfn(1)", FUNCTIONS_HINT),
    ("SELECT * FROM nosuch_fn()", FUNCTIONS_HINT),
    ("SELECT * FROM duckdb_extension()", FUNCTIONS_HINT),  # 'Did you mean duckdb_extensions'
    ("SELECT 1::nosuchtype", TYPES_HINT),
    ("SELECT lower(birth_year) FROM persons", CAST_HINT),
    ("SELECT 'a' + 1", CAST_HINT),
    ("SELECT sex, count(*) FROM persons", ""),  # DuckDB's own message says it all
])
def test_each_kind_of_error_has_its_hint(job: Path, sql: str, hint: str) -> None:
    assert refusal(job, sql).hint == hint


# --- Escape routes ---------------------------------------------------------------------------


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_parquet('{job}/encoded/border.parquet')",
    "SELECT * FROM '{job}/encoded/border.parquet'",
    "SELECT * FROM parquet_schema('{job}/encoded/border.parquet')",
    "SELECT * FROM read_csv('{job}/encoded/border.csv')",
    "SELECT * FROM read_text('{job}/encoded/border.csv')",
    "SELECT * FROM read_blob('{job}/encoded/border.parquet')",
    "SELECT * FROM read_blob('{job}/linkage.duckdb')",
    "SELECT * FROM read_blob('{job}/*.duckdb')",
    "SELECT * FROM read_blob('{job}/outputs.duckdb.tmp/../linkage.duckdb')",
    "SELECT * FROM read_text('{job}/outputs.duckdb/../encoded/border.csv')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('{job}/*')",
    "SELECT * FROM query('SELECT * FROM read_parquet(''{job}/encoded/border.parquet'')')",
    "SELECT * FROM 'https://example.org/data.csv'",
    "SELECT * FROM duckdb_secrets()",
    "SELECT * FROM enable_logging()",
    "SELECT getenv('HOME')",
])
def test_no_query_reaches_files_settings_or_the_environment(job: Path, sql: str) -> None:
    err = refusal(job, sql.format(job=job))
    assert str(err).startswith("query: ")
    assert "42" not in str(err)  # nothing read from the encoded extract


@pytest.mark.parametrize("sql", [
    "ATTACH '{job}/linkage.duckdb' AS hub",
    "ATTACH ':memory:' AS scratch",
    "COPY persons TO '{job}/copied.csv'",
    "COPY (SELECT 1) TO '{job}/copied.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{job}/exported'",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "INSTALL httpfs",
    "LOAD httpfs",
    "CREATE TABLE t AS SELECT 1",
])
def test_the_connection_refuses_even_without_the_statement_check(job: Path, sql: str) -> None:
    """The second guard: the connection itself, asked directly, does none of these."""
    con = open_outputs(job)
    try:
        with pytest.raises(duckdb.Error):
            con.execute(sql.format(job=job))
        assert con.execute("SELECT current_setting('enable_external_access')").fetchone() == (
            False,)
    finally:
        con.close()
    assert {p.name for p in job.iterdir()} == {"outputs.duckdb", "linkage.duckdb", "outputs",
                                               "model", "encoded"}


def test_only_the_databases_own_files_are_readable(job: Path) -> None:
    """DuckDB, external access off, still lets a query read outputs.duckdb's own files (the
    file, its WAL, its spill directory): harmless, it is the data the analyst may SELECT
    anyway. Anything else is refused (above); a new allowance would show here."""
    own = job / "outputs.duckdb"
    con = open_outputs(job)
    try:
        paths, directories = con.execute("SELECT current_setting('allowed_paths'), "
                                         "current_setting('allowed_directories')").fetchone()
        [(size,)] = con.execute(f"SELECT size FROM read_blob('{own}')").fetchall()
    finally:
        con.close()
    assert sorted(paths) == sorted(f"{own}{suffix}" for suffix in (
        "", ".wal", ".wal.checkpoint", ".wal.recovery"))
    assert directories == [f"{own}.tmp/"]
    assert size == own.stat().st_size


def test_only_the_analyst_tables_are_visible(job: Path) -> None:
    tables = run_query(job, "SELECT DISTINCT table_catalog || '.' || table_name "
                            "FROM information_schema.tables ORDER BY 1", "csv").splitlines()[1:]
    assert tables == sorted(f"outputs.{t}" for t in WRITTEN)
    listed = run_query(job, "SELECT database_name, table_name FROM duckdb_tables() ORDER BY 2",
                       "csv").splitlines()[1:]
    assert listed == [f"outputs,{t}" for t in sorted(WRITTEN)]
    columns = run_query(job, "SELECT column_name FROM information_schema.columns",
                        "csv").splitlines()[1:]
    assert columns and [c for c in columns if HUB_ONLY.search(c)] == []
    assert set(WRITTEN) <= set(ANALYST_TABLES)


def test_a_file_written_before_the_split_is_refused(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "outputs.duckdb")) as con:
        job_tables(con)
    with pytest.raises(QueryError) as caught:
        run_query(tmp_path, "SELECT count(*) FROM persons")
    assert str(caught.value) == (
        f"{tmp_path / 'outputs.duckdb'}: holds what analysts may not see "
        "(border_crossings.record_id, indicator_cells.cell_key, record_links)")
    assert "migralink link" in caught.value.hint


@pytest.mark.parametrize(("where", "message"), [
    ("", "no outputs.duckdb"),
    ("nosuch", "no such directory"),
    ("nosuch/outputs.duckdb", "no such file"),
    ("linkage.duckdb", "not a job directory"),
])
def test_a_wrong_place_is_named(tmp_path: Path, where: str, message: str) -> None:
    (tmp_path / "linkage.duckdb").write_bytes(b"")
    with pytest.raises(QueryError) as caught:
        run_query(tmp_path / where, "SELECT 1")
    assert str(caught.value) == f"{tmp_path / where}: {message}"
    assert caught.value.hint == FIND_HINT


def test_the_outputs_file_itself_will_do(job: Path) -> None:
    assert run_query(job / "outputs.duckdb", "SELECT count(*) AS n FROM persons", "csv") == (
        "n\n3")
    assert "n\n3" in run_shell(job / "outputs.duckdb", ".mode csv\nFROM (SELECT count(*) AS n "
                                                      "FROM persons);")[0]


# --- The shell -------------------------------------------------------------------------------


def run_shell(directory: Path, script: str) -> tuple[str, str, int]:
    """What the shell writes to stdout and stderr, and how many statements failed."""
    out, err = io.StringIO(), io.StringIO()
    failed = shell(directory, stdin=io.StringIO(script), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), failed


def test_shell_answers_statements_and_commands(job: Path) -> None:
    before = sha256(job / "outputs.duckdb")
    output, errors, failed = run_shell(job, ".tables\n"
                            "SELECT sex,\n"
                            "       count(*) AS n\n"
                            "FROM persons GROUP BY sex ORDER BY sex;\n"
                            "INSERT INTO persons VALUES ('P1', 'F', 'MAR', 1980, 1);\n"
                            ".mode csv\n"
                            "SELECT count(*) AS n FROM persons;\n"
                            ".quit\n"
                            "SELECT 'after quit';\n")
    lines = output.splitlines()
    tables = lines[:2 + len(WRITTEN) + 1]
    assert tables[0].split() == ["table", "rows", "holds"]
    assert [line.split()[:2] for line in tables[2:-1]] == [
        ["persons", "3"], ["border_crossings", "2"], ["stays", "2"], ["person_months", "1"],
        ["indicator_cells", "1"], ["published_cells", "1"]]
    assert lines[2 + len(WRITTEN) + 1:] == [
        "sex  n",
        "---  -",
        "F    2",
        "M    1",
        "2 rows",
        "mode: csv",
        "n",
        "3"]
    assert errors == (
        "error: query: only SELECT is allowed (got INSERT) (hint: the outputs are read-only: "
        "run one SELECT (or WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN SELECT))\n")
    assert failed == 1
    assert "sql>" not in output  # no prompt when not at a terminal
    assert sha256(job / "outputs.duckdb") == before


def test_shell_schema_help_errors_and_end_of_input(job: Path) -> None:
    output, errors, failed = run_shell(job, ".schema stays\n.schema record_links\n.nope\n"
                                            ".help\nSELECT nosuch FROM persons;\nSELECT 7 AS last")
    lines = output.splitlines()
    assert lines[:8] == [
        "table  column      type",
        "-----  ----------  -------",
        "stays  person_id   VARCHAR",
        "stays  stay        INTEGER",
        "stays  side        VARCHAR",
        "stays  start_date  DATE",
        "stays  end_date    DATE",
        "5 rows"]
    [schema, command, query] = errors.splitlines()
    assert schema == "error: .schema: no table record_links (hint: .tables lists them)"
    assert command == "error: unknown command .nope (hint: .help lists the commands)"
    assert query.startswith('error: query: Binder Error: Referenced column "nosuch"')
    assert failed == 3
    assert ".tables" in output and ".mode [table|csv|json]" in output
    assert lines[-4:] == ["last", "----", "   7", "1 row"]  # run at the end of input, without ';'


def test_shell_runs_each_statement_of_a_line_in_turn(job: Path) -> None:
    output, errors, failed = run_shell(job, ".mode csv\n"
                                            "SELECT 1 AS a; SELECT 2 AS b;\n"
                                            ";\n"
                                            "SELECT 'x;\n"
                                            "y' AS s; SELECT nosuch; SELECT 3 AS c;\n")
    assert output == 'mode: csv\na\n1\nb\n2\ns\n"x;\ny"\nc\n3\n'
    assert errors.startswith('error: query: Binder Error: Referenced column "nosuch"')
    assert failed == 1  # the lone ';' is no statement, and no error


# --- Ctrl-C ----------------------------------------------------------------------------------

LONG = "SELECT sum(hash(range)) AS s FROM range(1000000000000)"  # minutes, unless stopped


@contextlib.contextmanager
def ctrl_c(*after: float) -> Iterator[None]:
    """Send this process SIGINT, as Ctrl-C at a terminal does, `after` seconds from now."""
    timers = [threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
              for seconds in after]
    for timer in timers:
        timer.start()
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_ctrl_c_stops_a_running_query(job: Path, fmt: str) -> None:
    started = time.monotonic()
    with ctrl_c(0.3), pytest.raises(KeyboardInterrupt):
        run_query(job, LONG, fmt)
    assert time.monotonic() - started < 3
    assert run_query(job, "SELECT 1 AS one", "csv") == "one\n1"


def test_ctrl_c_in_the_shell_stops_the_query_not_the_session(job: Path) -> None:
    with ctrl_c(0.3, 1.3):
        output, errors, failed = run_shell(job, f"{LONG};\n{LONG}; SELECT 6;\n"
                                                "SELECT 7 AS after;\n")
    assert errors == "interrupted\ninterrupted\n"  # each stopped, the SELECT 6 with its line
    assert output.splitlines() == ["after", "-----", "    7", "1 row"]
    assert failed == 2


@pytest.mark.parametrize("args", [
    ["query", "{job}", LONG], ["query", "{job}", LONG, "--format", "csv"]])
def test_cli_ctrl_c_is_one_line_and_status_130(job: Path, args: list[str]) -> None:
    with ctrl_c(0.3):
        result = CliRunner().invoke(app, [arg.format(job=job) for arg in args])
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "error: interrupted\n")


@pytest.mark.parametrize("interrupt", [
    KeyboardInterrupt(), duckdb.InterruptException("INTERRUPT Error: Interrupted!"),
    RuntimeError("Query interrupted")])  # what DuckDB raises when Ctrl-C comes in execute()
@pytest.mark.parametrize("args", [["query", "{job}", "SELECT 1"], ["report", "{job}"]])
def test_every_command_maps_an_interrupt_to_status_130(
        job: Path, monkeypatch: pytest.MonkeyPatch, interrupt: BaseException,
        args: list[str]) -> None:
    def stopped(*args: object, **kwargs: object) -> None:
        raise interrupt

    monkeypatch.setattr("linkage.analyst.run_query", stopped)
    monkeypatch.setattr("linkage.report.write_report", stopped)
    result = CliRunner().invoke(app, [arg.format(job=job) for arg in args])
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "error: interrupted\n")


# --- The command line ------------------------------------------------------------------------


def test_cli_query_refuses_ddl_in_one_line(job: Path) -> None:
    result = CliRunner().invoke(app, ["query", str(job), "DROP TABLE persons"])
    assert result.exit_code == 2
    shown = [line for line in result.output.splitlines() if line.strip()]
    assert len(shown) == 1
    assert "only SELECT is allowed (got DROP)" in shown[0]
    assert "Traceback" not in result.output


def test_cli_query_prints_csv(job: Path) -> None:
    result = CliRunner().invoke(app, ["query", str(job), "SELECT count(*) AS n FROM persons",
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "n\n3" in result.output


def test_cli_query_json_is_format_json_and_refuses_another_format(job: Path) -> None:
    sql = "SELECT count(*) AS n FROM persons"
    for extra in (["--json"], ["--json", "--format", "json"], ["--format", "json"]):
        result = CliRunner().invoke(app, ["query", str(job), sql, *extra])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == [{"n": 3}]
    result = CliRunner().invoke(app, ["query", str(job), sql, "--json", "--format", "csv"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == ("error: --json and --format csv disagree; hint: --json prints the "
                             "rows as JSON (as --format json does): give one or the other\n")


@pytest.mark.parametrize(("where", "message"), [
    ("nosuch", "nosuch: no such directory"), ("", ": no outputs.duckdb")])
def test_cli_names_a_wrong_directory(tmp_path: Path, where: str, message: str) -> None:
    for command in (["query", str(tmp_path / where), "SELECT 1"], ["shell", str(tmp_path / where)]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2
        assert result.stderr == f"error: {tmp_path / where}{message.removeprefix(where)}; " \
                                f"hint: {FIND_HINT}\n"


def test_cli_query_takes_the_outputs_file_itself(job: Path) -> None:
    result = CliRunner().invoke(app, ["query", str(job / "outputs.duckdb"),
                                      "SELECT count(*) AS n FROM persons", "--format", "csv"])
    assert (result.exit_code, result.stdout) == (0, "n\n3\n")


def test_cli_shell_fed_from_a_pipe_exits_2_when_a_statement_failed(job: Path) -> None:
    result = CliRunner().invoke(app, ["shell", str(job)],
                                input="SELECT nosuch FROM persons;\nSELECT 1 AS one;\n")
    assert result.exit_code == 2
    assert result.stdout == "one\n---\n  1\n1 row\n"
    assert result.stderr.startswith('error: query: Binder Error: Referenced column "nosuch"')
    result = CliRunner().invoke(app, ["shell", str(job)], input="SELECT 1 AS one;\n;\n")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "one\n---\n  1\n1 row\n", "")
