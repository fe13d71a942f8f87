"""Analysts' read-only access to a job's outputs.duckdb: `migralink query` and `migralink shell`.

outputs.duckdb holds the analyst tables only (linkage.outputs.ANALYST_TABLES: persons, events,
the timeline, indicator cells; no tokens, Bloom filters, match weights, record ids or cell
keys). Three guards keep a query to those tables:

- the file is opened read-only, with external access off (no file, URL, ATTACH, COPY, secret
  or extension) and the configuration locked (no SET can turn it back on);
- each query is parsed first: only one SELECT (WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE
  and EXPLAIN of a SELECT included) runs; anything else is refused, naming its kind;
- a file that holds any other table or a hub-only column (written before analysts' access)
  is refused as a whole.

DuckDB's own messages are shown (first line and position): they are about the analyst's SQL,
and the connection can read nothing the analyst may not SELECT anyway.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import duckdb

from linkage.outputs import ANALYST_TABLES, HUB_ONLY_COLUMNS, OUTPUTS_DB
from migralink.errors import MigralinkError

__all__ = ["ANALYST_TABLES", "FORMATS", "QueryError", "open_outputs", "run_query", "shell"]

FORMATS = ("table", "csv", "json")
TABLE_ROWS = 40  # rows a table shows unless a limit is given
GUARDED: dict[str, Any] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}
READ_ONLY_HINT = ("the outputs are read-only: run one SELECT (or WITH, DESCRIBE, SHOW, "
                  "SUMMARIZE, EXPLAIN SELECT)")
CLOSED_HINT = ("analysts' access reads the tables of outputs.duckdb only: no files, URLs, "
               "ATTACH, extensions or settings")
TABLES_HINT = "SHOW TABLES lists the tables, DESCRIBE TABLE their columns"


class QueryError(MigralinkError):
    """An analyst's query cannot run: refused, or DuckDB rejected it."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


# --- The guarded connection -------------------------------------------------------------------


def open_outputs(directory: Path) -> duckdb.DuckDBPyConnection:
    """A read-only, closed connection to DIRECTORY/outputs.duckdb holding analyst tables only."""
    path = Path(directory) / OUTPUTS_DB
    if not path.is_file():
        raise QueryError(f"{path}: no such file", hint="run `migralink link` first")
    try:
        con = duckdb.connect(str(path), read_only=True, config=GUARDED)
    except duckdb.Error as err:
        raise QueryError(f"{path}: cannot be opened: {str(err).splitlines()[0]}") from None
    try:
        check_layout(con, path)
    except QueryError:
        con.close()
        raise
    return con


