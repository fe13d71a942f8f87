"""Load encoded extracts into DuckDB and collapse each source to distinct identities.

Checks first that every extract matches its manifest (SHA-256) and that all were encoded
under one key id: tokens from two keys never match, so mixing them would silently link nothing.
Tables made here:
  records(source, record_id, identity_id)          one row per encoded record
  identities(unique_id, source_dataset, ..., n_records)  distinct identity tuples per source
  events_<kind>(source, record_id, <event fields>)  the event part of each record (a view)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from linkage.rules import Encodings
from migralink.config import JobConfig
from migralink.errors import LinkageError
from migralink.schema import EVENT_FIELDS
from pseudonymise.manifest import read_manifest
from pseudonymise.spec import file_sha256

IDENTITY_PREFIXES = ("bf_", "tok_")
IDENTITY_CODES = ("birth_year", "dob_placeholder", "sex", "nationality")


@dataclass(frozen=True)
class LoadedSource:
    name: str
    kind: str
    path: Path
    manifest: dict


MANIFEST_KEYS = ("source", "kind", "key_id", "output")


def _manifest(path: Path) -> dict:
    try:
        manifest = read_manifest(path)
    except (ValueError, UnicodeDecodeError):
        raise LinkageError(f"{path}: not a readable manifest (invalid JSON)") from None
    if not isinstance(manifest, dict) or any(k not in manifest for k in MANIFEST_KEYS) or \
            "sha256" not in manifest.get("output", {}):
        raise LinkageError(f"{path}: not a migralink manifest (needs {', '.join(MANIFEST_KEYS)})")
    return manifest


def _parquet_key_id(path: Path) -> str | None:
    metadata = pq.read_schema(path).metadata or {}
    value = metadata.get(b"migralink.key_id")
    return value.decode() if value else None


def check_extract(name: str, kind: str, encoded: Path, manifest_file: Path) -> LoadedSource:
    """One source's encoded file against its manifest and the config; LinkageError if not."""
    for path in (encoded, manifest_file):
        if not path.exists():
            raise LinkageError(f"{path}: missing; run `migralink pseudonymise --source {name}`")
    manifest = _manifest(manifest_file)
    if (manifest["source"], manifest["kind"]) != (name, kind):
        raise LinkageError(f"{manifest_file}: made for source '{manifest['source']}' "
                           f"({manifest['kind']}), but the config expects '{name}' ({kind})")
    if file_sha256(encoded) != manifest["output"]["sha256"]:
        raise LinkageError(f"{encoded}: SHA-256 differs from {manifest_file.name}; "
                           "the file was altered or replaced after encoding")
    if _parquet_key_id(encoded) != manifest["key_id"]:
        raise LinkageError(f"{encoded}: encoded with key {_parquet_key_id(encoded)}, but its "
                           f"manifest says {manifest['key_id']}")
    return LoadedSource(name, kind, encoded, manifest)


def check_extracts(config: JobConfig) -> list[LoadedSource]:
    """Every source has an encoded file matching its manifest; one key id across all."""
    loaded = [check_extract(name, source.kind, config.encoded_file(name),
                            config.manifest_file(name))
              for name, source in config.sources.items()]
    key_ids = {s.name: s.manifest["key_id"] for s in loaded}
    if len(set(key_ids.values())) > 1:
        listing = ", ".join(f"{name}: {key}" for name, key in sorted(key_ids.items()))
        raise LinkageError(f"extracts were encoded with different keys ({listing}); "
                           "re-encode them with one project key")
    specs = {s.name: s.manifest.get("encoding", {}).get("spec_sha256") for s in loaded}
    if len(set(specs.values())) > 1:
        listing = ", ".join(f"{name}: {str(sha)[:12]}" for name, sha in sorted(specs.items()))
        raise LinkageError(f"extracts were encoded with different encoding specs ({listing}); "
                           "their encodings do not compare: re-encode them with one spec")
    return loaded


