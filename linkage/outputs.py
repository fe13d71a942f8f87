"""Write the hub's outputs: outputs.duckdb for the secure analyst environment, Parquet copies.

Only person-level tables leave the job: persons, events, indicators, and the record -> person
links. Encoded identities (tokens, Bloom filters) stay in the job's working database.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from linkage.events import table_exists
from migralink.schema import EVENT_TABLES

TIMELINE_TABLES = ["crossings", "stays", "migrations", "person_months"]
OUTPUT_TABLES = ["persons", *EVENT_TABLES.values(), *TIMELINE_TABLES, "indicator_cells",
                 "published_cells", "record_links"]
PARQUET_TABLES = ["persons", "person_months", "indicator_cells"]


def write_outputs(con: duckdb.DuckDBPyConnection, out: Path, model_json: dict) -> list[Path]:
    """Copy the output tables to out/outputs.duckdb and out/outputs/*.parquet."""
    out.mkdir(parents=True, exist_ok=True)
    database = out / "outputs.duckdb"
    database.unlink(missing_ok=True)
    con.execute(f"ATTACH '{database}' AS outputs")
    try:
        for table in OUTPUT_TABLES:
            if table_exists(con, table, "main"):
                con.execute(f"CREATE TABLE outputs.{table} AS SELECT * FROM main.{table}")
    finally:
        con.execute("DETACH outputs")
    written = [database]
    parquet_dir = out / "outputs"
    parquet_dir.mkdir(exist_ok=True)
    for table in PARQUET_TABLES:
        path = parquet_dir / f"{table}.parquet"
        if table_exists(con, table, "main"):
            con.execute(f"COPY main.{table} TO '{path}' (FORMAT parquet)")
            written.append(path)
    model_file = out / "model" / "splink_model.json"
    model_file.parent.mkdir(exist_ok=True)
    model_file.write_text(json.dumps(model_json, indent=2), encoding="utf-8")
    written.append(model_file)
    return written
