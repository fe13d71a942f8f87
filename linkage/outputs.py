"""Write the hub's outputs: outputs.duckdb for analysts, linkage.duckdb for the hub, Parquet copies.

- `outputs.duckdb` holds the analyst tables only (ANALYST_TABLES): persons with coded
  attributes, events, the timeline, the exact and the published indicator cells, all keyed by
  person_id, without producers' record ids (HUB_ONLY_COLUMNS). `migralink query` and `shell`
  open it read-only, so nothing else in it can be seen.
- `linkage.duckdb` keeps what analysts must not see, for the hub: `record_links` (source,
  record_id, identity_id, person_id) and `indicator_cells` in full, with `cell_key`, the draw
  of disclosure control's random rounding (knowing it undoes the rounding).
- `outputs/*.parquet`: persons, person_months and indicator_cells, as in outputs.duckdb.

Encoded identities (tokens, Bloom filters) and match weights stay in the job's working
database; neither file holds them.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from linkage.events import table_exists

OUTPUTS_DB = "outputs.duckdb"
LINKAGE_DB = "linkage.duckdb"

# The tables an analyst sees, in the order `.tables` lists them.
ANALYST_TABLES: dict[str, str] = {
    "persons": "one row per linked person: sex, citizenship, birth_year, n_records",
    "border_crossings": "recorded border crossings: date, direction, border_post",
    "residence_permits": "residence permits: issue_date, expiry_date, reason",
    "employment_months": "months of declared work: month, days_declared, sector, wage_band",
    "placements": "placements abroad: programme, destination, occupation, start/end dates",
    "crossings": "each person's crossings, alternating in/out; missing ones imputed",
    "stays": "each person's stays in or out of the country, between crossings",
    "migrations": "every crossing classified by the 12/16 rule (long_term, migration)",
    "person_months": "one row per person and month: days_in, present, resident, declared_work",
    "indicator_cells": "exact indicator counts per cell (persons), before disclosure control",
    "published_cells": "indicator cells after disclosure control: value, status, protection",
}
HUB_ONLY_COLUMNS = ("record_id", "identity_id", "cell_key")  # never in an analyst table
LINKAGE_TABLES = ("record_links", "indicator_cells")
PARQUET_TABLES = ("persons", "person_months", "indicator_cells")


def analyst_select(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SELECT of the table's columns less HUB_ONLY_COLUMNS, from the job's main schema."""
    columns = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'memory' "
        "AND table_schema = 'main' AND table_name = ? ORDER BY ordinal_position", [table]
    ).fetchall()
    kept = ", ".join(f'"{name}"' for (name,) in columns if name not in HUB_ONLY_COLUMNS)
    return f"SELECT {kept} FROM main.{table}"


def copy_tables(con: duckdb.DuckDBPyConnection, database: Path, selects: dict[str, str]
                ) -> Path:
    """A new DuckDB file `database` with one table per (name, SELECT) of `selects`."""
    database.unlink(missing_ok=True)
    con.execute(f"ATTACH '{database}' AS written")
    try:
        for table, select in selects.items():
            con.execute(f"CREATE TABLE written.{table} AS {select}")
    finally:
        con.execute("DETACH written")
    return database


def write_outputs(con: duckdb.DuckDBPyConnection, out: Path, model_json: dict) -> list[Path]:
    """Write out/outputs.duckdb, out/linkage.duckdb, out/outputs/*.parquet and the model."""
    out.mkdir(parents=True, exist_ok=True)
    analyst = {t: analyst_select(con, t) for t in ANALYST_TABLES if table_exists(con, t, "main")}
    hub = {t: f"SELECT * FROM main.{t}" for t in LINKAGE_TABLES if table_exists(con, t, "main")}
    written = [copy_tables(con, out / OUTPUTS_DB, analyst), copy_tables(con, out / LINKAGE_DB, hub)]
    parquet_dir = out / "outputs"
    parquet_dir.mkdir(exist_ok=True)
    for table in PARQUET_TABLES:
        if table in analyst:
            path = parquet_dir / f"{table}.parquet"
            con.execute(f"COPY ({analyst[table]}) TO '{path}' (FORMAT parquet)")
            written.append(path)
    model_file = out / "model" / "splink_model.json"
    model_file.parent.mkdir(exist_ok=True)
    model_file.write_text(json.dumps(model_json, indent=2), encoding="utf-8")
    written.append(model_file)
    return written
