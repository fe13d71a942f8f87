"""Leak scan: look for cleartext identity values in every hub-side file.

Files are read by content, not as bytes (Parquet and DuckDB compress strings, so a byte scan
finds nothing). Two scans, whose findings name the file, table, column and row, never the value:

- `scan`: every string cell, and every word inside it, is compared with a set of forbidden
  values (tests, which hold the raw extracts);
- `scan_patterns`: values shaped like document numbers, birth dates or names
  (rules/audit/leak_patterns.yaml), for the privacy officer at the hub, who holds no raw value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict

from migralink.config import RULES_DIR
from pseudonymise.normalise import NameKind, NameRules, _read_rows, fold, normalise_name

# What the hub receives or writes inside a job directory.
HUB_SIDE = ("encoded", "outputs.duckdb", "outputs", "model", "quality.json", "logs")


@dataclass(frozen=True)
class Finding:
    file: str
    table: str
    column: str
    row: int      # first row (1-based) where a forbidden value appears
    count: int    # rows where one appears

    def __str__(self) -> str:
        return (f"{self.file}: table {self.table}, column {self.column}, row {self.row} "
                f"({self.count} rows)")


def hub_side_files(job_dir: Path) -> list[Path]:
    files: list[Path] = []
    for name in HUB_SIDE:
        path = job_dir / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file())
    return files


_MATCHES = """
    WITH cells AS (
        SELECT row_number() OVER () AS n, lower(trim(CAST({column} AS VARCHAR))) AS text
        FROM {relation}
    ), words AS (  -- plain words, and tokens that keep dates and numbers whole (1970-05-14)
        SELECT n, text, unnest(regexp_split_to_array(text, '[^[:alnum:]]+')) AS word FROM cells
        UNION ALL
        SELECT n, text, unnest(regexp_split_to_array(text, '[^[:alnum:]/.-]+')) FROM cells
    )
    SELECT min(n), count(DISTINCT n) FROM words
    WHERE word IN (SELECT value FROM forbidden) OR text IN (SELECT value FROM forbidden)
"""


def _scan_relation(con: duckdb.DuckDBPyConnection, file: Path, table: str, relation: str
                   ) -> list[Finding]:
    findings = []
    described = f"SELECT column_name FROM (DESCRIBE SELECT * FROM {relation})"
    for (column,) in con.execute(described).fetchall():
        quoted = '"' + column.replace('"', '""') + '"'
        first, count = con.execute(_MATCHES.format(column=quoted, relation=relation)).fetchone()
        if count:
            findings.append(Finding(str(file), table, column, first, count))
    return findings


def _tables(path: Path, con: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, str]]:
    """(table name, relation SQL) of every table a file holds; text files are one 'table'."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield "-", f"read_parquet('{path}')"
    elif suffix == ".duckdb":
        con.execute(f"ATTACH '{path}' AS scanned (READ_ONLY)")
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'scanned'"
        ).fetchall():
            yield table, f"scanned.main.{table}"
    elif suffix == ".csv":
        yield "-", f"read_csv('{path}', all_varchar = true, header = false)"


def scan_file(path: Path, forbidden: set[str]) -> list[Finding]:
    """Where forbidden values (lower case) appear as a whole cell or a word in a cell."""
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE forbidden AS SELECT unnest(?::VARCHAR[]) AS value",
                    [sorted(forbidden)])
        relations = list(_tables(path, con))
        if not relations:  # any other file is read as text, one line a row
            relations = [("-", f"read_csv('{path}', columns = {{'line': 'VARCHAR'}}, "
                               "header = false, delim = '\x01', quote = '', escape = '')")]
        return [f for table, relation in relations
                for f in _scan_relation(con, path, table, relation)]
    finally:
        con.close()


def scan(files: Iterable[Path], forbidden: set[str]) -> list[Finding]:
    return [finding for path in files for finding in scan_file(path, forbidden)]


# --- Pattern scan: identity-shaped values, with no list of raw values -----------------------
#
# The auditor at the hub holds no raw extract, so `scan_patterns` looks for values shaped like
# document numbers, birth dates and names (rules/audit/leak_patterns.yaml). Each table is
# reduced to its distinct (column, value) cells first, so the regular expressions and the name
# check run once per distinct value, in DuckDB; Python only normalises the distinct words that
# could be names.

