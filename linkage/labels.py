"""Clerical labels: record pairs a reviewer has judged, to estimate m and to check the links.

A labels file is a CSV on the hub with the columns source_l, record_id_l, source_r,
record_id_r, is_match (1: the same person, 0: two persons). It names records by their
record_id only (what the encoded extracts carry), never by an identity.
Table made here: clerical_labels(source_dataset_l, unique_id_l, source_dataset_r,
unique_id_r, is_match), on distinct identities, as splink wants its labels.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from migralink.errors import LinkageError

LABEL_COLUMNS = ("source_l", "record_id_l", "source_r", "record_id_r", "is_match")


def load_labels(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, int]:
    """Create clerical_labels from the file; LinkageError naming the row and column of the
    first bad value. Returns the counts of labelled pairs, matches and non-matches."""
    if not path.is_file():
        raise LinkageError(f"{path}: labels file not found")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _labels_raw AS SELECT row_number() OVER () + 1 "
                f"AS line, * FROM read_csv('{path}', all_varchar = true, header = true)")
    columns = [r[0] for r in con.execute("DESCRIBE _labels_raw").fetchall()]
    missing = [c for c in LABEL_COLUMNS if c not in columns]
    if missing:
        raise LinkageError(f"{path}: missing column(s) {', '.join(missing)}; a labels file "
                           f"has {', '.join(LABEL_COLUMNS)}")
    bad = con.execute("SELECT line, is_match FROM _labels_raw WHERE is_match IS NULL OR "
                      "is_match NOT IN ('0', '1') ORDER BY line LIMIT 1").fetchone()
    if bad:
        value = "empty" if bad[1] is None else f"{bad[1]!r}"
        raise LinkageError(f"{path}: line {bad[0]}, column is_match: {value}, where 1 is "
                           "the same person and 0 two persons")
    for side in ("l", "r"):
        unknown = con.execute(f"""
            SELECT line FROM _labels_raw x ANTI JOIN records r
              ON r.source = x.source_{side} AND r.record_id = x.record_id_{side}
            ORDER BY line LIMIT 1""").fetchone()
        if unknown:
            raise LinkageError(f"{path}: line {unknown[0]}, columns source_{side}/record_id_"
                               f"{side}: no such record in the encoded extracts")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _labelled AS
        SELECT x.line, a.source AS source_dataset_l, a.identity_id AS unique_id_l,
               b.source AS source_dataset_r, b.identity_id AS unique_id_r,
               x.is_match = '1' AS is_match
        FROM _labels_raw x
        JOIN records a ON a.source = x.source_l AND a.record_id = x.record_id_l
        JOIN records b ON b.source = x.source_r AND b.record_id = x.record_id_r
    """)
    # a pair is one pair whichever record is written first
    contradiction = con.execute("""
        SELECT min(line), max(line) FROM _labelled
        GROUP BY least(unique_id_l, unique_id_r), greatest(unique_id_l, unique_id_r)
        HAVING count(DISTINCT is_match) > 1 ORDER BY 1 LIMIT 1""").fetchall()
    if contradiction:
        first, second = contradiction[0]
        raise LinkageError(f"{path}: lines {first} and {second} label the same pair of "
                           "identities both as a match and as a non-match")
    same = con.execute("SELECT count(*) FROM _labelled WHERE unique_id_l = unique_id_r"
                       ).fetchall()[0][0]
    con.execute("""
        CREATE OR REPLACE TABLE clerical_labels AS
        SELECT DISTINCT source_dataset_l, unique_id_l, source_dataset_r, unique_id_r, is_match
        FROM _labelled WHERE unique_id_l <> unique_id_r
    """)
    con.execute("DROP TABLE _labelled")
    con.execute("DROP TABLE _labels_raw").fetchall()  # fetched: frees the connection
    pairs, matches = con.execute(  # fetchall: a half-read result would block splink
        "SELECT count(*), count(*) FILTER (WHERE is_match) FROM clerical_labels").fetchall()[0]
    if matches == 0:
        raise LinkageError(f"{path}: no labelled match between two distinct identities "
                           f"({pairs} non-matches, {same} rows pairing one identity with "
                           "itself); m is estimated from labelled matches")
    return {"pairs": pairs, "matches": matches, "non_matches": pairs - matches,
            "rows_same_identity": same}


def label_agreement(con: duckdb.DuckDBPyConnection) -> dict[str, float | int | None]:
    """How the persons agree with the labels: labelled matches found in one person (recall
    on the labels) and labelled non-matches kept apart."""
    matches, joined, non_matches, apart = con.execute("""
        SELECT count(*) FILTER (WHERE is_match),
               count(*) FILTER (WHERE is_match AND a.person_id = b.person_id),
               count(*) FILTER (WHERE NOT is_match),
               count(*) FILTER (WHERE NOT is_match AND a.person_id <> b.person_id)
        FROM clerical_labels c
        JOIN identity_person a ON a.identity_id = c.unique_id_l
        JOIN identity_person b ON b.identity_id = c.unique_id_r
    """).fetchone()
    return {"matches": matches, "matches_linked": round(joined / matches, 4) if matches else None,
            "non_matches": non_matches,
            "non_matches_apart": round(apart / non_matches, 4) if non_matches else None}
