"""The comparison step on its own: candidate pairs -> comparison levels of the name fields.

Dice on Bloom filters is the inner loop of linking. This benchmark times the SQL splink runs
for the name comparisons of the linkage rules (rules/linkage/default.yaml: given and family
name, each with its Dice levels and the swapped-name level) on a table of candidate pairs
whose filters sit side by side, as they do after splink's blocking join, in DuckDB:

- `migralink`: the rules as `linkage.rules.expand` writes them (each bound an exact integer
  test `2|A & B| d >= n (|A| + |B|)`: DuckDB computes the shared |A & B| once per comparison);
- `baseline`: the same levels written as the plain division `2.0 * |A & B| / (|A| + |B|) >= t`,
  what the macro gave before and what the issue's ~6 million pairs/s was measured on.

Both are timed in the same run on the same pairs, each statement run twice and the faster
kept; the comparison levels of every pair must agree (`mismatches` counts the pairs where they
do not). Pairs are drawn at random among encoded identities: almost all are non-matches, the
worst case for a CASE that tries each level in turn. The filters come from the production
encoder (`IdentityEncoder`) on generated records (benchmarks/bench_encode.py), so popcounts,
identity flips and Dice bounds are those of a real job. The gather (the join that puts the
two filters of a pair side by side) is timed apart, for scale.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import numpy as np

from benchmarks.bench_encode import BENCH_KEY, cores, make_records
from linkage.compare import Columns, bloom_levels, compare_levels
from linkage.model import settings
from linkage.rules import Encodings, LinkageRules, load_rules
from migralink.config import RULES_DIR
from pseudonymise.encode import IdentityEncoder
from pseudonymise.normalise import NameRules
from pseudonymise.spec import load_spec

NAME_COMPARISONS = ("given_name", "family_name")
IDENTITIES = 200_000


def encoded_identities(con: duckdb.DuckDBPyConnection, n: int, seed: int) -> Encodings:
    """Table `identities` (k, the name filters of `n` generated records) and its Encodings."""
    spec = load_spec(RULES_DIR / "encoding.yaml")
    encoded = IdentityEncoder(spec, BENCH_KEY, NameRules.load()).encode(make_records(n, seed))
    names = encoded.select(c for c in encoded.columns
                           if c.startswith(("bf_given_name", "bf_family_name")))
    con.register("_encoded", names.to_arrow())
    con.execute("CREATE TABLE identities AS "
                "SELECT row_number() OVER () - 1 AS k, * FROM _encoded").fetchall()
    con.unregister("_encoded")
    medians = {f: con.execute(f"SELECT median({f}_pop) FROM identities").fetchall()[0][0]
               for f in ("bf_given_name", "bf_family_name")}
    return Encodings.of(names.columns, spec.model_dump(exclude={"sha256"}), medians)


def name_comparisons(rules: LinkageRules, encodings: Encodings, exact: bool) -> list:
    """splink's Comparison objects for the name comparisons, from the settings the link uses
    (`exact`) or with the Dice bounds as plain DECIMAL divisions (the baseline)."""
    from splink import SettingsCreator

    model = settings(rules, encodings, exact)
    model["comparisons"] = [c for c in model["comparisons"]
                            if c["output_column_name"] in NAME_COMPARISONS]
    return SettingsCreator.from_path_or_dict(model).get_settings("duckdb").comparisons


def candidate_pairs(con: duckdb.DuckDBPyConnection, pairs: int, seed: int) -> float:
    """Table `pairs`: `pairs` random pairs of identities with both filters side by side
    (columns x_l, x_r as splink names them); returns the seconds the gather took."""
    n = con.execute("SELECT count(*) FROM identities").fetchall()[0][0]
    columns = [c for c in con.sql("SELECT * FROM identities LIMIT 0").columns if c != "k"]
    side = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in columns)
    start = time.perf_counter()
    con.execute(f"""
        CREATE TABLE pairs AS
        SELECT {side}
        FROM (SELECT hash(i, {seed}) % {n} AS kl, hash(i, {seed} + 1) % {n} AS kr
              FROM range({pairs}) t(i)) p
        JOIN identities l ON l.k = p.kl JOIN identities r ON r.k = p.kr""").fetchall()
    return time.perf_counter() - start


def time_levels(con: duckdb.DuckDBPyConnection, cases: list[str], table: str) -> float:
    """Best of two runs of the CASE statements over every pair (results kept in `table`)."""
    select = ", ".join(cases)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM pairs").fetchall()
        best = min(best, time.perf_counter() - start)
    return best


def differing(con: duckdb.DuckDBPyConnection, table: str, other: str) -> int:
    """Pairs (row by row) whose level differs in any name comparison between two tables."""
    differ = " OR ".join(f"a.gamma_{c} IS DISTINCT FROM b.gamma_{c}" for c in NAME_COMPARISONS)
    return con.execute(f"SELECT count(*) FROM {table} a POSITIONAL JOIN {other} b "
                       f"WHERE {differ}").fetchall()[0][0]


def side_columns(con: duckdb.DuckDBPyConnection, side: str) -> Columns:
    """One side's filters of every pair as numpy arrays (words; popcount -1 where missing)."""
    fetched = con.execute(f"SELECT COLUMNS('_{side}$') FROM pairs").fetchnumpy()
    out = {}
    for name, values in fetched.items():
        column = name.removesuffix(f"_{side}")
        fill = -1 if column.endswith("_pop") else 0
        out[column] = np.ascontiguousarray(np.ma.filled(values, fill))
    return out


