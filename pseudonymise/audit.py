"""Leak scan: look for cleartext identity values in every hub-side file.

Files are read by content, not as bytes (Parquet and DuckDB compress strings, so a byte scan
finds nothing). Every string cell, and every word inside it, is compared with a set of
forbidden values. Findings name the file, table, column and row, never the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

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