LEAK_PATTERNS = RULES_DIR / "audit" / "leak_patterns.yaml"
KINDS = ("document_number", "birth_date", "name")
_TEXT_SAMPLE = 8192  # bytes read to tell a text file from a binary one


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DocumentShape(_Strict):
    name: str
    regex: str
    min_digits: int = 0
    min_letters: int = 0


class DateShape(_Strict):
    name: str
    regex: str  # one capture group: the year


class YearRange(_Strict):
    min: int
    max: int


class BirthDateRules(_Strict):
    years: YearRange
    shapes: list[DateShape]


class NameCheck(_Strict):
    tables: dict[NameKind, list[str]]
    min_letters: int
    not_names: list[str] = []


class LeakRules(_Strict):
    version: int
    token: str
    document_numbers: list[DocumentShape]
    birth_dates: BirthDateRules
    names: NameCheck
    id_columns: list[str]

    @classmethod
    def load(cls, path: Path = LEAK_PATTERNS) -> LeakRules:
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class PatternFinding:
    """Rows of one column that hold identity-shaped values; never the value itself."""

    file: str
    table: str    # "-" for a Parquet, CSV or text file
    column: str   # CSV: the header name (or columnN), text files: "line"
    kind: str     # document_number | birth_date | name | not_scanned
    row: int      # first such row, 1-based (CSV and text files: the line number)
    count: int    # rows that hold one

    def where(self, directory: Path | None = None) -> str:
        file = self.file
        if directory is not None:
            with contextlib.suppress(ValueError):
                file = str(Path(self.file).relative_to(directory))
        if self.kind == "not_scanned":
            return file
        table = "" if self.table == "-" else f"table {self.table}, "
        return f"{file}, {table}column {self.column}, row {self.row}"

    @property
    def what(self) -> str:
        if self.kind == "not_scanned":
            return "binary file the leak scan cannot read"
        shown = self.kind.replace("_", " ")
        return f"{self.count} row{'s' if self.count != 1 else ''} with a {shown}"

    def __str__(self) -> str:
        return f"{self.where()}: {self.what}"


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _document_condition(rules: LeakRules) -> str:
    """SQL over a token `t` (upper case) with its digit and letter counts `d` and `l`."""
    return " OR ".join(
        f"(regexp_full_match(t, {_sql_text(s.regex)}) AND d >= {s.min_digits} "
        f"AND l >= {s.min_letters})" for s in rules.document_numbers)


def _any(shapes: list[DocumentShape] | list[DateShape]) -> str:
    """One regular expression matching what any of the shapes matches."""
    return _sql_text("|".join(f"(?:{s.regex})" for s in shapes))


def _birth_date_condition(rules: LeakRules) -> str:
    years = rules.birth_dates.years
    return " OR ".join(
        f"(regexp_full_match(t, {_sql_text(s.regex)}) AND TRY_CAST(regexp_extract(t, "
        f"{_sql_text(s.regex)}, 1) AS INTEGER) BETWEEN {years.min} AND {years.max})"
        for s in rules.birth_dates.shapes)


@dataclass
class _Names:
    """Words of every canonical name of the name tables, by kind, and the verdicts so far."""

    rules: NameRules
    canonical: dict[NameKind, frozenset[str]]
    not_names: frozenset[str]
    seen: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def load(cls, check: NameCheck, folder: Path) -> _Names:
        rules = NameRules.load(folder)
        canonical: dict[NameKind, frozenset[str]] = {}
        for kind, files in check.tables.items():
            words: set[str] = set()
            for file in files:
                for row in _read_rows(folder / file):
                    name = row["canonical"] if "canonical" in row else row["name"]
                    words.update((normalise_name(name, kind, rules) or "").split())
            canonical[kind] = frozenset(w for w in words if len(w) >= check.min_letters)
        return cls(rules, canonical, frozenset(fold(w) for w in check.not_names))

    def is_name(self, text: str) -> bool:
        if text not in self.seen:
            kept = " ".join(w for w in fold(text).split() if w not in self.not_names)
            self.seen[text] = bool(kept) and any(
                set((normalise_name(kept, kind, self.rules) or "").split()) & words
                for kind, words in self.canonical.items())
        return self.seen[text]


