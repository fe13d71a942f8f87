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

Ctrl-C stops the query running (it runs in a thread of its own, so that it can be stopped
at once) and raises KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO, TypeVar

import duckdb

from linkage.outputs import ANALYST_TABLES, HUB_ONLY_COLUMNS, OUTPUTS_DB
from migralink.errors import MigralinkError

__all__ = ["ANALYST_TABLES", "FORMATS", "QueryError", "open_outputs", "run_query", "shell"]

T = TypeVar("T")
FORMATS = ("table", "csv", "json")
TABLE_ROWS = 40  # rows a table shows unless a limit is given
GUARDED: dict[str, Any] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}
# With external access off DuckDB still lets a query read the database's own files: the file
# itself, its .wal files and its temporary directory (outputs.duckdb.tmp/, where DuckDB spills
# this connection's queries). read_blob('DIR/outputs.duckdb') thus works: harmless, it is the
# very data the analyst may SELECT, and the hub writes outputs.duckdb through a connection of
# its own, so nothing else spills there. Every other path is refused (tested).
READ_ONLY_HINT = ("the outputs are read-only: run one SELECT (or WITH, DESCRIBE, SHOW, "
                  "SUMMARIZE, EXPLAIN SELECT)")
CLOSED_HINT = ("analysts' access reads the tables of outputs.duckdb only: no files, URLs, "
               "ATTACH, extensions or settings")
TABLES_HINT = "SHOW TABLES lists the tables, DESCRIBE TABLE their columns"
FUNCTIONS_HINT = "SELECT DISTINCT function_name FROM duckdb_functions() lists the functions"
EXTENSION_HINT = ("extensions are off in analysts' access: DuckDB's built-in functions only "
                  "(SELECT DISTINCT function_name FROM duckdb_functions() lists them)")
TYPES_HINT = "SELECT type_name FROM duckdb_types() lists the types"
CAST_HINT = "the arguments' types do not fit the function: cast them, e.g. birth_year::VARCHAR"
SYNTAX_HINT = "check the SQL at that position"
FIND_HINT = ("give the job directory where `migralink link` wrote outputs.duckdb (or that "
             "file itself)")


class QueryError(MigralinkError):
    """An analyst's query cannot run: refused, or DuckDB rejected it."""


# --- The guarded connection -------------------------------------------------------------------


def outputs_file(path: Path) -> Path:
    """PATH/outputs.duckdb for a job directory, or PATH itself when it is that file."""
    path = Path(path)
    if path.is_dir():
        if (path / OUTPUTS_DB).is_file():
            return path / OUTPUTS_DB
        raise QueryError(f"{path}: no {OUTPUTS_DB}", hint=FIND_HINT)
    if path.name == OUTPUTS_DB:
        if path.is_file():
            return path
        raise QueryError(f"{path}: no such file", hint=FIND_HINT)
    if path.exists():
        raise QueryError(f"{path}: not a job directory", hint=FIND_HINT)
    raise QueryError(f"{path}: no such directory", hint=FIND_HINT)


def open_outputs(directory: Path) -> duckdb.DuckDBPyConnection:
    """A read-only, closed connection to DIRECTORY/outputs.duckdb (or to that file, given
    itself) holding analyst tables only."""
    path = outputs_file(directory)
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


def parsed(sql: str) -> list[Any]:
    """DuckDB's statements of `sql`, in order; a QueryError naming the position when it does
    not parse."""
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as err:
        raise QueryError(f"query: {error_line(err, sql)}", hint=SYNTAX_HINT) from None


