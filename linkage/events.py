"""Person-level tables: persons and each kind's events, keyed by person_id.

Built from a `record_person(source, record_id, person_id)` mapping, so the same code makes
the linked tables (person_id from clustering) and, in evaluation, the tables of true persons.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from migralink.config import RULES_DIR
from migralink.schema import EVENT_FIELDS, EVENT_TABLES, SQL_TYPES

PERSONS_SQL = RULES_DIR / "persons" / "persons.sql"


def table_exists(con: duckdb.DuckDBPyConnection, name: str, schema: str | None = None) -> bool:
    """Whether the job's in-memory database holds the table or view (in `schema`, or any)."""
    return con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = 'memory' "
        "AND table_name = ? AND table_schema = coalesce(?, table_schema)", [name, schema]
    ).fetchall()[0][0] > 0


def create_identity_attributes(con: duckdb.DuckDBPyConnection) -> None:
    """identity_attributes: the coded attributes persons.sql reads, one row per identity.

    `holds_national_id` says whether the identity carries a national identity card number
    (false when no extract has that document)."""
    columns = {row[0] for row in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'identities'"
    ).fetchall()}
    national_id = "tok_national_id IS NOT NULL" if "tok_national_id" in columns else "false"
    con.execute(f"""
        CREATE OR REPLACE VIEW main.identity_attributes AS
        SELECT unique_id, sex, nationality, birth_year, {national_id} AS holds_national_id
        FROM main.identities
    """).fetchall()


def build_person_tables(con: duckdb.DuckDBPyConnection, persons_sql: Path = PERSONS_SQL
                        ) -> dict[str, int]:
    """Create persons and the event tables in the current schema; returns their row counts.

    Needs the indicator parameters (the `country` variable) set."""
    create_identity_attributes(con)
    con.execute(f"CREATE OR REPLACE TABLE persons AS {persons_sql.read_text(encoding='utf-8')}")
    counts = {"persons": con.execute("SELECT count(*) FROM persons").fetchone()[0]}
    for kind, table in EVENT_TABLES.items():
        fields = EVENT_FIELDS[kind]
        if table_exists(con, f"events_{kind}"):
            con.execute(f"""
                CREATE OR REPLACE TABLE {table} AS
                SELECT rp.person_id, e.source, e.record_id, {', '.join(f'e.{f}' for f in fields)}
                FROM events_{kind} e JOIN record_person rp USING (source, record_id)
            """)
        else:  # a job without this kind of source still offers the (empty) table
            columns = ", ".join(f"{f} {SQL_TYPES[t]}" for f, t in fields.items())
            con.execute(f"CREATE OR REPLACE TABLE {table} (person_id VARCHAR, source VARCHAR, "
                        f"record_id VARCHAR, {columns})")
        counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return counts
