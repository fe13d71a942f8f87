"""Leak scan: look for cleartext identity values in every hub-side file.

Files are read by content, not as bytes (Parquet and DuckDB compress strings, so a byte scan
finds nothing). Two scans, whose findings name the file, table, column and row, never the value:

- `scan`: every string cell, and every word inside it, is compared with a set of forbidden
  values (tests, which hold the raw extracts);
- `scan_patterns`: values shaped like document numbers (also written with separators),
  birth dates or names, in string columns, lines of text and (all-digit shapes) integer
  columns, and columns or JSON keys named like an identity field
  (rules/audit/leak_patterns.yaml), for the privacy officer at the hub, who holds no raw
  value.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from migralink.config import RULES_DIR
from pseudonymise.normalise import (
    NameKind,
    NameRules,
    _read_rows,
    fold,
    fold_address,
    normalise_name,
)

# What stays with the producers (or the evaluation) inside a job directory; every other file
# is hub-side. The audit's own report (`audit/`) is left out too: each audit rewrites it.
PRODUCER_SIDE = ("raw", "truth", "keys", "producers")
AUDIT_OUTPUT = "audit"


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
    """Every file of a job directory that the hub receives or writes: all but the producers'
    folders (raw/, truth/, keys/, producers/) and the audit's own report (audit/)."""
    return sorted(p for p in job_dir.rglob("*")
                  if p.is_file() and is_hub_side(p.relative_to(job_dir)))


def is_hub_side(relative: Path) -> bool:
    """Whether a path relative to the job directory is outside the folders left unscanned."""
    return relative.parts[0] not in {*PRODUCER_SIDE, AUDIT_OUTPUT}


def skipped_folders(job_dir: Path) -> list[str]:
    """The folders of a job directory that the leak scan leaves out: the producer-side ones
    that exist, then the audit's own (always: its report is written there)."""
    return [name for name in PRODUCER_SIDE if (job_dir / name).is_dir()] + [AUDIT_OUTPUT]


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
    WHERE (length(word) >= {min_word} AND word IN (SELECT value FROM forbidden))
       OR text IN (SELECT value FROM forbidden)
"""
# A forbidden value shorter than this counts only as a whole cell (or line), not as a word
# inside one: short names (Li, Ma, Min, Bin) are also words of the software's own text, as in
# `min-width` or `splink_score_bin_low`, and alone they identify no one.
MIN_WORD = 4


def _scan_relation(con: duckdb.DuckDBPyConnection, file: Path, table: str, relation: str
                   ) -> list[Finding]:
    findings = []
    described = f"SELECT column_name FROM (DESCRIBE SELECT * FROM {relation})"
    for (column,) in con.execute(described).fetchall():
        quoted = '"' + column.replace('"', '""') + '"'
        first, count = con.execute(_MATCHES.format(column=quoted, relation=relation,
                                                    min_word=MIN_WORD)).fetchone()
        if count:
            findings.append(Finding(str(file), table, column, first, count))
    return findings


VENDORED = "(a chart library identical to the copy splink ships: not scanned)"


def scannable_text(path: Path) -> str:
    """A text file's content as scanned. In an HTML file (the run report), a script that is
    byte for byte one of the Vega libraries splink ships is third-party code, not data: it is
    replaced by a note, and everything else, the report's data among it, is scanned."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix.lower() in (".html", ".htm"):
        from splink.internals.html_utils import load_chart_libraries

        for library in load_chart_libraries().values():
            text = text.replace(library, VENDORED)
    return text


