"""Clustering that resists chaining: components split where documents conflict."""

import duckdb
import pytest

from linkage.cluster import ClusterReport, cluster_pairs, split_cluster
from linkage.rules import Clustering

RULES = Clustering(direct_link=0.99, max_size=50)


def docs(passport: int | None = None, ssn: int | None = None) -> dict:
    return {"passport": passport, "ssn": ssn}


def test_weak_chain_between_two_passports_is_cut_at_its_weakest_link() -> None:
    # A (passport 1) -0.96- B (no passport) -0.93- C (passport 2): nothing links A and C
    # directly, so they are not one person; B stays with A, its stronger link
    nodes = {"A": docs(1), "B": docs(), "C": docs(2)}
    edges = [("A", "B", 0.96), ("B", "C", 0.93)]
    result = split_cluster(nodes, edges, RULES, threshold=0.9)
    assert result.parts == [["A", "B"], ["C"]]
    assert result.reason == "document_conflict"
    assert result.links_cut == 1
    assert not result.vouched


@pytest.mark.parametrize("kind", ["passport", "ssn"])
def test_two_documents_linked_directly_and_strongly_stay_one_person(kind: str) -> None:
    # D and E carry two documents of one type (a renewal) and link directly at 0.999;
    # F, without one, hangs on weaker links: all one person
    nodes = {"D": {kind: 3}, "E": {kind: 4}, "F": {kind: None}}
    edges = [("D", "E", 0.999), ("D", "F", 0.95), ("E", "F", 0.92)]
    result = split_cluster(nodes, edges, RULES, threshold=0.9)
    assert result.parts == [["D", "E", "F"]]
    assert result.reason is None and result.links_cut == 0 and result.vouched


def test_a_direct_link_below_direct_link_does_not_vouch() -> None:
    nodes = {"D": docs(3), "E": docs(4)}
    result = split_cluster(nodes, [("D", "E", 0.95)], RULES, threshold=0.9)
    assert result.parts == [["D"], ["E"]]
    assert result.reason == "document_conflict" and result.links_cut == 1


def test_vouched_documents_may_be_joined_through_other_identities() -> None:
    # passports 1 and 2 are vouched for by D-E; A (1) and C (2) may then join through B
    nodes = {"A": docs(1), "B": docs(), "C": docs(2), "D": docs(1), "E": docs(2)}
    edges = [("D", "E", 0.995), ("A", "B", 0.95), ("B", "C", 0.93), ("A", "D", 0.99)]
    assert split_cluster(nodes, edges, RULES, 0.9).parts == [["A", "B", "C", "D", "E"]]


def test_numbers_one_keying_error_apart_are_one_document() -> None:
    # passports 1 and 2 share near token 77: one number keyed wrong, not two passports
    nodes = {"A": docs(1), "B": docs(), "C": docs(2)}
    edges = [("A", "B", 0.96), ("B", "C", 0.93)]
    near = {"A": {"passport": [5, 77]}, "B": {"passport": None}, "C": {"passport": [77, 9]}}
    result = split_cluster(nodes, edges, RULES, 0.9, near)
    assert result.parts == [["A", "B", "C"]] and result.vouched


def test_oversized_component_is_rebuilt_at_the_split_thresholds() -> None:
    # five identities, no documents: a tight pair and triple tied by a 0.95 link
    nodes = {n: docs() for n in "VWXYZ"}
    edges = [("V", "W", 0.9995), ("X", "Y", 0.995), ("Y", "Z", 0.9992), ("W", "X", 0.95)]
    rules = Clustering(max_size=3, split_thresholds=[0.99, 0.999])
    result = split_cluster(nodes, edges, rules, 0.9)
    assert result.parts == [["V", "W"], ["X", "Y", "Z"]]  # at 0.99 both parts are small enough
    assert result.reason == "oversized" and result.links_cut == 1
    small = Clustering(max_size=2, split_thresholds=[0.99, 0.999])
    assert split_cluster(nodes, edges, small, 0.9).parts == [["V", "W"], ["X"], ["Y", "Z"]]


# --- on tables: the chain, the renewal, two singletons, and the counts ------------------------

