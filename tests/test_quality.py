"""Quality without truth (linkage/quality.py), on hand-made pairs, persons and models."""

import duckdb
import pytest

from linkage.quality import (
    best_threshold,
    choose_threshold,
    link_rates_by_group,
    linkage_rates,
    model_checks,
    threshold_curve,
)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # identities a1, a2 (source a), b1, b2 (source b), c1 (source c)
    con.execute("""CREATE TABLE identities AS SELECT * FROM (VALUES
        ('a1', 'a', 'MAR', 'M'), ('a2', 'a', 'MAR', 'F'), ('b1', 'b', 'FRA', 'M'),
        ('b2', 'b', NULL, 'F'), ('c1', 'c', 'MAR', NULL))
        t(unique_id, source_dataset, nationality, sex)""")
    # person P1 holds a1, a2 and b1; P2 holds b2; P3 holds c1
    con.execute("""CREATE TABLE identity_person AS SELECT * FROM (VALUES
        ('a1', 'P1'), ('a2', 'P1'), ('b1', 'P1'), ('b2', 'P2'), ('c1', 'P3'))
        t(identity_id, person_id)""")
    con.execute("""CREATE TABLE predictions AS SELECT * FROM (VALUES
        ('a1', 'a2', 0.99), ('a1', 'b1', 0.95), ('a2', 'b1', 0.6), ('b2', 'c1', 0.2),
        ('a1', 'c1', 0.05)) t(unique_id_l, unique_id_r, match_probability)""")
    return con


def test_threshold_curve_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    curve = threshold_curve(con, "predictions", (0.5, 0.9, 0.999))
    total = 0.99 + 0.95 + 0.6 + 0.2 + 0.05
    at = {p.threshold: p for p in curve}
    assert at[0.5].pairs == 3
    assert at[0.5].expected_precision == pytest.approx((0.99 + 0.95 + 0.6) / 3)
    assert at[0.5].expected_recall == pytest.approx((0.99 + 0.95 + 0.6) / total)
    assert at[0.9].pairs == 2
    assert at[0.9].expected_recall == pytest.approx((0.99 + 0.95) / total)
    assert at[0.999].pairs == 0 and at[0.999].expected_precision is None


def test_best_threshold_is_highest_expected_f1(con: duckdb.DuckDBPyConnection) -> None:
    curve = threshold_curve(con, "predictions", (0.1, 0.5, 0.9))
    # F1 at 0.1: p=(2.74)/4, r=2.74/2.79; at 0.5: p=2.54/3, r=2.54/2.79; at 0.9: p=0.97, r=1.94/2.79
    f1 = {t: 2 * p * r / (p + r) for t, p, r in [
        (0.1, 2.74 / 4, 2.74 / 2.79), (0.5, 2.54 / 3, 2.54 / 2.79), (0.9, 0.97, 1.94 / 2.79)]}
    assert best_threshold(curve).threshold == max(f1, key=f1.get) == 0.5
    # on the default grid, 0.6 keeps the same three pairs as 0.5: a tie, the higher one wins
    assert choose_threshold(con, "predictions", "expected_f1", 0.9).threshold == 0.6
    fixed = choose_threshold(con, "predictions", "fixed", 0.93)
    assert fixed.threshold == 0.93 and fixed.at_threshold()["pairs"] == 2


def test_model_checks_flag_backwards_and_unobserved_levels() -> None:
    model = {"comparisons": [{"output_column_name": "name", "comparison_levels": [
        {"label_for_charts": "missing", "is_null_level": True},
        {"label_for_charts": "exact", "m_probability": 0.9, "u_probability": 0.01},
        {"label_for_charts": "close", "m_probability": 0.01, "u_probability": 0.05},
        {"label_for_charts": "swapped", "u_probability": 0.001},
        {"label_for_charts": "different", "m_probability": 0.09, "u_probability": 0.94},
    ]}]}
    checks = model_checks(model)
    assert [(c["level"], c["check"]) for c in checks] == [
        ("close", "m_below_u"), ("swapped", "not_observed")]
    assert "m not estimated" in checks[1]["what"]


def test_linkage_rates_by_source_pair(con: duckdb.DuckDBPyConnection) -> None:
    rates = {(r["source"], r["with"]): (r["persons"], r["linked"])
             for r in linkage_rates(con)}
    # source a: one person (P1) with two a identities and one b identity
    assert rates[("a", "a")] == (1, 1) and rates[("a", "b")] == (1, 1)
    # source b: P1 and P2; only P1 also holds an a identity; no one has two b identities
    assert rates[("b", "a")] == (2, 1) and rates[("b", "b")] == (2, 0)
    assert rates[("c", "c")] == (1, 0) and ("c", "a") not in rates


def test_link_rates_by_nationality_and_sex(con: duckdb.DuckDBPyConnection) -> None:
    groups = link_rates_by_group(con, "predictions", 0.9)
    mar = next(g for g in groups["by_nationality"] if g["nationality"] == "MAR")
    # MAR: a1, a2 (linked, in P1) and c1 (alone)
    assert mar["identities"] == 3 and mar["linked_share"] == pytest.approx(2 / 3, abs=1e-4)
    # pair ends in MAR: a1-a2 twice, a1-b1 once, a2-b1 once, b2-c1 once, a1-c1 twice
    kept = 0.99 * 2 + 0.95
    total = 0.99 * 2 + 0.95 + 0.6 + 0.2 + 0.05 * 2
    assert mar["expected_recall"] == pytest.approx(kept / total, abs=1e-4)
    assert mar["expected_precision"] == pytest.approx(kept / 3, abs=1e-4)
    unknown = next(g for g in groups["by_nationality"] if g["nationality"] == "unknown")
    assert unknown["identities"] == 1 and unknown["linked_share"] == 0
    sexes = {g["sex"]: g["identities"] for g in groups["by_sex"]}
    assert sexes == {"M": 2, "F": 2, "unknown": 1}