def _text_table(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """TEMP TABLE text_file(content) of the file's scannable text."""
    con.execute("CREATE OR REPLACE TEMP TABLE text_file AS SELECT ?::VARCHAR AS content",
                [scannable_text(path)])


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
            _text_table(con, path)
            relations = [("-", "(SELECT unnest(string_split(content, chr(10))) AS line "
                               "FROM text_file)")]
        return [f for table, relation in relations
                for f in _scan_relation(con, path, table, relation)]
    finally:
        con.close()


def scan(files: Iterable[Path], forbidden: set[str]) -> list[Finding]:
    return [finding for path in files for finding in scan_file(path, forbidden)]


# --- Pattern scan: identity-shaped values, with no list of raw values -----------------------
#
# The auditor at the hub holds no raw extract, so `scan_patterns` looks for what an identity
# looks like (rules/audit/leak_patterns.yaml): values shaped like document numbers and birth
# dates, words of the name tables, string columns named like an identity field, and columns of
# many distinct name-shaped values. Each table is reduced to its distinct (column, value)
# cells first, so the regular expressions run once per distinct value, in DuckDB; Python only
# normalises the distinct words that could be names.

LEAK_PATTERNS = RULES_DIR / "audit" / "leak_patterns.yaml"
KINDS = ("identity_column", "document_number", "birth_date", "name", "name_like_text",
         "not_scanned", "unreadable")
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


class NameLikeText(_Strict):
    shape: str         # RE2, the whole value
    min_length: int
    max_distinct: int  # more distinct name-shaped values than this in a column: a finding


class SeparatedDocuments(_Strict):
    separators: str   # RE2 character class taken out of a token: N-661045 -> N661045
    keep: list[str]   # RE2, the whole token: tokens that keep them (decimals, periods)


class IntegerColumns(_Strict):
    document_numbers: list[str]  # names of document_numbers shapes read in integer columns
    birth_dates: list[str]       # names of birth_dates shapes read in them
    max_digits: int              # values with more digits are not read (keyed tokens)
    skip: list[str] = []         # Python regexes over a column name: columns not read


def _check_regexes(section: str, patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"{section}: {pattern!r}: {err}") from None
    return patterns


class LeakRules(_Strict):
    version: int
    token: str
    document_numbers: list[DocumentShape]
    separated_documents: SeparatedDocuments
    birth_dates: BirthDateRules
    integer_columns: IntegerColumns
    names: NameCheck
    name_like_text: NameLikeText
    identity_columns: list[str]   # Python regexes over a column name in `column_words` form
    encoded_columns: list[str]    # Python regexes: encodings named after what they encode
    json_keys: dict[str, str]     # Python regexes: JSON key -> the hub's own value under it
    id_columns: dict[str, str]    # column name -> RE2 shape of its ids (the whole value)

    @field_validator("identity_columns", "encoded_columns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        return _check_regexes("column patterns", patterns)

    @field_validator("json_keys")
    @classmethod
    def _keys_compile(cls, shapes: dict[str, str]) -> dict[str, str]:
        _check_regexes("json_keys", [*shapes, *shapes.values()])
        return shapes

    @model_validator(mode="after")
    def _integer_shapes_exist(self) -> LeakRules:
        _check_regexes("integer_columns.skip", self.integer_columns.skip)
        known = {s.name for s in self.document_numbers} | {s.name for s in
                                                           self.birth_dates.shapes}
        unknown = set(self.integer_columns.document_numbers +
                      self.integer_columns.birth_dates) - known
        if unknown:
            raise ValueError(f"integer_columns: no shape named {', '.join(sorted(unknown))}")
        return self

    @classmethod
    def load(cls, path: Path = LEAK_PATTERNS) -> LeakRules:
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))

    def is_identity_column(self, column: str) -> bool:
        words = column_words(column)
        return any(re.search(p, words, re.IGNORECASE) for p in self.identity_columns)

    def is_encoded_column(self, column: str) -> bool:
        return any(re.search(p, column) for p in self.encoded_columns)

    def reads_integers_of(self, column: str) -> bool:
        return not any(re.search(p, column) for p in self.integer_columns.skip)

    def is_identity_key(self, key: str, value: str) -> bool:
        """A JSON key named like an identity field, its value (a string without its quotes,
        or a number) not blank and not the hub's own value under that key."""
        if not value.strip() or not self.is_identity_column(key):
            return False
        return not any(re.fullmatch(k, key) and re.fullmatch(v, value)
                       for k, v in self.json_keys.items())

    def integer_documents(self) -> list[DocumentShape]:
        return [s for s in self.document_numbers if s.name in self.integer_columns.document_numbers]

    def integer_dates(self) -> list[DateShape]:
        return [s for s in self.birth_dates.shapes if s.name in self.integer_columns.birth_dates]


