"""Person ids that stay put from one run to the next.

Clustering gives each person a random id. An identity's id (`identities.unique_id`) is a hash
of its encoded tuple, the same in every run under one key, so the hub keeps a registry,
OUT/person_ids.parquet (identity_id, person_id, first_run): hashes and random ids only, no
identity data. The key id it was made under is in its Parquet metadata; a registry of another
key is refused (its identity ids would match nothing).

On the next run each new cluster is matched to the old ids its identities carried:
candidate (cluster, old id) pairs are taken largest overlap first (ties: the old id first
given out earliest, then the smallest id), and a pair is kept when neither the cluster nor
the old id is taken yet. So a cluster takes the old id holding most of its previously known
identities, an old id goes to at most one cluster (the one holding most of its identities),
and every other cluster keeps its fresh random id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from migralink.errors import LinkageError

REGISTRY = "person_ids.parquet"
KEY_ID = b"migralink.key_id"


def run_id(now: datetime | None = None) -> str:
    """This run's name in the registry: its UTC start time."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class IdReport:
    previous: str | None = None  # the registry the ids were carried from (file name)
    previous_persons: int = 0    # ids in it
    persons: int = 0             # clusters of this run
    kept: int = 0                # clusters given an old id
    new: int = 0                 # clusters given a fresh id
    merges: int = 0              # clusters holding identities of two old ids or more
    splits: int = 0              # old ids whose identities went to two clusters or more
    retired: int = 0             # old ids given to no cluster

    def record(self) -> dict:
        return dict(self.__dict__)

    def line(self) -> str:
        if self.previous is None:
            return f"person ids: {self.persons:,} new (no registry of a previous run)"
        return (f"person ids: {self.kept:,} kept from {self.previous} "
                f"({self.previous_persons:,} ids), {self.new:,} new; {self.merges:,} merges, "
                f"{self.splits:,} splits, {self.retired:,} ids retired")


def read_registry(path: Path, key_id: str) -> pa.Table:
    """The registry at `path`; LinkageError if it is not one, or made under another key."""
    if not path.is_file():
        raise LinkageError(f"{path}: no such person-id registry")
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException):
        raise LinkageError(f"{path}: not a readable person-id registry (Parquet)") from None
    made_under = (schema.metadata or {}).get(KEY_ID)
    if made_under is None or not {"identity_id", "person_id", "first_run"} <= set(schema.names):
        raise LinkageError(f"{path}: not a migralink person-id registry (no key id, or "
                           "columns other than identity_id, person_id, first_run)")
    if made_under.decode() != key_id:
        raise LinkageError(
            f"{path}: person-id registry made under key id {made_under.decode()}, but the "
            f"extracts are encoded under {key_id}: identity ids do not carry across keys. "
            "Move the registry away (every person then gets a new id), or give --previous "
            "the registry of this key")
    table = pq.read_table(path, columns=["identity_id", "person_id", "first_run"])
    ids = table.column("identity_id")
    if pc.count_distinct(ids).as_py() != len(ids) or ids.null_count:
        counts = pc.value_counts(ids)
        repeated = next((v["values"] for v in counts.to_pylist() if v["counts"] > 1), None)
        raise LinkageError(f"{path}: identity_id {repeated} appears more than once (or an "
                           "identity_id is empty); a registry gives each identity one "
                           "person id. Restore the registry the last run wrote")
    return table


Overlap = tuple[str, str, int, str, str]  # cluster, old id, shared, old id's first run, key


def _assign(overlaps: list[Overlap]) -> dict[str, str]:
    """cluster -> old id: largest overlap first; ties to the old id given out first, then
    the smallest old id, then the cluster with the smallest identity id."""
    taken: dict[str, str] = {}
    given: set[str] = set()
    for cluster, old, *_ in sorted(overlaps, key=lambda o: (-o[2], o[3], o[1], o[4])):
        if cluster not in taken and old not in given:
            taken[cluster] = old
            given.add(old)
    return taken


