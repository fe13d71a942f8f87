"""Person ids carried from one run to the next through the hub's registry."""

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.person_ids import KEY_ID, REGISTRY, carry_ids, read_registry, write_registry
from migralink.errors import LinkageError

KEY = "k1-0123456789abcdef"


def write_old(path: Path, rows: list[tuple[str, str, str]], key_id: str = KEY) -> Path:
    table = pa.table({"identity_id": [r[0] for r in rows], "person_id": [r[1] for r in rows],
                      "first_run": [r[2] for r in rows]})
    pq.write_table(table.replace_schema_metadata({KEY_ID: key_id.encode()}), path)
    return path


def new_run(clusters: dict[str, list[str]]) -> duckdb.DuckDBPyConnection:
    """A connection holding identity_person (fresh ids X..) and one record per identity."""
    con = duckdb.connect()
    rows = [(i, p) for p, ids in clusters.items() for i in ids]
    con.execute("CREATE TABLE identity_person (identity_id VARCHAR, person_id VARCHAR)")
    con.executemany("INSERT INTO identity_person VALUES (?, ?)", rows)
    con.execute("CREATE TABLE records AS SELECT 's' AS source, 'r' || identity_id AS record_id, "
                "identity_id FROM identity_person")
    return con


def mapping(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT identity_id, person_id FROM identity_person").fetchall())


# Run 1: Pa {i1 i2}, Pb {i3}, Pc {i4 i5 i6}, Pd {i7 i8}; Pd was given out first (2024).
OLD = [("i1", "Pa", "2025-01"), ("i2", "Pa", "2025-01"), ("i3", "Pb", "2025-01"),
       ("i4", "Pc", "2025-01"), ("i5", "Pc", "2025-01"), ("i6", "Pc", "2025-01"),
       ("i7", "Pd", "2024-01"), ("i8", "Pd", "2025-01")]


def test_keep_gain_merge_split(tmp_path: Path) -> None:
    registry = write_old(tmp_path / REGISTRY, OLD)
    con = new_run({
        "X1": ["i1", "i2", "i9"],  # Pa gains a new identity: keeps Pa
        "X2": ["i3", "i7"],        # merge: one of Pb, one of Pd; Pd is the older id
        "X3": ["i8"],              # the rest of Pd: Pd is taken, so a fresh id
        "X4": ["i4", "i5"],        # split of Pc: the larger part keeps Pc
        "X5": ["i6"],              # the smaller part gets a fresh id
    })
    report = carry_ids(con, registry, KEY, "2025-12")
    ids = mapping(con)
    assert [ids[i] for i in ("i1", "i2", "i9")] == ["Pa"] * 3
    assert ids["i3"] == ids["i7"] == "Pd"
    assert ids["i4"] == ids["i5"] == "Pc"
    assert (ids["i8"], ids["i6"]) == ("X3", "X5")
    assert report.record() == {"previous": REGISTRY, "previous_persons": 4, "persons": 5,
                               "kept": 3, "new": 2, "merges": 1, "splits": 2, "retired": 1}
    assert "3 kept from person_ids.parquet (4 ids), 2 new; 1 merges, 2 splits" in report.line()
    # record_links follow; the new registry keeps first_run where the id was carried
    assert con.execute("SELECT person_id FROM record_links WHERE record_id = 'ri9'"
                       ).fetchall() == [("Pa",)]
    out = tmp_path / "out"
    out.mkdir()
    written = write_registry(con, out, KEY)
    again = pl.read_parquet(written).sort("identity_id")
    assert again.rows() == [
        ("i1", "Pa", "2025-01"), ("i2", "Pa", "2025-01"), ("i3", "Pd", "2025-12"),
        ("i4", "Pc", "2025-01"), ("i5", "Pc", "2025-01"), ("i6", "X5", "2025-12"),
        ("i7", "Pd", "2024-01"), ("i8", "X3", "2025-12"), ("i9", "Pa", "2025-12")]
    assert read_registry(written, KEY).num_rows == 9


def test_ties_go_to_the_smallest_id_then_the_first_cluster(tmp_path: Path) -> None:
    registry = write_old(tmp_path / REGISTRY, [("i1", "Pb", "r1"), ("i2", "Pa", "r1")])
    con = new_run({"Y": ["i1", "i2"]})  # a merge of two one-identity ids, equally old
    report = carry_ids(con, registry, KEY, "r2")
    assert set(mapping(con).values()) == {"Pa"}
    assert (report.kept, report.merges, report.retired) == (1, 1, 1)
    registry = write_old(tmp_path / REGISTRY, [("i1", "Pa", "r1"), ("i2", "Pa", "r1")])
    con = new_run({"Z": ["i2"], "Y": ["i1"]})  # a split into equal halves: i1's cluster
    carry_ids(con, registry, KEY, "r2")
    assert mapping(con) == {"i1": "Pa", "i2": "Z"}


def test_no_registry_all_new(tmp_path: Path) -> None:
    con = new_run({"X1": ["i1"], "X2": ["i2", "i3"]})
    report = carry_ids(con, None, KEY, "r1")
    assert mapping(con) == {"i1": "X1", "i2": "X2", "i3": "X2"}
    assert (report.previous, report.persons, report.new, report.kept) == (None, 2, 2, 0)
    assert report.line() == "person ids: 2 new (no registry of a previous run)"
    written = write_registry(con, tmp_path, KEY)
    assert pq.read_schema(written).metadata[KEY_ID] == KEY.encode()
    assert set(pq.read_schema(written).names) == {"identity_id", "person_id", "first_run"}


def test_registry_of_another_key_is_refused(tmp_path: Path) -> None:
    registry = write_old(tmp_path / REGISTRY, OLD, key_id="k1-ffffffffffffffff")
    with pytest.raises(LinkageError, match="made under key id k1-ffffffffffffffff, but the "
                                           f"extracts are encoded under {KEY}"):
        carry_ids(new_run({"X1": ["i1"]}), registry, KEY, "r2")
    bare = tmp_path / "bare.parquet"
    pq.write_table(pa.table({"identity_id": ["i1"], "person_id": ["Pa"]}), bare)
    with pytest.raises(LinkageError, match="not a migralink person-id registry"):
        read_registry(bare, KEY)
    with pytest.raises(LinkageError, match="no such person-id registry"):
        read_registry(tmp_path / "missing.parquet", KEY)


def test_registry_with_an_identity_twice_is_refused(tmp_path: Path) -> None:
    """An identity with two person ids would be copied into every later registry."""
    registry = write_old(tmp_path / REGISTRY, [*OLD, ("i3", "Pzzzz", "2025-02")])
    with pytest.raises(LinkageError, match="identity_id i3 appears more than once"):
        read_registry(registry, KEY)


# --- synthetic extracts cut at a date, and the stability benchmark -----------------------------


def test_cut_extracts_are_the_whole_ones_up_to_the_date(tmp_path: Path) -> None:
    from benchmarks.synth import RAW_FILES, synthesise

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    synthesise(300, 5, whole)
    counts = synthesise(300, 5, cut, until=date(2025, 6, 30))
    for source, file in RAW_FILES.items():
        a = (whole / "raw" / file).read_text().splitlines()
        b = (cut / "raw" / file).read_text().splitlines()
        assert counts["rows"][source] == len(b) - 1
        if source == "placements":  # ends after the cut-off are not known yet
            assert len(b) <= len(a)
            continue
        assert len(b) < len(a) and a[:len(b)] == b, source  # the same rows, fewer
    assert pl.read_parquet(whole / "truth" / "persons.parquet").equals(
        pl.read_parquet(cut / "truth" / "persons.parquet"))
    assert pl.read_parquet(cut / "truth" / "spells.parquet")["end"].max() <= date(2025, 6, 30)


@pytest.fixture(scope="module")
def stability(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    from benchmarks.stability import run_stability

    out = tmp_path_factory.mktemp("stability")
    return run_stability(1500, seed=3, out=out), out


def test_stability_keeps_ids(stability: tuple[dict, Path]) -> None:
    figures, out = stability
    assert figures["until"] == "2025-11-30"
    assert figures["records_run2"] > figures["records_run1"]
    assert figures["kept_share"] >= 0.99
    assert figures["identities_same_id_share"] >= 0.99
    assert figures["exact_persons_same_id_share"] >= 0.98
    # the ids really are carried: the same record has the same person id in both runs
    same = duckdb.connect().execute(f"""
        SELECT count(*), count(*) FILTER (WHERE a.person_id = b.person_id)
        FROM read_parquet('{out / 'stability' / 'run1_links.parquet'}') a
        JOIN read_parquet('{out / 'stability' / 'run2_links.parquet'}') b
        USING (source, record_id)
    """).fetchall()[0]
    assert same[0] == figures["records_run1"] and same[1] >= 0.99 * same[0]
    registry = pl.read_parquet(out / REGISTRY)
    assert registry.height == registry["identity_id"].n_unique()
    assert registry["first_run"].n_unique() == 2  # run 1's, and run 2's for what it added


def test_link_refuses_a_previous_registry_of_another_key(stability: tuple[dict, Path],
                                                          tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from migralink.cli import app
    from migralink.config import CONFIGS_DIR

    other = write_old(tmp_path / "other.parquet", OLD, key_id="k1-ffffffffffffffff")
    result = CliRunner().invoke(app, ["link", "--config", str(CONFIGS_DIR / "demo.yaml"),
                                      "--workdir", str(stability[1]), "--previous", str(other)])
    assert result.exit_code == 2
    assert "made under key id k1-ffffffffffffffff" in result.output
