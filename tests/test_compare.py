"""The numpy comparison kernel (linkage/compare.py) gives every pair splink's level."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from benchmarks.bench_compare import (
    NAME_COMPARISONS,
    candidate_pairs,
    encoded_identities,
    name_comparisons,
    run_compare_benchmark,
    side_columns,
)
from linkage.compare import Unsupported, bloom_levels, compare_levels
from linkage.rules import Comparison, Encodings, Level, load_rules
from migralink.config import RULES_DIR

RULES = load_rules(RULES_DIR / "linkage" / "default.yaml")
PLAIN = Encodings({"f": 1})


def rule(name: str) -> Comparison:
    return next(c for c in RULES.comparisons if c.name == name)


def columns(words: list[int], pops: list[int]) -> dict[str, np.ndarray]:
    return {"f_w0": np.array(words, dtype=np.uint64), "f_pop": np.array(pops)}


def test_levels_carry_splinks_values() -> None:
    """given_name: missing -1; salted-differently left out (filters unsalted); then
    0.95 -> 5, 0.80 -> 4, swapped -> 3, 0.60 -> 2, 0.45 -> 1 (else 0), as splink numbers them."""
    encodings = Encodings({"bf_given_name": 4, "bf_family_name": 4})
    levels = bloom_levels(rule("given_name"), encodings)
    assert [lv.value for lv in levels] == [-1, 5, 4, 3, 2, 1]
    swapped = levels[3].bounds
    assert [(b.left, b.right) for b in swapped] == [("bf_given_name", "bf_family_name"),
                                                    ("bf_family_name", "bf_given_name")]
    assert (swapped[0].numerator, swapped[0].denominator) == (4, 5)


def test_level_by_hand() -> None:
    """|A| = |B| = 20 bits: 20 common -> Dice 1.0 (level 5); 16 -> 0.80 (4); 9 -> 0.45
    exactly, on the lowest bound (1); 8 -> 0.40 (else, 0); a missing filter -> -1."""
    comparison = Comparison(name="f", levels=[
        Level(label="missing", sql="null(f)", null_level=True),
        Level(label="a", sql="dice(f) >= 0.95"), Level(label="b", sql="dice(f) >= 0.80"),
        Level(label="c", sql="dice(f) >= 0.60"), Level(label="d", sql="dice(f) >= 0.45"),
        Level(label="different", **{"else": True})])
    a = (1 << 20) - 1

    def b(common: int) -> int:
        return ((1 << common) - 1) | (((1 << (20 - common)) - 1) << 32)

    left = columns([a] * 5, [20] * 5)
    right = columns([b(20), b(16), b(9), b(8), 0], [20, 20, 20, 20, -1])
    levels = bloom_levels(comparison, PLAIN)
    (got,) = compare_levels([levels], PLAIN, left, right)
    assert got.tolist() == [4, 3, 1, 0, -1]


def test_other_levels_are_refused() -> None:
    with pytest.raises(Unsupported, match="not a dice"):
        bloom_levels(rule("ssn"), Encodings({"bf_given_name": 4}))


@pytest.fixture(scope="module")
def pairs() -> tuple[duckdb.DuckDBPyConnection, Encodings]:
    """3,000 encoded identities and 200,000 random pairs of them, plus each identity with
    itself (so the upper levels are reached too)."""
    con = duckdb.connect()
    encodings = encoded_identities(con, 3_000, seed=2)
    candidate_pairs(con, 200_000, seed=2)
    con.execute("INSERT INTO pairs SELECT " + ", ".join(
        f"{c} AS {c}_l, {c} AS {c}_r" for c in con.sql("SELECT * FROM identities").columns
        if c != "k") + " FROM identities")
    return con, encodings


def test_kernel_agrees_with_splink_on_every_pair(pairs) -> None:
    con, encodings = pairs
    cases = [c._case_statement for c in name_comparisons(RULES, encodings, exact=True)]
    expected = con.execute(f"SELECT {', '.join(cases)} FROM pairs").fetchnumpy()
    left, right = side_columns(con, "l"), side_columns(con, "r")
    levels = [bloom_levels(rule(name), encodings) for name in NAME_COMPARISONS]
    for name, got in zip(NAME_COMPARISONS, compare_levels(levels, encodings, left, right, 2),
                         strict=True):
        want = np.ma.filled(expected[f"gamma_{name}"], -9)
        assert (got == want).all()
        assert len(np.unique(got)) >= 4  # not one level for all: the test can fail


def test_bench_compare_checks_its_forms() -> None:
    figures = run_compare_benchmark(pairs=20_000, identities=2_000)
    assert figures["mismatches"] == {"numpy": 0, "splink_case": 0}
    assert figures["pairs"] == 20_000 and figures["pairs_per_s"] > 0