def carry_ids(con: duckdb.DuckDBPyConnection, registry: Path | None, key_id: str,
              this_run: str) -> IdReport:
    """Give the clusters of identity_person(identity_id, person_id) the previous run's ids
    where they can be carried; creates `_registry` (identity_id, person_id, first_run) for
    write_registry, and rebuilds record_links."""
    from linkage.cluster import link_records

    report = IdReport(persons=con.execute(
        "SELECT count(DISTINCT person_id) FROM identity_person").fetchall()[0][0])
    if registry is None:
        con.execute("CREATE OR REPLACE TEMP TABLE _previous (identity_id VARCHAR, "
                    "person_id VARCHAR, first_run VARCHAR)")
    else:
        table = read_registry(registry, key_id)
        con.register("_previous_arrow", table)
        con.execute("CREATE OR REPLACE TEMP TABLE _previous AS SELECT * FROM _previous_arrow")
        con.unregister("_previous_arrow")
        report.previous = registry.name
        report.previous_persons = con.execute(
            "SELECT count(DISTINCT person_id) FROM _previous").fetchall()[0][0]
    overlaps = con.execute("""
        WITH since AS (SELECT person_id, min(first_run) AS since FROM _previous GROUP BY ALL),
        first AS (SELECT person_id, min(identity_id) AS first_identity FROM identity_person
                  GROUP BY ALL)
        SELECT ip.person_id AS cluster, pr.person_id AS old, count(*) AS n,
               any_value(s.since), any_value(f.first_identity)
        FROM identity_person ip JOIN _previous pr USING (identity_id)
        JOIN since s ON s.person_id = pr.person_id
        JOIN first f ON f.person_id = ip.person_id
        GROUP BY ALL
    """).fetchall()
    taken = _assign(overlaps)
    report.kept = len(taken)
    report.new = report.persons - report.kept
    report.merges = _count_over_one(overlaps, 0)
    report.splits = _count_over_one(overlaps, 1)
    report.retired = report.previous_persons - report.kept
    carried = pa.table({"cluster": pa.array(list(taken), pa.string()),
                        "old": pa.array(list(taken.values()), pa.string())})
    con.register("_carried_arrow", carried)  # one insert, not one statement per person
    con.execute("CREATE OR REPLACE TEMP TABLE _carried AS SELECT * FROM _carried_arrow")
    con.unregister("_carried_arrow")
    con.execute("""
        CREATE OR REPLACE TABLE identity_person AS
        SELECT ip.identity_id, coalesce(c.old, ip.person_id) AS person_id
        FROM identity_person ip LEFT JOIN _carried c ON c.cluster = ip.person_id
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _registry AS
        SELECT ip.identity_id, ip.person_id,
               CASE WHEN pr.person_id = ip.person_id THEN pr.first_run ELSE ? END AS first_run
        FROM identity_person ip LEFT JOIN _previous pr USING (identity_id)
        ORDER BY ip.identity_id
    """, [this_run])
    con.execute("DROP TABLE _carried")
    con.execute("DROP TABLE _previous")
    link_records(con)
    return report


def _count_over_one(overlaps: list[Overlap], side: int) -> int:
    """Clusters (side 0) holding two old ids or more; old ids (side 1) in two clusters."""
    seen: dict[str, int] = {}
    for row in overlaps:
        seen[row[side]] = seen.get(row[side], 0) + 1
    return sum(1 for n in seen.values() if n > 1)


def write_registry(con: duckdb.DuckDBPyConnection, out: Path, key_id: str) -> Path:
    """Write `_registry` (made by carry_ids) to out/person_ids.parquet, with the key id in
    its metadata; replaces the file only once the new one is complete."""
    path = out / REGISTRY
    partial = path.with_name(path.name + ".partial")
    quoted = key_id.replace("'", "''")
    con.execute(f"COPY (SELECT identity_id, person_id, first_run FROM _registry) TO "
                f"'{partial}' (FORMAT parquet, KV_METADATA {{'{KEY_ID.decode()}': '{quoted}'}})")
    os.replace(partial, path)
    return path