def column_words(column: str) -> str:
    """A column name as the identity_columns patterns read it: `Date of birth` ->
    `date_of_birth`, `Prénom` -> `prenom`."""
    return (fold_address(column) or "").replace(" ", "_")


_WHAT = {  # kind -> what its rows hold, in words
    "identity_column": "a value in a column named like an identity field",
    "document_number": "a document number",
    "birth_date": "a date in birth-date shape",
    "name": "a word that is a name of the name tables",
    "name_like_text": "name-like text",
}


@dataclass(frozen=True)
class PatternFinding:
    """Rows of one column that hold identity-shaped values; never the value itself."""

    file: str
    table: str    # "-" for a Parquet, CSV or text file
    column: str   # CSV: the header name (or columnN), text files: "line"
    kind: str     # one of KINDS
    row: int      # first such row, 1-based (CSV and text files: the line number)
    count: int    # rows that hold one
    distinct: int | None = None  # name_like_text: distinct name-shaped values in the column
    text: bool = False  # the lines of a text file: `where` names the line

    def where(self, directory: Path | None = None) -> str:
        file = self.file
        if directory is not None:
            with contextlib.suppress(ValueError):
                file = str(Path(self.file).relative_to(directory))
        if self.kind in ("not_scanned", "unreadable"):
            return file
        if self.text:  # a JSON key named like an identity field is named too
            key = f", key {self.column}" if self.column != "line" else ""
            return f"{file}, line {self.row}{key}"
        table = "" if self.table == "-" else f"table {self.table}, "
        return f"{file}, {table}column {self.column}, row {self.row}"

    @property
    def what(self) -> str:
        if self.kind == "not_scanned":
            return "binary file the leak scan cannot read: check it by hand or remove it"
        if self.kind == "unreadable":
            return "file cannot be opened (damaged?): the leak scan could not read it"
        rows = f"{self.count} row{'s' if self.count != 1 else ''}"
        if self.kind == "identity_column" and self.text:
            lines = f"{self.count} line{'s' if self.count != 1 else ''}"
            return f"{lines} with a value under a JSON key named like an identity field"
        if self.kind == "name_like_text":
            return (f"{rows} of {_WHAT[self.kind]}: {self.distinct} distinct values shaped "
                    "like names, where the hub keeps only codes")
        return f"{rows} with {_WHAT.get(self.kind, self.kind)}"

    def __str__(self) -> str:
        return f"{self.where()}: {self.what}"


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _document_condition(shapes: list[DocumentShape], t: str = "t", d: str = "d",
                        letters: str = "l") -> str:
    """SQL over a token `t` (upper case) with its digit and letter counts (`d`, `l`): it has
    one of the document shapes."""
    return " OR ".join(
        f"(regexp_full_match({t}, {_sql_text(s.regex)}) AND {d} >= {s.min_digits} "
        f"AND {letters} >= {s.min_letters})" for s in shapes) or "false"


def _any(shapes: list[DocumentShape] | list[DateShape]) -> str:
    """One regular expression matching what any of the shapes matches."""
    return _sql_text("|".join(f"(?:{s.regex})" for s in shapes))


def _birth_date_condition(shapes: list[DateShape], years: YearRange, t: str = "t") -> str:
    """SQL over a token `t`: it has one of the date shapes, with a year in `years`."""
    return " OR ".join(
        f"(regexp_full_match({t}, {_sql_text(s.regex)}) AND TRY_CAST(regexp_extract({t}, "
        f"{_sql_text(s.regex)}, 1) AS INTEGER) BETWEEN {years.min} AND {years.max})"
        for s in shapes) or "false"


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


