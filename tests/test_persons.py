"""persons.sql: each person's coded attributes from their records' identities."""

from datetime import date

import duckdb

from linkage.events import build_person_tables
from linkage.indicators import set_parameters


def persons_of(identities: list[tuple], links: list[tuple], national_id: bool = True) -> list:
    """identities: (unique_id, sex, nationality, birth_year, tok_national_id);
    links: (record_id, identity_id, person_id)."""
    con = duckdb.connect()
    card = ", tok_national_id UBIGINT" if national_id else ""
    con.execute(f"CREATE TABLE identities (unique_id VARCHAR, sex VARCHAR, nationality VARCHAR, "
                f"birth_year INTEGER{card})")
    rows = identities if national_id else [row[:4] for row in identities]
    con.executemany(f"INSERT INTO identities VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.execute("CREATE TABLE records (source VARCHAR, record_id VARCHAR, identity_id VARCHAR)")
    con.execute("CREATE TABLE record_person (source VARCHAR, record_id VARCHAR, "
                "person_id VARCHAR)")
    con.executemany("INSERT INTO records VALUES ('s', ?, ?)", [(r, i) for r, i, _ in links])
    con.executemany("INSERT INTO record_person VALUES ('s', ?, ?)", [(r, p) for r, _, p in links])
    set_parameters(con, "MAR", date(2019, 1, 1), date(2025, 12, 31))
    build_person_tables(con)
    return con.execute("SELECT person_id, sex, citizenship, birth_year, n_records FROM persons "
                       "ORDER BY 1").fetchall()


def test_a_national_id_without_a_recorded_nationality_counts_as_the_countrys() -> None:
    # P: 3 social-security declarations with a national ID card and no nationality, falsely
    # linked to 2 crossings recorded SYR: 3 records say MAR, 2 say SYR -> MAR.
    # Q: declarations with a residence permit only (no card, no nationality) -> unknown.
    identities = [("ss", "M", None, 1974, 11), ("bp", "M", "SYR", 1974, None),
                  ("ssq", "F", None, 1990, None)]
    links = [("d1", "ss", "P"), ("d2", "ss", "P"), ("d3", "ss", "P"),
             ("b1", "bp", "P"), ("b2", "bp", "P"), ("q1", "ssq", "Q")]
    assert persons_of(identities, links) == [("P", "M", "MAR", 1974, 5),
                                             ("Q", "F", None, 1990, 1)]
    # a recorded nationality wins over the card, and without the column nothing is implied
    assert persons_of([("x", "M", "FRA", 1980, 7)], [("r", "x", "X")]) == [
        ("X", "M", "FRA", 1980, 1)]
    assert persons_of(identities, links, national_id=False) == [("P", "M", "SYR", 1974, 5),
                                                               ("Q", "F", None, 1990, 1)]