def encodings_of(con: duckdb.DuckDBPyConnection, sources: list[LoadedSource],
                 columns: list[str]) -> Encodings:
    """Bloom fields, their salts and flips, as the shared encoding spec of the manifests
    says, and each filter field's median popcount over the identities."""
    fields = [c[: -len("_pop")] for c in columns if c.startswith("bf_") and c.endswith("_pop")]
    medians = con.execute(f"SELECT {', '.join(f'median({f}_pop)' for f in fields) or 'NULL'} "
                          "FROM identities").fetchall()[0]
    popcounts = {f: float(m) for f, m in zip(fields, medians, strict=False) if m is not None}
    return Encodings.of(columns, sources[0].manifest.get("encoding", {}).get("spec", {}),
                        popcounts)


def identity_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    names = [row[0] for row in con.execute(
        f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
    return [c for c in names if c.startswith(IDENTITY_PREFIXES) or c in IDENTITY_CODES]


def collapse_identities(con: duckdb.DuckDBPyConnection, sources: list[LoadedSource],
                        columns: list[str]) -> None:
    """records(source, record_id, identity_id) and identities(unique_id, source_dataset,
    <columns>, n_records): each source's distinct identity tuples. identity_id is an MD5 of
    the tuple (stable across runs, so person ids can be carried), computed once per distinct
    tuple; records find theirs through DuckDB's 64-bit hash of the tuple, checked for
    collisions."""
    cols = ", ".join(columns)
    struct = f"struct_pack({', '.join(f'{c} := {c}' for c in columns)})"

    def read(what: str) -> str:  # every source's rows, straight from Parquet (never held)
        return " UNION ALL ".join(f"SELECT '{s.name}' AS source, {what}, hash({struct}) AS "
                                  f"_tuple FROM read_parquet('{s.path}')" for s in sources)

    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _distinct AS
        SELECT source, _tuple, {cols}, count(*) AS n_records FROM ({read(cols)}) GROUP BY ALL""")
    tuples, hashes = con.execute("SELECT count(*), count(DISTINCT (source, _tuple)) "
                                 "FROM _distinct").fetchall()[0]
    if tuples != hashes:  # two distinct tuples of one source with one 64-bit hash
        raise LinkageError(f"{tuples - hashes} identity hash collision(s) among {tuples:,} "
                           "identities; report this: the collapse needs a wider key")
    con.execute(f"""
        CREATE OR REPLACE TABLE identities AS
        SELECT source || ':' || md5(CAST({struct} AS VARCHAR))[:16] AS unique_id,
               source AS source_dataset, {cols}, n_records, _tuple
        FROM _distinct""")
    con.execute("DROP TABLE _distinct")
    con.execute(f"""
        CREATE OR REPLACE TABLE records AS
        SELECT e.source, e.record_id, i.unique_id AS identity_id
        FROM ({read("record_id")}) e
        JOIN identities i ON i.source_dataset = e.source AND i._tuple = e._tuple
    """)
    con.execute("ALTER TABLE identities DROP COLUMN _tuple").fetchall()


def load_sources(con: duckdb.DuckDBPyConnection, sources: list[LoadedSource]) -> list[str]:
    """Create records, identities and the events_<kind> views; returns the identity column
    names."""
    columns = identity_columns(con, sources[0].path)
    for source in sources[1:]:
        if identity_columns(con, source.path) != columns:
            raise LinkageError(f"{source.path}: identity columns differ from "
                               f"{sources[0].path.name}; were they encoded with one spec?")
    collapse_identities(con, sources, columns)
    for kind in sorted({s.kind for s in sources}):
        fields = list(EVENT_FIELDS[kind])
        if not fields:
            continue
        of_kind = [
            f"SELECT '{s.name}' AS source, record_id, {', '.join(fields)} "
            f"FROM read_parquet('{s.path}')"
            for s in sources if s.kind == kind
        ]
        # a view: events are read from Parquet when the person tables are built, and never
        # held in memory while the model trains
        con.execute(f"CREATE OR REPLACE VIEW events_{kind} AS {' UNION ALL '.join(of_kind)}")
    return columns