@dataclass(frozen=True)
class _Relation:
    """One table of a file, as SQL with a 1-based row number `__row`."""

    table: str    # "-" for a Parquet, CSV or text file
    sql: str
    header: bool  # row 1 may be a header (CSV)
    text: bool    # the lines of a text file, not a table's cells


def _is_binary(path: Path) -> bool:
    with open(path, "rb") as handle:
        return b"\0" in handle.read(_TEXT_SAMPLE)


def _text_lines(con: duckdb.DuckDBPyConnection, path: Path) -> _Relation:
    """A text file's lines, numbered from 1, in a column `line`."""
    _text_table(con, path)
    return _Relation("-", "(SELECT unnest(range(1, len(lines) + 1)) AS __row, "
                          "rtrim(unnest(lines), chr(13)) AS line "
                          "FROM (SELECT string_split(content, chr(10)) AS lines FROM text_file))",
                     header=False, text=True)


def _csv_table(path: Path) -> _Relation:
    # No header assumed: a header row is read as data (column names are no names or
    # documents), and a headerless file still has its first line scanned.
    return _Relation("-", f"(SELECT row_number() OVER () AS __row, * FROM read_csv("
                          f"{_sql_text(str(path))}, all_varchar = true, header = false, "
                          "null_padding = true))", header=True, text=False)


def _duckdb_tables(con: duckdb.DuckDBPyConnection, path: Path) -> list[_Relation]:
    con.execute(f"ATTACH {_sql_text(str(path))} AS scanned (READ_ONLY)")
    tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                         "WHERE database_name = 'scanned' ORDER BY ALL").fetchall()
    return [_Relation(table if schema == "main" else f"{schema}.{table}",
                      f"(SELECT row_number() OVER () AS __row, * "
                      f"FROM scanned.{_quoted(schema)}.{_quoted(table)})", False, False)
            for schema, table in tables]