IDENTITIES = """
    SELECT * FROM (VALUES
        ('A', 1,    NULL), ('B', NULL, NULL), ('C', 2, NULL),
        ('D', 3,    NULL), ('E', 4,    NULL), ('F', NULL, NULL),
        ('G', NULL, 8),    ('H', NULL, 9)
    ) t(unique_id, tok_passport, tok_ssn)
"""
PREDICTIONS = """
    SELECT * FROM (VALUES
        ('A', 'B', 0.96), ('B', 'C', 0.93),                    -- weak chain, passports 1, 2
        ('D', 'E', 0.999), ('D', 'F', 0.95), ('E', 'F', 0.92),  -- a renewal, linked directly
        ('G', 'H', 0.5), ('A', 'D', 0.4)                        -- below the threshold
    ) t(unique_id_l, unique_id_r, match_probability)
"""


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE identities AS {IDENTITIES}")
    con.execute(f"CREATE TABLE predictions AS {PREDICTIONS}")
    con.execute("CREATE TABLE records AS SELECT 'src' AS source, 'r' || unique_id AS record_id, "
                "unique_id AS identity_id FROM identities")
    return con


def persons(con: duckdb.DuckDBPyConnection) -> list[list[str]]:
    rows = con.execute("SELECT list(identity_id ORDER BY identity_id) FROM identity_person "
                       "GROUP BY person_id ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def test_cluster_pairs_splits_the_chain_keeps_the_renewal(con: duckdb.DuckDBPyConnection) -> None:
    report = cluster_pairs(con, "predictions", 0.9, RULES)
    assert persons(con) == [["A", "B"], ["C"], ["D", "E", "F"], ["G"], ["H"]]
    # components {A,B,C} {D,E,F} {G} {H}; both with two passports are checked; one is split
    assert report == ClusterReport(components=4, checked=2, split=1, persons=5, links_cut=1,
                                   reasons={"document_conflict": 1, "oversized": 0},
                                   documents_vouched=1)
    assert report.record()["reasons"] == {"document_conflict": 1, "oversized": 0}
    assert con.execute("SELECT count(*), count(DISTINCT person_id) FROM record_links"
                       ).fetchall() == [(8, 5)]


def test_without_documents_checked_components_stand(con: duckdb.DuckDBPyConnection) -> None:
    report = cluster_pairs(con, "predictions", 0.9, Clustering(documents=["national_id"]))
    assert persons(con) == [["A", "B", "C"], ["D", "E", "F"], ["G"], ["H"]]
    assert (report.checked, report.split, report.persons) == (0, 0, 4)


def test_clustering_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="split_thresholds"):
        Clustering(split_thresholds=[0.999, 0.99])
    with pytest.raises(ValueError):
        Clustering(documents=["driving_licence"])


def test_two_national_id_cards_in_use_together_at_one_office_are_two_persons() -> None:
    # Two cards linked at 0.999. A renewal: the old card's records end before the new one's
    # begin, or overlap by 30 days at most. Two persons: the border saw both cards over the
    # same 200 days. A card keyed wrong by one office for years while another office reads
    # the right one is no conflict (a register's typo), nor is one record of a second card.
    rules = Clustering(direct_link=0.99, max_size=50, replaced=["national_id"],
                       overlap_days=30)
    nodes = {"old": {"national_id": 1}, "new": {"national_id": 2}}
    edges = [("old", "new", 0.999)]

    def parts(periods: dict) -> list:
        return split_cluster(nodes, edges, rules, 0.9, periods=periods).parts

    assert parts({"old": ("border", 100, 500), "new": ("border", 530, 900)}) == [["new", "old"]]
    assert parts({"old": ("border", 100, 530), "new": ("border", 500, 900)}) == [["new", "old"]]
    assert parts({"old": ("border", 100, 700), "new": ("border", 500, 900)}) == [["new"],
                                                                                 ["old"]]
    assert parts({"old": ("social_security", 100, 700),
                  "new": ("border", 500, 900)}) == [["new", "old"]]
    assert parts({"old": ("border", 100, 700), "new": ("border", 600, 600)}) == [["new", "old"]]
    # a type not listed as replaced is vouched for as before
    assert split_cluster(nodes, edges, RULES, 0.9, periods={
        "old": ("border", 100, 700), "new": ("border", 500, 900)}).parts == [["new", "old"]]
