"""Indicators: run the SQL definitions in rules/indicators/ into the `stocks` and `flows` tables.

Each rules file is one SELECT under a header comment (indicator, table, definition, source).
Every header is validated before anything runs. The runner adds the indicator name, writes
NULL sex as 'U' and NULL citizenship as 'UNK', and keeps only cells with persons > 0. Input
and output tables are unqualified, so they follow the connection's search_path.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migralink.config import RULES_DIR, format_validation
from migralink.errors import ConfigError

INDICATORS_DIR = RULES_DIR / "indicators"

# A rules file either writes cells into a table, or defines a view that other files share
# (`-- view: name`): one concept, one place, like a dbt model referred to by name.
TableName = Literal["stocks", "flows", "view"]

# Columns each file's SELECT returns, in output order, with their output types.
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "stocks": {"month": "DATE", "sex": "VARCHAR", "citizenship": "VARCHAR", "persons": "BIGINT"},
    "flows": {"year": "INTEGER", "sex": "VARCHAR", "citizenship": "VARCHAR", "persons": "BIGINT"},
}
# A cell key never holds NULL: compared tables would otherwise miss unknown-code cells.
UNKNOWN_CODES: dict[str, str] = {"sex": "U", "citizenship": "UNK"}

# DuckDB variables the rules read with getvariable(), and their types.
PARAMETER_TYPES: dict[str, str] = {"country": "VARCHAR", "period_start": "DATE",
                                   "period_end": "DATE"}

SINGLE_LINE_KEYS = ("indicator", "table", "view")
TEXT_KEYS = ("definition", "source", "notes")
_KEY_LINE = re.compile(r"^ ?([A-Za-z_]+):(.*)$")
_CELLS_TABLE = "__indicator_cells"


class Indicator(BaseModel):
    """One rules file: its header fields and its SQL (the whole file text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    table: TableName
    definition: str = Field(min_length=1)
    source: str = Field(min_length=1)
    notes: str = ""
    file: Path
    sql: str

    @property
    def columns(self) -> dict[str, str]:
        return TABLE_COLUMNS[self.table]

    @property
    def is_view(self) -> bool:
        return self.table == "view"


def set_parameters(
    con: duckdb.DuckDBPyConnection, country: str, period_start: date, period_end: date
) -> None:
    """Set the DuckDB variables the rules read: `country`, `period_start`, `period_end`."""
    if not re.fullmatch(r"[A-Z]{3}", country):
        raise ConfigError("indicator parameters", f"country must be an ISO3 code, not {country!r}")
    if period_start > period_end:
        raise ConfigError("indicator parameters", "period_start is after period_end")
    con.execute("SET VARIABLE country = ?", [country])
    con.execute("SET VARIABLE period_start = ?::DATE", [period_start])
    con.execute("SET VARIABLE period_end = ?::DATE", [period_end])


def parse_header(file: Path, text: str) -> dict[str, str]:
    """The `-- key: value` fields of the comment block that opens a rules file.

    Indented comment lines continue the previous text field; `indicator` and `table` are one line.
    """
    fields: dict[str, str] = {}
    key: str | None = None
    for line in _header_lines(text):
        body = line[2:]
        match = None if body.startswith("  ") else _KEY_LINE.match(body)
        if match:
            key = match.group(1).lower()
            if key not in SINGLE_LINE_KEYS + TEXT_KEYS:
                raise ConfigError(str(file), f"unknown header key '{key}'")
            if key in fields:
                raise ConfigError(str(file), f"header key '{key}' appears twice")
            fields[key] = match.group(2).strip()
        elif body.strip():
            if key is None or key in SINGLE_LINE_KEYS:
                raise ConfigError(str(file), f"header line outside a text field: {line.strip()!r}")
            fields[key] = f"{fields[key]} {body.strip()}".strip()
    return fields


def read_indicator(file: Path) -> Indicator:
    """Read and validate one rules file: header fields and a single SELECT statement."""
    text = file.read_text(encoding="utf-8")
    fields = parse_header(file, text)
    if "view" in fields:
        if "indicator" in fields or "table" in fields:
            raise ConfigError(str(file), "a '-- view:' file has no indicator or table")
        fields["indicator"], fields["table"] = fields.pop("view"), "view"
    elif fields.get("table") and fields["table"] not in TABLE_COLUMNS:
        raise ConfigError(str(file), f"table must be 'stocks' or 'flows', not {fields['table']!r}")
    for key in ("indicator", "table"):
        if not fields.get(key):
            raise ConfigError(str(file), f"header has no '-- {key}:' line")
    _check_single_select(file, text)
    try:
        return Indicator(name=fields.pop("indicator"), file=file, sql=text, **fields)
    except ValidationError as err:
        raise ConfigError(str(file), format_validation(err)) from None


def load_indicators(folder: Path = INDICATORS_DIR) -> list[Indicator]:
    """Every `*.sql` file in `folder`, sorted by file name, validated; names must be unique."""
    if not folder.is_dir():
        raise ConfigError(str(folder), "indicator folder not found")
    indicators = [read_indicator(file) for file in sorted(folder.glob("*.sql"))]
    if not indicators:
        raise ConfigError(str(folder), "no *.sql indicator files")
    seen: dict[str, Path] = {}
    for ind in indicators:
        if ind.name in seen:
            raise ConfigError(str(ind.file), f"indicator '{ind.name}' is also in {seen[ind.name]}")
        seen[ind.name] = ind.file
    return indicators


def run_indicators(
    con: duckdb.DuckDBPyConnection, folder: Path = INDICATORS_DIR
) -> dict[str, int]:
    """Create the shared views, then run every indicator into fresh `stocks` and `flows`.

    Returns the number of cells each indicator wrote. All or nothing: on error, no table changes.
    """
    rules = load_indicators(folder)
    _check_parameters(con)
    con.begin()
    try:
        _create_output_tables(con)
        for view in (r for r in rules if r.is_view):
            _create_view(con, view)
        counts = {ind.name: _run_one(con, ind) for ind in rules if not ind.is_view}
        con.execute(f"DROP TABLE IF EXISTS {_CELLS_TABLE}")
    except BaseException:
        con.rollback()
        raise
    con.commit()
    return counts


def _header_lines(text: str) -> list[str]:
    """The comment lines that open the file, before the first line of SQL."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.startswith("--"):
            if line or lines:
                break
            continue
        lines.append(line)
    return lines


def _check_single_select(file: Path, text: str) -> None:
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as err:
        raise ConfigError(str(file), f"SQL does not parse: {_first_line(err)}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ConfigError(str(file), "must hold exactly one SELECT statement")


def _check_parameters(con: duckdb.DuckDBPyConnection) -> None:
    for name, expected in PARAMETER_TYPES.items():
        value, kind = con.execute(
            "SELECT getvariable(?) IS NOT NULL, typeof(getvariable(?))", [name, name]
        ).fetchone()
        if not value or kind != expected:
            raise ConfigError(
                "indicator parameters",
                f"variable '{name}' is not set as {expected}: call set_parameters() first",
            )


def _create_output_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in TABLE_COLUMNS.items():
        spec = ", ".join(f"{col} {kind}" for col, kind in columns.items())
        con.execute(f"CREATE OR REPLACE TABLE {table} (indicator VARCHAR, {spec})")


def _create_view(con: duckdb.DuckDBPyConnection, view: Indicator) -> None:
    try:
        con.execute(f"CREATE OR REPLACE VIEW {view.name} AS\n{_select_body(view.sql)}\n")
    except duckdb.Error as err:
        raise ConfigError(str(view.file), f"SQL fails: {_first_line(err)}") from None


def _run_one(con: duckdb.DuckDBPyConnection, ind: Indicator) -> int:
    """Materialise one indicator's cells, check them, append them to its table; cells written."""
    try:
        _materialise_cells(con, ind)
    except duckdb.Error as err:
        raise ConfigError(str(ind.file), f"SQL fails: {_first_line(err)}") from None
    keys = ", ".join(col for col in ind.columns if col != "persons")
    repeated = con.execute(
        f"SELECT count(*) FROM (SELECT {keys} FROM {_CELLS_TABLE} GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()[0]
    if repeated:
        raise ConfigError(str(ind.file), f"{repeated} cells ({keys}) appear on more than one row")
    con.execute(
        f"INSERT INTO {ind.table} SELECT ?, * FROM {_CELLS_TABLE} ORDER BY {keys}", [ind.name]
    )
    return con.execute(f"SELECT count(*) FROM {_CELLS_TABLE}").fetchone()[0]


def _materialise_cells(con: duckdb.DuckDBPyConnection, ind: Indicator) -> None:
    """Put the file's cells, typed, unknown codes filled and persons > 0, in a temp table."""
    body = _select_body(ind.sql)
    returned = con.sql(body).columns
    if sorted(returned) != sorted(ind.columns):
        expected = list(ind.columns)
        raise ConfigError(
            str(ind.file), f"SELECT returns {returned}; a {ind.table} rule returns {expected}"
        )
    outputs = ", ".join(_output_column(col, kind) for col, kind in ind.columns.items())
    # The newlines keep a trailing comment in the file from swallowing the closing parenthesis.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_CELLS_TABLE} AS\n"
        f"SELECT {outputs} FROM (\n{body}\n) AS cells WHERE persons > 0"
    )


def _output_column(column: str, kind: str) -> str:
    value = column
    if column in UNKNOWN_CODES:
        value = f"coalesce({column}, '{UNKNOWN_CODES[column]}')"
    return f"CAST({value} AS {kind}) AS {column}"


def _select_body(sql: str) -> str:
    """The statement without its closing semicolon, so it can sit inside a subquery."""
    code = [pos for pos, kind in duckdb.tokenize(sql) if kind != duckdb.token_type.comment]
    if code and sql[code[-1]] == ";":
        return sql[: code[-1]]
    return sql


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]
