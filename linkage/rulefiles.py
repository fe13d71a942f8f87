"""SQL rules files (rules/indicators/, rules/timeline/): a header comment, then one SELECT.

The header is `-- key: value` lines; indented comment lines continue a text field. Like a dbt
model: the file says what it is at the top, and the SQL below it is the whole definition.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from migralink.errors import ConfigError

TEXT_KEYS = ("definition", "source", "notes")
_KEY_LINE = re.compile(r"^ ?([A-Za-z_]+):(.*)$")


def parse_header(file: Path, text: str, single_line_keys: tuple[str, ...]) -> dict[str, str]:
    """The `-- key: value` fields of the comment block that opens a rules file.

    Indented comment lines continue the previous text field; single-line keys take one line.
    """
    fields: dict[str, str] = {}
    key: str | None = None
    for line in _header_lines(text):
        body = line[2:]
        match = None if body.startswith("  ") else _KEY_LINE.match(body)
        if match:
            key = match.group(1).lower()
            if key not in single_line_keys + TEXT_KEYS:
                raise ConfigError(str(file), f"unknown header key '{key}'")
            if key in fields:
                raise ConfigError(str(file), f"header key '{key}' appears twice")
            fields[key] = match.group(2).strip()
        elif body.strip():
            if key is None or key in single_line_keys:
                raise ConfigError(str(file), f"header line outside a text field: {line.strip()!r}")
            fields[key] = f"{fields[key]} {body.strip()}".strip()
    return fields


def check_single_select(file: Path, text: str) -> None:
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as err:
        raise ConfigError(str(file), f"SQL does not parse: {first_line(err)}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ConfigError(str(file), "must hold exactly one SELECT statement")


def select_body(sql: str) -> str:
    """The statement without its closing semicolon, so it can sit inside a subquery.

    A newline ends it, so a trailing comment cannot swallow what the caller appends.
    """
    code = [pos for pos, kind in duckdb.tokenize(sql) if kind != duckdb.token_type.comment]
    if code and sql[code[-1]] == ";":
        return sql[: code[-1]] + "\n"
    return sql + "\n"


def first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]


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