def _relations(con: duckdb.DuckDBPyConnection, path: Path) -> list[_Relation]:
    """Every table of a file: a Parquet file, each table of a DuckDB file, a CSV file, or
    the lines of any other file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return [_Relation("-", f"(SELECT file_row_number + 1 AS __row, * EXCLUDE "
                               f"(file_row_number) FROM read_parquet({_sql_text(str(path))}, "
                               "file_row_number = true))", False, False)]
    if suffix == ".duckdb":
        return _duckdb_tables(con, path)
    if suffix == ".csv":
        return [_csv_table(path)]
    return [_text_lines(con, path)]


@dataclass(frozen=True)
class _Hit:
    row: int
    count: int
    distinct: int | None = None


_Hits = dict[tuple[str, str], _Hit]  # (column, kind) -> first row and rows


_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")


def _is_string(type_: str) -> bool:
    return "VARCHAR" in type_ or type_.startswith(("ENUM", "JSON"))


def _first_rows(con: duckdb.DuckDBPyConnection, relation: str,
                conditions: dict[tuple[str, str], str]) -> _Hits:
    """(column, kind) -> the first row and the number of rows of `relation` (SQL with a
    `__row`) where its condition holds; those that hold nowhere left out."""
    if not conditions:
        return {}
    selects = ", ".join(f"min(__row) FILTER (WHERE {c}), count(*) FILTER (WHERE {c})"
                        for c in conditions.values())
    values = con.execute(f"SELECT {selects} FROM {relation}").fetchone()
    return {key: _Hit(values[2 * i], values[2 * i + 1])
            for i, key in enumerate(conditions) if values[2 * i + 1]}


def _date_hits(con: duckdb.DuckDBPyConnection, relation: _Relation, dates: list[str],
               rules: LeakRules) -> _Hits:
    """Date and timestamp columns: the rows whose year is a birth year."""
    years = rules.birth_dates.years
    return _first_rows(con, relation.sql, {
        (c, "birth_date"): f"year({_quoted(c)}) BETWEEN {years.min} AND {years.max}"
        for c in dates})


def _integer_hits(con: duckdb.DuckDBPyConnection, relation: _Relation, integers: list[str],
                  rules: LeakRules) -> _Hits:
    """Integer columns: the rows whose digits have an all-digit document shape (a
    social-security number) or birth-date shape (yyyymmdd, a birth year), as
    rules.integer_columns lists them."""
    documents, dates = rules.integer_documents(), rules.integer_dates()
    if not integers or not documents + dates:
        return {}
    shaped = _sql_text(f"-?(?:{'|'.join(s.regex for s in [*documents, *dates])})")
    # Counting only, first: the length test spares most values (keyed tokens, 19-20 digits)
    # the regular expression (CASE, as AND evaluates both sides), and the few columns with a
    # match are read again in detail.
    longest = rules.integer_columns.max_digits + 1  # a minus sign
    counts = con.execute("SELECT " + ", ".join(
        f"count(*) FILTER (WHERE CASE WHEN length(CAST({_quoted(c)} AS VARCHAR)) <= {longest} "
        f"THEN regexp_full_match(CAST({_quoted(c)} AS VARCHAR), {shaped}) END)"
        for c in integers) + f" FROM {relation.sql}").fetchone()
    conditions: dict[tuple[str, str], str] = {}
    for column, count in zip(integers, counts, strict=True):
        if count:
            digits = f"ltrim(CAST({_quoted(column)} AS VARCHAR), '-')"
            conditions[(column, "document_number")] = _document_condition(
                documents, digits, f"length({digits})", "0")
            conditions[(column, "birth_date")] = _birth_date_condition(
                dates, rules.birth_dates.years, digits)
    return _first_rows(con, relation.sql, conditions)


def _identity_named(columns: list[tuple[str, str]], labels: dict[str, str],
                    relation: _Relation, rules: LeakRules) -> list[str]:
    """Columns of any type named like an identity field, but for encodings (tok_passport,
    bf_given_name_w0) that hold numbers or flags."""
    if relation.text:
        return []
    return [name for name, type_ in columns if rules.is_identity_column(labels[name])
            and (_is_string(type_) or not rules.is_encoded_column(labels[name]))]


def _identity_column_hits(con: duckdb.DuckDBPyConnection, relation: _Relation,
                          named: list[str]) -> _Hits:
    """Columns named like an identity field: the rows with a value, neither NULL nor blank (a
    CSV's row 1, its header, left out)."""
    after = "__row > 1 AND " if relation.header else ""
    return _first_rows(con, relation.sql, {
        (c, "identity_column"): f"{after}trim(CAST({_quoted(c)} AS VARCHAR)) <> ''"
        for c in named})


def _load_cells(con: duckdb.DuckDBPyConnection, relation: _Relation,
                aliases: dict[str, str]) -> None:
    """TEMP TABLE cells(col, value, first_row, rows): one row per distinct (column, value) of
    the string columns (`aliases`: alias -> column), NULLs left out."""
    casts = ", ".join(f"CAST({_quoted(name)} AS VARCHAR) AS {alias}"
                      for alias, name in aliases.items())
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE cells AS
        SELECT col, value, min(__row) AS first_row, count(*) AS rows
        FROM (UNPIVOT (SELECT __row, {casts} FROM {relation.sql})
              ON {", ".join(aliases)} INTO NAME col VALUE value)
        GROUP BY col, value""")


def _drop_ids(con: duckdb.DuckDBPyConnection, shapes: dict[str, str]) -> None:
    """Remove the cells of id columns (`shapes`: alias -> id shape) that have the id's shape."""
    if shapes:
        con.execute("DELETE FROM cells WHERE " + " OR ".join(
            f"(col = {_sql_text(alias)} AND regexp_full_match(value, {_sql_text(shape)}))"
            for alias, shape in shapes.items()))


def _blank_json_ids(con: duckdb.DuckDBPyConnection, shapes: dict[str, str]) -> None:
    """In lines of text, write `"<id column>": ""` for every `"<id column>": "<id>"` whose
    value has the id's shape (a JSON file's ids: splink's random linker_uid)."""
    for key, shape in shapes.items():
        pattern = f'("{re.escape(key)}"\\s*:\\s*)"(?:{shape})"'
        con.execute("UPDATE cells SET value = regexp_replace(value, ?, '\\1\"\"', 'g') "
                    "WHERE contains(value, ?)", [pattern, f'"{key}"'])


def _kept_whole(rules: LeakRules) -> str:
    """One regular expression matching the tokens whose separators stay: any date (whatever
    its year), decimals and periods (rules.separated_documents.keep)."""
    shapes = [s.regex for s in rules.birth_dates.shapes] + rules.separated_documents.keep
    return _sql_text("|".join(f"(?:{s})" for s in shapes))


# `"key": "string"` or `"key": number` in a line of text; groups: key, string, number
_JSON_PAIR = r'"((?:[^"\\]|\\.)*)"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?[0-9][0-9.eE+-]*))'


def _json_key(text: str) -> str:
    """A JSON key as written (`pr\\u00e9nom`) -> the key (`prénom`)."""
    try:
        return json.loads(f'"{text}"')
    except ValueError:
        return text


def _json_key_hits(con: duckdb.DuckDBPyConnection, rules: LeakRules) -> _Hits:
    """Lines of text (the cells) with a JSON key named like an identity field whose value is a
    non-blank string or a number (`"surname": "..."`), by key; the hub's own values under such
    keys (rules.json_keys) left out."""
    pattern = _sql_text(_JSON_PAIR)
    pairs = con.execute(f"""
        SELECT first_row, rows, regexp_extract(pair, {pattern}, 1),
               regexp_extract(pair, {pattern}, 2) || regexp_extract(pair, {pattern}, 3)
        FROM (SELECT first_row, rows, unnest(regexp_extract_all(value, {pattern})) AS pair
              FROM cells WHERE contains(value, '"'))""").fetchall()
    lines: dict[str, dict[int, int]] = {}  # key -> first line -> lines of that text
    for first, rows, written, value in pairs:
        key = _json_key(written)
        if rules.is_identity_key(key, value):
            lines.setdefault(key, {})[first] = rows
    return {(key, "identity_column"): _Hit(min(found), sum(found.values()))
            for key, found in lines.items()}


def _shaped_cells(con: duckdb.DuckDBPyConnection, rules: LeakRules) -> None:
    """TEMP TABLE shaped(col, value, kind): cells with a document-number or birth-date token,
    a document also when written with separators (N-661045, AB-123.456)."""
    token = _sql_text(rules.token)
    separators = _sql_text(rules.separated_documents.separators)
    years = rules.birth_dates.years
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE shaped AS
        WITH tokens AS (  -- both need a digit; the joint regex is a cheap first filter
            SELECT col, value, upper(unnest(regexp_extract_all(value, {token}))) AS t
            FROM cells WHERE regexp_matches(value, '[0-9]')
        ), joined AS (  -- as producers normalise documents: the separators taken out
            SELECT col, value, t FROM tokens
            UNION ALL
            SELECT col, value, regexp_replace(t, {separators}, '', 'g') FROM tokens
            WHERE regexp_matches(t, {separators}) AND NOT regexp_full_match(t, {_kept_whole(rules)})
        ), documents AS (
            SELECT *, length(regexp_replace(t, '[^0-9]', '', 'g')) AS d,
                      length(regexp_replace(t, '[^A-Z]', '', 'g')) AS l
            FROM joined WHERE regexp_full_match(t, {_any(rules.document_numbers)})
        )
        SELECT DISTINCT col, value, 'document_number' AS kind FROM documents
        WHERE {_document_condition(rules.document_numbers)}
        UNION
        SELECT DISTINCT col, value, 'birth_date' FROM tokens
        WHERE regexp_full_match(t, {_any(rules.birth_dates.shapes)})
          AND ({_birth_date_condition(rules.birth_dates.shapes, years)})""")


def _named_cells(con: duckdb.DuckDBPyConnection, rules: LeakRules, names: _Names) -> None:
    """TEMP TABLE named(col, value): cells with a word (or a short cell of words, `Ben Ali`)
    that normalises to a word of the name tables."""
    letters = rules.names.min_letters
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE words AS
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
    con.execute("CREATE OR REPLACE TEMP TABLE name_words AS SELECT unnest(?::VARCHAR[]) AS word",
                [[c for c in candidates if names.is_name(c)]])
    con.execute("CREATE OR REPLACE TEMP TABLE named AS "
                "SELECT DISTINCT col, value FROM words JOIN name_words USING (word)")


def _value_hits(con: duckdb.DuckDBPyConnection, aliases: dict[str, str]) -> _Hits:
    """Documents, birth dates and names found in the cells, by column and kind."""
    rows = con.execute("""
        WITH hits AS (
            SELECT col, value, kind FROM shaped
            UNION
            SELECT col, value, 'name' FROM named
        )
        SELECT col, kind, min(first_row), sum(rows)::BIGINT
        FROM hits JOIN cells USING (col, value) GROUP BY col, kind""").fetchall()
    return {(aliases[alias], kind): _Hit(first, count) for alias, kind, first, count in rows}


def _name_like_hits(con: duckdb.DuckDBPyConnection, relation: _Relation,
                    aliases: dict[str, str], rules: NameLikeText) -> _Hits:
    """Columns with more than `max_distinct` distinct name-shaped values (a CSV's row 1, its
    header, is not given as the example row unless nothing else is)."""
    skip = 1 if relation.header else 0
    rows = con.execute(f"""
        SELECT col, count(*), coalesce(min(first_row) FILTER (WHERE first_row > {skip}),
                                       min(first_row)), sum(rows)::BIGINT
        FROM cells
        WHERE length(value) >= {rules.min_length}
          AND regexp_full_match(value, {_sql_text(rules.shape)})
        GROUP BY col HAVING count(*) > {rules.max_distinct}""").fetchall()
    return {(aliases[alias], "name_like_text"): _Hit(first, count, distinct)
            for alias, distinct, first, count in rows}


def _string_hits(con: duckdb.DuckDBPyConnection, relation: _Relation, strings: list[str],
                 labels: dict[str, str], rules: LeakRules, names: _Names) -> _Hits:
    """Everything the string columns show (id-shaped ids left out): documents, birth dates,
    names, and name-like text or, in lines of text, JSON keys named like an identity field."""
    aliases = {f"c{i}": name for i, name in enumerate(strings)}
    _load_cells(con, relation, aliases)
    if relation.text:
        _blank_json_ids(con, rules.id_columns)
    else:
        _drop_ids(con, {alias: rules.id_columns[labels[name]]
                        for alias, name in aliases.items() if labels[name] in rules.id_columns})
    _shaped_cells(con, rules)
    _named_cells(con, rules, names)
    hits = _value_hits(con, aliases)
    if relation.text:
        return _json_key_hits(con, rules) | hits
    return hits | _name_like_hits(con, relation, aliases, rules.name_like_text)


def _header_labels(con: duckdb.DuckDBPyConnection, relation: _Relation,
                   columns: list[str]) -> dict[str, str]:
    """Column -> its name, or for a CSV the text of its row 1 (its header, if it has one)."""
    if not relation.header:
        return {c: c for c in columns}
    first = con.execute(f"SELECT * EXCLUDE (__row) FROM {relation.sql} WHERE __row = 1"
                        ).fetchone()
    if first is None:
        return {c: c for c in columns}
    return {c: str(v) if v is not None else c for c, v in zip(columns, first, strict=True)}


def _scan_table(con: duckdb.DuckDBPyConnection, file: Path, relation: _Relation,
                rules: LeakRules, names: _Names) -> list[PatternFinding]:
    described = con.execute(f"DESCRIBE SELECT * FROM {relation.sql}").fetchall()
    columns = [(name, type_) for name, type_, *_ in described if name != "__row"]
    order = [name for name, _ in columns]
    header = _header_labels(con, relation, order)
    hits = _column_hits(con, relation, columns, header, rules, names)
    # A CSV's row 1 names its columns, unless row 1 is itself a leak (a headerless file).
    labels = header if all(h.row > 1 for h in hits.values()) else {c: c for c in order}

    def place(item: tuple[tuple[str, str], _Hit]) -> tuple[int, int, int]:
        (column, kind), hit = item  # a JSON key of a text file, in no column, by its line
        return (order.index(column), 0, KINDS.index(kind)) if column in order else \
            (-1, hit.row, KINDS.index(kind))

    return [PatternFinding(str(file), relation.table, labels.get(column, column), kind,
                           hit.row, hit.count, hit.distinct, relation.text)
            for (column, kind), hit in sorted(hits.items(), key=place)]


def _column_hits(con: duckdb.DuckDBPyConnection, relation: _Relation,
                 columns: list[tuple[str, str]], labels: dict[str, str], rules: LeakRules,
                 names: _Names) -> _Hits:
    """What each column (name, DuckDB type) shows, read as its type allows: identity-named
    columns of any type, date columns by year, integer columns for all-digit shapes, string
    columns (and lines of text) for everything."""
    strings = [name for name, type_ in columns if _is_string(type_)]
    dates = [name for name, type_ in columns if type_.startswith(("DATE", "TIMESTAMP"))]
    integers = [name for name, type_ in columns
                if type_ in _INTEGER_TYPES and rules.reads_integers_of(name)]
    hits = _identity_column_hits(con, relation, _identity_named(columns, labels, relation,
                                                                rules))
    hits |= _date_hits(con, relation, dates, rules)
    hits |= _integer_hits(con, relation, integers, rules)
    if strings:
        hits |= _string_hits(con, relation, strings, labels, rules, names)
    return hits


def _scan_relations(con: duckdb.DuckDBPyConnection, path: Path, rules: LeakRules,
                    names: _Names) -> list[PatternFinding]:
    try:
        return [f for relation in _relations(con, path)
                for f in _scan_table(con, path, relation, rules, names)]
    finally:
        if path.suffix.lower() == ".duckdb":
            con.execute("DETACH DATABASE IF EXISTS scanned")


def _scan_file_patterns(con: duckdb.DuckDBPyConnection, path: Path, rules: LeakRules,
                        names: _Names) -> list[PatternFinding]:
    """Identity-shaped values in one file (any format); one finding per column and kind. A CSV
    file DuckDB cannot read as a table is read as lines; a Parquet or DuckDB file that cannot
    be opened, and a binary file of any other kind, is one finding."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".duckdb") and _is_binary(path):
        return [PatternFinding(str(path), "-", "-", "not_scanned", 0, 0)]
    try:
        return _scan_relations(con, path, rules, names)
    except duckdb.Error:
        if suffix != ".csv":
            return [PatternFinding(str(path), "-", "-", "unreadable", 0, 0)]
    return _scan_table(con, path, _text_lines(con, path), rules, names)


def scan_patterns(files: Iterable[Path], rules: LeakRules | None = None,
                  names_dir: Path = RULES_DIR / "names") -> list[PatternFinding]:
    """Identity fields, document numbers, birth dates and names in any column or line of the
    files, found by shape (rules/audit/leak_patterns.yaml) with no list of raw values."""
    rules = rules or LeakRules.load()
    names = _Names.load(rules.names, names_dir)
    con = duckdb.connect()
    try:
        return [f for path in files for f in _scan_file_patterns(con, path, rules, names)]
    finally:
        con.close()