def _is_binary(path: Path) -> bool:
    with open(path, "rb") as handle:
        return b"\0" in handle.read(_TEXT_SAMPLE)


def _text_lines(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """A relation (__row, line) of a text file's lines, numbered from 1."""
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE text_file AS SELECT content FROM read_text(?)",
                    [str(path)])
    except duckdb.Error:  # not UTF-8: decode what can be decoded
        text = path.read_bytes().decode("utf-8", errors="replace")
        con.execute("CREATE OR REPLACE TEMP TABLE text_file AS SELECT ?::VARCHAR AS content",
                    [text])
    return ("(SELECT unnest(range(1, len(lines) + 1)) AS __row, "
            "rtrim(unnest(lines), chr(13)) AS line "
            "FROM (SELECT string_split(content, chr(10)) AS lines FROM text_file))")


def _pattern_tables(con: duckdb.DuckDBPyConnection, path: Path
                    ) -> Iterator[tuple[str, str, bool]]:
    """(table name, numbered relation with a column `__row`, header in row 1) of a file's tables."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield "-", (f"(SELECT file_row_number + 1 AS __row, * EXCLUDE (file_row_number) "
                    f"FROM read_parquet({_sql_text(str(path))}, file_row_number = true))"), False
    elif suffix == ".duckdb":
        con.execute(f"ATTACH {_sql_text(str(path))} AS scanned (READ_ONLY)")
        for schema, table in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = 'scanned' ORDER BY ALL"
        ).fetchall():
            name = table if schema == "main" else f"{schema}.{table}"
            yield name, (f"(SELECT row_number() OVER () AS __row, * "
                         f"FROM scanned.{_quoted(schema)}.{_quoted(table)})"), False
    elif suffix == ".csv":
        # No header assumed: a header row is read as data (column names are no names or
        # documents), and a headerless file still has its first line scanned.
        yield "-", (f"(SELECT row_number() OVER () AS __row, * FROM read_csv("
                    f"{_sql_text(str(path))}, all_varchar = true, header = false))"), True
    else:
        yield "-", _text_lines(con, path), False


def _scan_table(con: duckdb.DuckDBPyConnection, file: Path, table: str, relation: str,
                has_header: bool, rules: LeakRules, names: _Names) -> list[PatternFinding]:
    columns = [(name, type_) for name, type_, *_ in
               con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall() if name != "__row"]
    strings = [name for name, type_ in columns
               if "VARCHAR" in type_ or type_.startswith("ENUM")]
    dates = [name for name, type_ in columns if type_.startswith(("DATE", "TIMESTAMP"))]
    found: dict[tuple[str, str], tuple[int, int]] = {}  # (column, kind) -> (first row, rows)

    if dates:
        years = rules.birth_dates.years
        in_range = [f"year({_quoted(c)}) BETWEEN {years.min} AND {years.max}" for c in dates]
        selects = ", ".join(f"min(__row) FILTER (WHERE {cond}), count(*) FILTER (WHERE {cond})"
                            for cond in in_range)
        values = con.execute(f"SELECT {selects} FROM {relation}").fetchone()
        for i, column in enumerate(dates):
            if values[2 * i + 1]:
                found[(column, "birth_date")] = (values[2 * i], values[2 * i + 1])

    if strings:
        aliases = {f"c{i}": name for i, name in enumerate(strings)}
        casts = ", ".join(f"CAST({_quoted(name)} AS VARCHAR) AS {alias}"
                          for alias, name in aliases.items())
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE cells AS  -- one row per distinct (column, value)
            SELECT col, value, min(__row) AS first_row, count(*) AS rows
            FROM (UNPIVOT (SELECT __row, {casts} FROM {relation})
                  ON {", ".join(aliases)} INTO NAME col VALUE value)
            GROUP BY col, value""")
        ids = ", ".join(_sql_text(a) for a, name in aliases.items() if name in rules.id_columns)
        not_id = f"col NOT IN ({ids})" if ids else "true"
        token = _sql_text(rules.token)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE shaped AS  -- cells with a document or date token
            WITH tokens AS (  -- both need a digit; the joint regex is a cheap first filter
                SELECT col, value, upper(unnest(regexp_extract_all(value, {token}))) AS t
                FROM cells WHERE regexp_matches(value, '[0-9]')
            ), documents AS (
                SELECT *, length(regexp_replace(t, '[^0-9]', '', 'g')) AS d,
                          length(regexp_replace(t, '[^A-Z]', '', 'g')) AS l
                FROM tokens
                WHERE {not_id} AND regexp_full_match(t, {_any(rules.document_numbers)})
            )
            SELECT DISTINCT col, value, 'document_number' AS kind FROM documents
            WHERE {_document_condition(rules)}
            UNION
            SELECT DISTINCT col, value, 'birth_date' FROM tokens
            WHERE regexp_full_match(t, {_any(rules.birth_dates.shapes)})
              AND ({_birth_date_condition(rules)})""")
        letters = rules.names.min_letters
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE words AS  -- words, and short cells of words (Ben Ali)
            SELECT col, value, word FROM (
                SELECT col, value, lower(unnest(regexp_extract_all(value, '\\pL+(?:[''’]\\pL+)*')))
                       AS word
                FROM cells)
            WHERE length(word) >= {letters}
            UNION ALL
            SELECT col, value, lower(value) FROM cells
            WHERE length(value) BETWEEN {letters} AND 40 AND regexp_matches(value, '[ .-]')
              AND regexp_full_match(value, '\\pL[\\pL ''’.-]*\\pL')""")
        candidates = [w for (w,) in con.execute("SELECT DISTINCT word FROM words").fetchall()]
        con.execute("CREATE OR REPLACE TEMP TABLE name_words AS "
                    "SELECT unnest(?::VARCHAR[]) AS word",
                    [[c for c in candidates if names.is_name(c)]])
        rows = con.execute("""
            WITH hits AS (
                SELECT col, value, kind FROM shaped
                UNION
                SELECT DISTINCT col, value, 'name' FROM words JOIN name_words USING (word)
            )
            SELECT col, kind, min(first_row), sum(rows)::BIGINT
            FROM hits JOIN cells USING (col, value) GROUP BY col, kind""").fetchall()
        for alias, kind, first, count in rows:
            found[(aliases[alias], kind)] = (first, count)

    labels = {name: name for name, _ in columns}
    if has_header:  # header cells name the columns, unless the first line is itself a leak
        first = con.execute(f"SELECT * EXCLUDE (__row) FROM {relation} WHERE __row = 1").fetchone()
        if first is not None and all(row > 1 for row, _ in found.values()):
            labels = {name: str(value) if value is not None else name
                      for (name, _), value in zip(columns, first, strict=True)}
    order = [name for name, _ in columns]
    return [PatternFinding(str(file), table, labels[column], kind, row, count)
            for (column, kind), (row, count) in
            sorted(found.items(), key=lambda i: (order.index(i[0][0]), KINDS.index(i[0][1])))]


def _scan_file_patterns(con: duckdb.DuckDBPyConnection, path: Path, rules: LeakRules,
                        names: _Names) -> list[PatternFinding]:
    """Identity-shaped values in one file (any format); one finding per column and kind."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".duckdb") and _is_binary(path):
        return [PatternFinding(str(path), "-", "-", "not_scanned", 0, 0)]
    try:
        return [f for table, relation, header in list(_pattern_tables(con, path))
                for f in _scan_table(con, path, table, relation, header, rules, names)]
    finally:
        if suffix == ".duckdb":
            con.execute("DETACH DATABASE IF EXISTS scanned")


def scan_patterns(files: Iterable[Path], rules: LeakRules | None = None,
                  names_dir: Path = RULES_DIR / "names") -> list[PatternFinding]:
    """Document numbers, birth dates and names in any column or line of the files, found by
    shape (rules/audit/leak_patterns.yaml) with no list of raw values."""
    rules = rules or LeakRules.load()
    names = _Names.load(rules.names, names_dir)
    con = duckdb.connect()
    try:
        return [f for path in files for f in _scan_file_patterns(con, path, rules, names)]
    finally:
        con.close()