def check_select(sql: str) -> None:
    """Raise unless `sql` is exactly one SELECT (or EXPLAIN of one)."""
    statements = parsed(sql)
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
    """What to try after DuckDB's error, by its kind: a name that is not there (table or
    column, function, type), arguments of the wrong type, a syntax error, a closed door."""
    message = str(err)
    if isinstance(err, duckdb.PermissionException) or "configuration has been locked" in message:
        return CLOSED_HINT
    if isinstance(err, duckdb.CatalogException):
        if "Function with name" in message:
            return EXTENSION_HINT if "it exists in the" in message else FUNCTIONS_HINT
        if "Type with name" in message:
            return TYPES_HINT
        return TABLES_HINT  # a table, or a schema
    if isinstance(err, duckdb.BinderException):
        if "No function matches" in message or "best candidate function" in message:
            return CAST_HINT
        if any(words in message for words in ("Referenced column", "Referenced table",
                                              "does not have a column")):
            return TABLES_HINT
        return ""
    if isinstance(err, duckdb.ParserException):
        return SYNTAX_HINT
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


def rows_text(n: int) -> str:
    return f"{n} row{'' if n == 1 else 's'}"


def as_table(columns: Sequence[str], rows: Sequence[tuple], more: str | None = None) -> str:
    """Fixed-width columns (numbers to the right, NULL shown), then 'N rows'; or, when the
    result has more rows than shown, 'more than N rows (`more`)'."""
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
    footer = rows_text(len(rows)) if more is None else f"more than {rows_text(len(rows))} ({more})"
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
    """A result's rows as `fmt`: a table shows `limit` (default TABLE_ROWS) of them, and
    `more` when there are more (it fetches one row past, never the rest); CSV and JSON give
    all, or the first `limit`."""
    columns = [d[0] for d in result.description]
    if fmt == "table":
        shown = limit or TABLE_ROWS
        rows = result.fetchmany(shown + 1)
        return as_table(columns, rows[:shown], more if len(rows) > shown else None)
    rows = result.fetchall() if limit is None else result.fetchmany(limit)
    return as_csv(columns, rows) if fmt == "csv" else as_json(columns, rows)


def query_text(con: duckdb.DuckDBPyConnection, sql: str, fmt: str, limit: int | None,
               more: str) -> str:
    """Check and run one SELECT, its rows as `fmt` (`more`: what a cut table says); DuckDB's
    errors become one-line QueryErrors, and an interrupted query a KeyboardInterrupt."""
    check_select(sql)
    try:
        return interruptible(con, lambda: formatted(con.execute(sql), fmt, limit, more))
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except duckdb.Error as err:
        raise QueryError(f"query: {error_line(err, sql)}", hint=error_hint(err)) from None