def check_layout(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a file with a table, view or column that is not for analysts."""
    names = {name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() UNION "
        "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    hidden = {f"{table}.{column}" for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE column_name IN "
        "(SELECT unnest(?::VARCHAR[])) AND table_name IN (SELECT unnest(?::VARCHAR[]))",
        [list(HUB_ONLY_COLUMNS), list(ANALYST_TABLES)]).fetchall()}
    extra = sorted((names - set(ANALYST_TABLES)) | hidden)
    if extra:
        raise QueryError(f"{path}: holds what analysts may not see ({', '.join(extra)})",
                         hint="it was written before analysts' access; run `migralink link` "
                              "again")


def present_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The analyst tables the file holds, in ANALYST_TABLES order."""
    names = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    return [table for table in ANALYST_TABLES if table in names]


# --- One statement, checked -------------------------------------------------------------------


def statement_kind(sql: str) -> str:
    """The statement's first keyword (INSTALL, TRUNCATE...), after comments, upper case."""
    rest = re.sub(r"^(\s+|--[^\n]*|/\*.*?\*/)+", "", sql, flags=re.DOTALL)
    word = re.match(r"[A-Za-z_]+", rest)
    return word[0].upper() if word else "?"


def check_select(sql: str) -> None:
    """Raise unless `sql` is exactly one SELECT (or EXPLAIN of one)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as err:
        raise QueryError(f"query: {error_line(err, sql)}",
                         hint="check the SQL at that position") from None
    if not statements:
        raise QueryError("query: no SQL statement given", hint=READ_ONLY_HINT)
    if len(statements) > 1:
        raise QueryError(f"query: one statement at a time (got {len(statements)})",
                         hint="run each SELECT on its own")
    kind = statement_type(statements[0])
    if not is_select(kind, statements[0].query):
        raise QueryError(f"query: only SELECT is allowed (got {refused_kind(sql, kind)})",
                         hint=refused_hint(sql, kind))


def statement_type(statement: Any) -> duckdb.StatementType | None:
    """The parsed statement's type; None for one the Python API cannot name (UPDATE
    EXTENSIONS)."""
    try:
        return statement.type
    except ValueError:
        return None


def is_select(kind: duckdb.StatementType | None, sql: str) -> bool:
    """A SELECT, or an EXPLAIN [ANALYZE] of exactly one SELECT."""
    if kind == duckdb.StatementType.SELECT:
        return True
    if kind != duckdb.StatementType.EXPLAIN:
        return False
    inner = re.sub(r"^\s*EXPLAIN(\s+ANALY[SZ]E)?", "", sql, flags=re.IGNORECASE)
    try:
        inner_kinds = [statement_type(s) for s in duckdb.extract_statements(inner)]
    except duckdb.Error:
        return False
    return inner_kinds == [duckdb.StatementType.SELECT]


def refused_kind(sql: str, kind: duckdb.StatementType | None) -> str:
    """What to call a refused statement: its first keyword, or its type after WITH."""
    word = statement_kind(sql)
    if word in ("WITH", "?") and kind is not None:
        return kind.name.replace("_", " ")
    return word


def refused_hint(sql: str, kind: duckdb.StatementType | None) -> str:
    if kind == duckdb.StatementType.MULTI and statement_kind(sql) == "PIVOT":
        return "a PIVOT must name its values to stay read-only: PIVOT t ON col IN ('a', 'b') ..."
    return READ_ONLY_HINT


def error_line(err: duckdb.Error, sql: str) -> str:
    """DuckDB's message in one line: its first line, any 'Did you mean', and the position."""
    lines = str(err).splitlines()
    kept = [lines[0]] + [line for line in lines[1:]
                         if line.startswith(("Did you mean", "Candidate bindings"))]
    return "; ".join(kept) + position(lines, sql)


def position(lines: list[str], sql: str) -> str:
    """' (line L, column C)' from DuckDB's 'LINE L: ...' and caret lines, or ''."""
    for context_line, caret_line in zip(lines, lines[1:], strict=False):
        match = re.match(r"LINE (\d+): (.*)", context_line)
        if not match or "^" not in caret_line:
            continue
        number, context = int(match[1]), match[2]
        caret = caret_line.index("^") - match.start(2)
        shown = context.removeprefix("...")
        skipped = len(context) - len(shown)
        sql_lines = sql.splitlines()
        start = sql_lines[number - 1].find(shown.removesuffix("...")) \
            if number <= len(sql_lines) else -1
        if start < 0:
            return f" (line {number})"
        return f" (line {number}, column {start + caret - skipped + 1})"
    return ""


def error_hint(err: duckdb.Error) -> str:
    if isinstance(err, duckdb.PermissionException) or "configuration has been locked" in str(err):
        return CLOSED_HINT
    if isinstance(err, duckdb.CatalogException | duckdb.BinderException):
        return TABLES_HINT
    if isinstance(err, duckdb.ParserException):
        return "check the SQL at that position"
    return ""


# --- Formats ----------------------------------------------------------------------------------