def time_kernel(levels: list, encodings: Encodings, left: Columns, right: Columns
                ) -> tuple[float, list[np.ndarray]]:
    """Best of three runs of the numpy kernel over every pair, and its levels."""
    best, out = float("inf"), []
    for _ in range(3):
        start = time.perf_counter()
        out = compare_levels(levels, encodings, left, right, cores())
        best = min(best, time.perf_counter() - start)
    return best, out


def run_compare_benchmark(pairs: int = 20_000_000, identities: int = IDENTITIES,
                          seed: int = 1) -> dict[str, Any]:
    """The `bench compare` figures as one dict."""
    con = duckdb.connect()
    con.execute(f"SET threads = {cores()}")
    con.execute("SET enable_progress_bar = false")
    encodings = encoded_identities(con, identities, seed)
    gather = candidate_pairs(con, pairs, seed)
    rules = load_rules(RULES_DIR / "linkage" / "default.yaml")
    sql = {"splink_case": [c._case_statement for c in name_comparisons(rules, encodings, True)],
           "baseline": [c._case_statement for c in name_comparisons(rules, encodings, False)]}
    seconds = {form: time_levels(con, cases, f"levels_{form}") for form, cases in sql.items()}
    left, right = side_columns(con, "l"), side_columns(con, "r")
    levels = [bloom_levels(c, encodings) for c in rules.comparisons if c.name in NAME_COMPARISONS]
    ours, kernel = time_kernel(levels, encodings, left, right)
    baseline = con.execute("SELECT * FROM levels_baseline").fetchnumpy()
    mismatches = {
        "numpy": int(sum((np.ma.filled(baseline[f"gamma_{c}"], -9) != k).sum()
                         for c, k in zip(NAME_COMPARISONS, kernel, strict=True))),
        "splink_case": differing(con, "levels_splink_case", "levels_baseline")}
    plain = seconds["baseline"]
    return {"benchmark": "compare", "pairs": pairs, "identities": identities,
            "comparisons": list(NAME_COMPARISONS), "seconds": round(ours, 3),
            "pairs_per_s": round(pairs / ours), "baseline_seconds": round(plain, 3),
            "baseline_pairs_per_s": round(pairs / plain), "speedup": round(plain / ours, 2),
            "splink_case_pairs_per_s": round(pairs / seconds["splink_case"]),
            "mismatches": mismatches, "gather_seconds": round(gather, 3),
            "gather_pairs_per_s": round(pairs / gather), "cores": cores(),
            "engine": f"numpy {np.__version__}; duckdb {duckdb.__version__}"}
