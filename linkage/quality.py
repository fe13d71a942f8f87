"""Linkage quality without truth: what the trained model and the links themselves say.

- the threshold curve: expected precision and recall of the scored pairs at each threshold,
  from their match probabilities (a pair of probability p is a match with probability p);
- model checks: agreement levels where m is below u, levels never observed;
- linkage rates by source pair, and link rates by nationality and sex (a linkage that works
  worse for some groups biases the statistics about them).
Only counts and shares: nothing here names a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

THRESHOLD_GRID = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
TOP_NATIONALITIES = 10  # groups reported one by one; the rest as "other"


@dataclass(frozen=True)
class ThresholdPoint:
    threshold: float
    pairs: int
    expected_precision: float | None
    expected_recall: float | None

    @property
    def expected_f1(self) -> float | None:
        p, r = self.expected_precision, self.expected_recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)

    def record(self) -> dict[str, Any]:
        f1 = self.expected_f1
        return {"threshold": self.threshold, "pairs": self.pairs,
                "expected_precision": _round(self.expected_precision),
                "expected_recall": _round(self.expected_recall),
                "expected_f1": _round(f1)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def threshold_curve(con: duckdb.DuckDBPyConnection, predictions: str,
                    grid: tuple[float, ...] = THRESHOLD_GRID) -> list[ThresholdPoint]:
    """At each threshold t: pairs at or above t, their mean match probability (expected
    precision) and their share of the summed probability of all scored pairs (expected
    recall, among the pairs scored; pairs no blocking pass produced are not counted)."""
    total = con.execute(f"SELECT sum(match_probability)::DOUBLE FROM {predictions}"
                        ).fetchone()[0]
    rows = con.execute(f"""
        SELECT t.threshold, count(p.match_probability),
               coalesce(sum(p.match_probability), 0)::DOUBLE
        FROM unnest(?::DOUBLE[]) AS t(threshold)
        LEFT JOIN {predictions} p ON p.match_probability >= t.threshold
        GROUP BY t.threshold ORDER BY t.threshold
    """, [list(grid)]).fetchall()
    return [ThresholdPoint(t, n, s / n if n else None, s / total if total else None)
            for t, n, s in rows]


def best_threshold(curve: list[ThresholdPoint]) -> ThresholdPoint:
    """The point of highest expected F1 (the higher threshold on a tie)."""
    scored = [p for p in curve if p.expected_f1 is not None]
    if not scored:
        raise ValueError("no scored pairs to choose a threshold from")
    return max(scored, key=lambda p: (round(p.expected_f1 or 0, 6), p.threshold))


def model_checks(model_json: dict) -> list[dict[str, Any]]:
    """Parameter sanity checks of a trained splink model: an agreement level (any level but
    the last, `else`) whose m is below its u counts as evidence against a match, which is
    backwards; a level without an m or u estimate was never observed in training."""
    issues = []
    for comparison in model_json["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for position, level in enumerate(levels):
            m, u = level.get("m_probability"), level.get("u_probability")
            where = {"comparison": comparison["output_column_name"],
                     "level": level.get("label_for_charts", "")}
            if m is None or u is None:
                missing = " and ".join(x for x, v in (("m", m), ("u", u)) if v is None)
                issues.append({**where, "check": "not_observed",
                               "what": f"{missing} not estimated: no training pair fell in "
                                       "this level; splink uses a default"})
            elif position < len(levels) - 1 and m < u:
                issues.append({**where, "check": "m_below_u", "m": round(m, 6),
                               "u": round(u, 6),
                               "what": "agreement counts against a match (m < u)"})
    return issues


def linkage_rates(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """For each source A and each source B: of the persons holding an identity of A, the
    share that also hold one of B; for B = A, two or more distinct identities of A (one
    person with two passports, or one worker with two social-security numbers)."""
    rows = con.execute("""
        WITH held AS (
            SELECT ip.person_id, i.source_dataset AS source, count(*) AS n
            FROM identity_person ip JOIN identities i ON i.unique_id = ip.identity_id
            GROUP BY ALL
        ), sizes AS (SELECT source, count(*) AS persons FROM held GROUP BY source)
        SELECT a.source, b.source, s.persons,
               count(*) FILTER (WHERE a.source <> b.source OR a.n >= 2) AS also
        FROM held a JOIN held b USING (person_id) JOIN sizes s ON s.source = a.source
        GROUP BY ALL ORDER BY ALL
    """).fetchall()
    return [{"source": a, "with": b, "persons": n, "linked": k, "rate": round(k / n, 4)}
            for a, b, n, k in rows]


def link_rates_by_group(con: duckdb.DuckDBPyConnection, predictions: str,
                        threshold: float) -> dict[str, list[dict[str, Any]]]:
    """By nationality (the most frequent ones, then "other") and by sex: identities, the
    share in a person with another identity, and the expected precision and recall of the
    pairs that involve the group (as threshold_curve, restricted to the group)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _groups AS
        WITH top AS (
            SELECT nationality FROM identities WHERE nationality IS NOT NULL
            GROUP BY ALL ORDER BY count(*) DESC, nationality LIMIT {TOP_NATIONALITIES}
        ), sizes AS (SELECT person_id, count(*) AS n FROM identity_person GROUP BY ALL)
        SELECT i.unique_id,
               CASE WHEN i.nationality IS NULL THEN 'unknown'
                    WHEN i.nationality IN (SELECT nationality FROM top) THEN i.nationality
                    ELSE 'other' END AS nationality,
               coalesce(i.sex, 'unknown') AS sex, s.n >= 2 AS linked
        FROM identities i JOIN identity_person ip ON ip.identity_id = i.unique_id
        JOIN sizes s USING (person_id)
    """)
    out = {}
    for dimension in ("nationality", "sex"):
        rows = con.execute(f"""
            WITH ends AS (
                SELECT p.match_probability::DOUBLE AS p, g.{dimension} AS grp
                FROM {predictions} p JOIN _groups g ON g.unique_id = p.unique_id_l
                UNION ALL
                SELECT p.match_probability, g.{dimension}
                FROM {predictions} p JOIN _groups g ON g.unique_id = p.unique_id_r
            ), pairs AS (
                SELECT grp, coalesce(sum(p) FILTER (WHERE p >= $t), 0) AS kept, count(*) FILTER
                       (WHERE p >= $t) AS n_kept, sum(p) AS total
                FROM ends GROUP BY grp
            )
            SELECT g.{dimension}, count(*), avg(g.linked::INT), any_value(pr.kept),
                   any_value(pr.n_kept), any_value(pr.total)
            FROM _groups g LEFT JOIN pairs pr ON pr.grp = g.{dimension}
            GROUP BY g.{dimension} ORDER BY count(*) DESC
        """, {"t": threshold}).fetchall()
        out[f"by_{dimension}"] = [
            {dimension: grp, "identities": n, "linked_share": round(linked, 4),
             "expected_precision": _round(kept / n_kept if n_kept else None),
             "expected_recall": _round(kept / total if total else None)}
            for grp, n, linked, kept, n_kept, total in rows]
    # a result left unfetched blocks the next con.sql() (duckdb 2): fetch even a DROP's
    con.execute("DROP TABLE _groups").fetchall()
    return out


@dataclass(frozen=True)
class Estimate:
    """The link threshold and how it was chosen, with the curve it was chosen from."""

    threshold: float
    chosen_by: str
    curve: list[ThresholdPoint]

    def at_threshold(self) -> dict[str, Any]:
        point = min(self.curve, key=lambda p: abs(p.threshold - self.threshold))
        if point.threshold != self.threshold:  # a fixed threshold off the grid
            return {"threshold": self.threshold}
        return point.record()

    def record(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "chosen_by": self.chosen_by,
                "at_threshold": self.at_threshold(),
                "curve": [p.record() for p in self.curve]}


def choose_threshold(con: duckdb.DuckDBPyConnection, predictions: str, choose: str,
                     fixed: float) -> Estimate:
    """The rules' fixed threshold (on the curve too), or the one of highest expected F1."""
    grid = tuple(sorted({*THRESHOLD_GRID, fixed}))
    curve = threshold_curve(con, predictions, grid)
    if choose == "expected_f1":
        best = best_threshold(curve).threshold
        edge = ", at its lower end" if best == grid[0] else ""
        return Estimate(best, f"highest expected F1 of {grid[0]}-{grid[-1]}{edge}", curve)
    return Estimate(fixed, "fixed in the linkage rules", curve)


def assess(con: duckdb.DuckDBPyConnection, predictions: str, estimate: Estimate,
           model_json: dict) -> dict[str, Any]:
    """quality.json's part that needs no truth."""
    return {"estimated": estimate.record(),
            "model_checks": model_checks(model_json),
            "linkage_rates": linkage_rates(con),
            **link_rates_by_group(con, predictions, estimate.threshold)}