def text(value: Any) -> str:
    """A value as CSV and table cells show it ('' for NULL, ISO dates, true/false)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=json_value, ensure_ascii=False)
    return str(value)


def json_value(value: Any) -> Any:
    """What json.dumps cannot write itself: dates and times as ISO strings, decimals as
    numbers, anything else as its text."""
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def as_csv(columns: Sequence[str], rows: Sequence[tuple]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([text(v) for v in row] for row in rows)
    return out.getvalue()[:-1]


def unique_names(columns: Sequence[str]) -> list[str]:
    """Column names made unique as DuckDB does (a, a_1, a_2), so no JSON key hides another."""
    names: list[str] = []
    for name in columns:
        unique, n = name, 0
        while unique in names:
            n += 1
            unique = f"{name}_{n}"
        names.append(unique)
    return names


def as_json(columns: Sequence[str], rows: Sequence[tuple]) -> str:
    names = unique_names(columns)
    records = [dict(zip(names, row, strict=True)) for row in rows]
    return json.dumps(records, indent=2, ensure_ascii=False, default=json_value)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def as_table(columns: Sequence[str], rows: Sequence[tuple], total: int, more: str) -> str:
    """Fixed-width columns (numbers to the right, NULL shown), then 'N rows'; `more` says how
    to see the rest when not all `total` rows are shown."""
    cells = [[("NULL" if v is None else text(v)).split("\n") for v in row] for row in rows]
    header = [[name] for name in columns]
    widths = [max(len(line) for cell in column for line in cell)
              for column in zip(header, *cells, strict=True)]
    right = [bool(rows) and all(is_number(row[i]) for row in rows if row[i] is not None)
             for i in range(len(columns))]
    lines = table_lines(header, widths, [False] * len(columns))
    lines.append("  ".join("-" * width for width in widths))
    for row in cells:
        lines += table_lines(row, widths, right)
    footer = f"{total} row{'' if total == 1 else 's'}"
    if len(rows) < total:
        footer += f" (showing {len(rows)}; {more})"
    return "\n".join([*lines, footer])


def table_lines(row: list[list[str]], widths: list[int], right: list[bool]) -> list[str]:
    """The lines of one table row; a cell with line breaks takes several."""
    height = max((len(cell) for cell in row), default=1)
    lines = []
    for i in range(height):
        parts = [(str.rjust if r else str.ljust)(cell[i] if i < len(cell) else "", w)
                 for cell, w, r in zip(row, widths, right, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return lines


def formatted(result: duckdb.DuckDBPyConnection, fmt: str, limit: int | None, more: str) -> str:
    """A result's rows as `fmt`: a table shows `limit` (default TABLE_ROWS) of them and counts
    all; CSV and JSON give all, or the first `limit`."""
    columns = [d[0] for d in result.description]
    if fmt == "table":
        rows = result.fetchmany(limit or TABLE_ROWS)
        total = len(rows) + sum(len(chunk) for chunk in iter(lambda: result.fetchmany(10_000), []))
        return as_table(columns, rows, total, more)
    rows = result.fetchall() if limit is None else result.fetchmany(limit)
    return as_csv(columns, rows) if fmt == "csv" else as_json(columns, rows)


def query_text(con: duckdb.DuckDBPyConnection, sql: str, fmt: str, limit: int | None,
               more: str) -> str:
    """Check and run one SELECT, its rows as `fmt`; DuckDB's errors become one-line
    QueryErrors."""
    check_select(sql)
    try:
        return formatted(con.execute(sql), fmt, limit, more)
    except duckdb.Error as err:
        raise QueryError(f"query: {error_line(err, sql)}", hint=error_hint(err)) from None


# --- migralink query --------------------------------------------------------------------------


def run_query(directory: Path, sql: str, fmt: str = "table", limit: int | None = None) -> str:
    """The result of one read-only SELECT on the analyst tables, formatted as `fmt`."""
    if fmt not in FORMATS:
        raise QueryError(f"query: format must be one of {', '.join(FORMATS)} (got {fmt})")
    if limit is not None and limit < 1:
        raise QueryError(f"query: limit must be at least 1 (got {limit})")
    check_select(sql)  # before opening: a refused statement needs no file
    con = open_outputs(directory)
    try:
        return query_text(con, sql, fmt, limit, "use --limit or --format csv")
    finally:
        con.close()


# --- migralink shell --------------------------------------------------------------------------

HELP = """\
SQL statements end with ';' and may span lines. Only SELECT runs (WITH, DESCRIBE, SHOW,
SUMMARIZE and EXPLAIN SELECT too); the file is read-only.
.tables              the analyst tables, their rows and what they hold
.schema [TABLE]      the columns of TABLE (or of every table)
.mode [table|csv|json]  how results are shown (now: {mode})
.help                this text
.quit                leave (or end of input)"""


class Shell:
    """A read-only SQL prompt on a guarded connection: statements and dot commands."""

    def __init__(self, con: duckdb.DuckDBPyConnection, read: Callable[[str], str | None],
                 write: Callable[[str], None]):
        self.con, self.read, self.write = con, read, write
        self.mode = "table"

    def run(self) -> None:
        """Read until .quit or the end of input; a statement runs at its closing ';'."""
        buffer: list[str] = []
        while True:
            try:
                line = self.read("...> " if buffer else "sql> ")
            except KeyboardInterrupt:  # Ctrl-C at the prompt drops the statement begun
                self.write("")
                buffer = []
                continue
            if line is None:
                break
            if not buffer and line.strip().startswith("."):
                if not self.command(line.strip()):
                    return
                continue
            if buffer or line.strip():
                buffer.append(line)
            if buffer and line.rstrip().endswith(";"):
                self.answer("\n".join(buffer))
                buffer = []
        if "".join(buffer).strip():
            self.answer("\n".join(buffer))

    def answer(self, sql: str) -> None:
        """Run one statement and write its result, or its error in one line."""
        try:
            self.write(query_text(self.con, sql, self.mode, None,
                                  "add LIMIT/OFFSET, or .mode csv for all"))
        except MigralinkError as err:
            self.write(error_text(err))
        except KeyboardInterrupt:
            self.write("interrupted")

    def command(self, line: str) -> bool:
        """Do one dot command; False for .quit."""
        name, _, argument = line.partition(" ")
        argument = argument.strip()
        if name in (".quit", ".exit", ".q"):
            return False
        try:
            self.write(self.dot(name, argument))
        except MigralinkError as err:
            self.write(error_text(err))
        return True

    def dot(self, name: str, argument: str) -> str:
        if name == ".tables":
            return tables_text(self.con)
        if name == ".schema":
            return schema_text(self.con, argument or None)
        if name == ".mode":
            if argument and argument not in FORMATS:
                raise QueryError(f".mode: one of {', '.join(FORMATS)} (got {argument})")
            self.mode = argument or self.mode
            return f"mode: {self.mode}"
        if name == ".help":
            return HELP.format(mode=self.mode)
        raise QueryError(f"unknown command {name}", hint=".help lists the commands")


def error_text(err: MigralinkError) -> str:
    return f"error: {err}" + (f" (hint: {err.hint})" if err.hint else "")


def tables_text(con: duckdb.DuckDBPyConnection) -> str:
    rows = [(table, con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0],
             ANALYST_TABLES[table]) for table in present_tables(con)]
    return as_table(["table", "rows", "holds"], rows, len(rows), "")


def schema_text(con: duckdb.DuckDBPyConnection, table: str | None) -> str:
    tables = present_tables(con)
    if table is not None and table not in tables:
        raise QueryError(f".schema: no table {table}", hint=".tables lists them")
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE table_name IN (SELECT unnest(?::VARCHAR[])) ORDER BY table_name, column_index",
        [[table] if table else tables]).fetchall()
    order = {name: i for i, name in enumerate(tables)}
    rows.sort(key=lambda row: order[row[0]])
    return as_table(["table", "column", "type"], rows, len(rows), "")


def line_reader(stream: TextIO, interactive: bool) -> Callable[[str], str | None]:
    """read(prompt) -> the next line without its newline, or None at the end. At a terminal
    it prompts (with line editing); from a pipe or file it reads quietly."""
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - input() gains line editing and history

        def prompted(prompt: str) -> str | None:
            try:
                return input(prompt)
            except EOFError:
                return None

        return prompted

    def quiet(_prompt: str) -> str | None:
        line = stream.readline()
        return line.rstrip("\n") if line else None

    return quiet


def shell(directory: Path, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    """An interactive read-only SQL prompt on the analyst tables (reads `stdin`, writes
    `stdout`; sys.stdin and sys.stdout by default)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin is sys.stdin and stdin.isatty()
    con = open_outputs(directory)
    try:
        if interactive:
            print(f"migralink shell on {Path(directory) / OUTPUTS_DB} (read-only); "
                  ".help for help, .quit to leave", file=stdout)
        Shell(con, line_reader(stdin, interactive), lambda s: print(s, file=stdout)).run()
    finally:
        con.close()