def interruptible(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """work() on `con`, run in a thread of its own while this one waits: Ctrl-C then stops it
    at once (con.interrupt()) and raises KeyboardInterrupt here. A query run in the main
    thread sees Ctrl-C only when DuckDB looks for it, and with some queries it never does."""
    outcome: dict[str, Any] = {}
    done = threading.Event()  # not Thread.join: interrupted, it may take the thread for ended

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as err:  # noqa: BLE001 - raised again in the waiting thread
            outcome["error"] = err
        finally:
            done.set()

    threading.Thread(target=run, name="migralink-query", daemon=True).start()
    stopped = False
    while not done.is_set():
        try:
            # A signal caught by another thread does not wake a wait: Python sees it when
            # this thread next runs, hence the short waits.
            done.wait(0.1)
        except KeyboardInterrupt:
            stopped = True
        if stopped:  # again at every wait: an interrupt before the query has started is lost
            con.interrupt()
    if stopped:
        raise KeyboardInterrupt
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --- migralink query --------------------------------------------------------------------------


def run_query(directory: Path, sql: str, fmt: str = "table", limit: int | None = None) -> str:
    """The result of one read-only SELECT on the analyst tables (of a job directory, or of
    its outputs.duckdb given itself), formatted as `fmt`."""
    if fmt not in FORMATS:
        raise QueryError(f"query: format must be one of {', '.join(FORMATS)} (got {fmt})")
    if limit is not None and limit < 1:
        raise QueryError(f"query: limit must be at least 1 (got {limit})")
    check_select(sql)  # before opening: a refused statement needs no file
    con = open_outputs(directory)
    try:
        more = (f"--limit {limit}" if limit is not None
                else f"showing {TABLE_ROWS}; use --limit or --format csv")
        return query_text(con, sql, fmt, limit, more)
    finally:
        con.close()


# --- migralink shell --------------------------------------------------------------------------

HELP = """\
SQL statements end with ';' and may span lines, or share one. Only SELECT runs (WITH,
DESCRIBE, SHOW, SUMMARIZE and EXPLAIN SELECT too); the file is read-only. Ctrl-C stops a
query and keeps the session.
.tables              the analyst tables, their rows and what they hold
.schema [TABLE]      the columns of TABLE (or of every table)
.mode [table|csv|json]  how results are shown (now: {mode})
.help                this text
.quit                leave (or end of input)"""
SHELL_MORE = f"showing {TABLE_ROWS}; add LIMIT/OFFSET, or .mode csv for all"


class Shell:
    """A read-only SQL prompt on a guarded connection: statements and dot commands. Results
    go to `write`, errors to `warn`; `failed` counts the statements and commands that failed."""

    def __init__(self, con: duckdb.DuckDBPyConnection, read: Callable[[str], str | None],
                 write: Callable[[str], None], warn: Callable[[str], None]):
        self.con, self.read, self.write, self.warn = con, read, write, warn
        self.mode = "table"
        self.failed = 0

    def run(self) -> int:
        """Read until .quit or the end of input, running statements at a line's closing ';';
        the number that failed."""
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
                    return self.failed
                continue
            if buffer or line.strip():
                buffer.append(line)
            if buffer and line.rstrip().endswith(";") and self.answer("\n".join(buffer)):
                buffer = []
        if "".join(buffer).strip():
            self.answer("\n".join(buffer), final=True)
        return self.failed

    def answer(self, sql: str, final: bool = False) -> bool:
        """Run the statements of `sql` in turn (DuckDB splits them), writing each result or
        error in one line. False, running nothing, while a string or comment is still open
        (its ';' was inside), unless `final`."""
        try:
            statements = [statement.query for statement in parsed(sql)]
        except QueryError as err:
            if not final and "unterminated" in str(err):
                return False
            self.fail(error_text(err))
            return True
        for statement in statements:  # none for a lone ';'
            try:
                self.write(query_text(self.con, statement, self.mode, None, SHELL_MORE))
            except MigralinkError as err:
                self.fail(error_text(err))
            except KeyboardInterrupt:  # stops this line's statements, not the session
                self.fail("interrupted")
                break
        return True

    def fail(self, message: str) -> None:
        self.failed += 1
        self.warn(message)

    def command(self, line: str) -> bool:
        """Do one dot command; False for .quit."""
        name, _, argument = line.partition(" ")
        argument = argument.strip()
        if name in (".quit", ".exit", ".q"):
            return False
        try:
            self.write(self.dot(name, argument))
        except MigralinkError as err:
            self.fail(error_text(err))
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
    return as_table(["table", "rows", "holds"], rows)


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
    return as_table(["table", "column", "type"], rows)


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


def shell(directory: Path, stdin: TextIO | None = None, stdout: TextIO | None = None,
          stderr: TextIO | None = None) -> int:
    """A read-only SQL prompt on the analyst tables (of a job directory, or of its
    outputs.duckdb given itself): reads `stdin`, writes results to `stdout` and errors to
    `stderr` (sys's by default); the number of statements and commands that failed."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    interactive = stdin is sys.stdin and stdin.isatty()
    path = outputs_file(directory)
    con = open_outputs(path)
    try:
        if interactive:
            print(f"migralink shell on {path} (read-only); .help for help, .quit to leave",
                  file=stdout)
        return Shell(con, line_reader(stdin, interactive),
                     lambda s: print(s, file=stdout, flush=True),
                     lambda s: print(s, file=stderr, flush=True)).run()
    finally:
        con.close()
