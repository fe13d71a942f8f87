"""Quality against the truth of a synthetic or benchmark dataset (demo and benchmarks only).

The unit of linkage is a distinct identity of one source. Truth is known per record, so a
unit is (identity_id, true person): when two true persons share one encoded identity, the
job cannot separate them and the evaluation counts that as a false link.
Pair and person metrics come from the contingency table of predicted and true persons,
so they cost one GROUP BY, not a pairwise join.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from linkage.events import build_person_tables
from linkage.job import run_indicators_for
from migralink.config import JobConfig

INDICATOR_MIN_CELL = 100


def load_truth(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> None:
    con.execute(f"""
        CREATE OR REPLACE TABLE main.truth_records AS
        SELECT source, record_id, CAST(person_id AS VARCHAR) AS person_id
        FROM read_parquet('{truth_dir / 'records.parquet'}')
    """)


def _ratio(numerator: float, denominator: float) -> float | None:
    """None when there is nothing to measure (no pairs, no persons): not a perfect score."""
    return round(numerator / denominator, 6) if denominator else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return round(2 * precision * recall / (precision + recall), 6) if precision + recall else 0.0


def pair_and_person_metrics(con: duckdb.DuckDBPyConnection) -> dict:
    con.execute("""
        CREATE OR REPLACE TEMP TABLE units AS
        SELECT DISTINCT rl.identity_id, rl.person_id AS predicted, t.person_id AS truth
        FROM record_links rl JOIN truth_records t USING (source, record_id)
    """)
    tp, predicted, true = con.execute("""
        SELECT
          (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM
             (SELECT count(*) AS n FROM units GROUP BY predicted, truth)),
          (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM
             (SELECT count(*) AS n FROM units GROUP BY predicted)),
          (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM
             (SELECT count(*) AS n FROM units GROUP BY truth))
    """).fetchone()
    precision, recall = _ratio(tp, predicted), _ratio(tp, true)
    # a predicted person is exactly right when it holds all the units of one true person
    exact, n_predicted, n_true = con.execute("""
        WITH cells AS (SELECT predicted, truth, count(*) AS n FROM units GROUP BY ALL),
        sized AS (
            SELECT predicted, truth, n,
                   sum(n) OVER (PARTITION BY predicted) AS predicted_n,
                   sum(n) OVER (PARTITION BY truth) AS truth_n
            FROM cells
        )
        SELECT count(*) FILTER (WHERE n = predicted_n AND n = truth_n),
               count(DISTINCT predicted), count(DISTINCT truth)
        FROM sized
    """).fetchone()
    return {
        "pairs": {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "true_pairs": int(true), "predicted_pairs": int(predicted), "true_positive": int(tp),
        },
        "persons": {
            "precision": _ratio(exact, n_predicted),
            "recall": _ratio(exact, n_true),
            "predicted": n_predicted, "true": n_true, "exactly_recovered": exact,
        },
    }


def indicator_validity(con: duckdb.DuckDBPyConnection, config: JobConfig) -> dict:
    """Indicators from linked persons against the same indicators from true persons."""
    con.execute("CREATE SCHEMA IF NOT EXISTS truth")
    con.execute("SET search_path = 'truth,main'")
    try:
        con.execute("CREATE OR REPLACE VIEW truth.record_person AS "
                    "SELECT source, record_id, person_id FROM main.truth_records")
        build_person_tables(con)
        run_indicators_for(con, config)
    finally:
        con.execute("SET search_path = 'main'")
    rows = con.execute("""
        WITH linked AS (
            SELECT 'stocks' AS tbl, indicator, CAST(month AS VARCHAR) AS period, sex,
                   citizenship, persons FROM main.stocks
            UNION ALL
            SELECT 'flows', indicator, CAST(year AS VARCHAR), sex, citizenship, persons
            FROM main.flows
        ), truth AS (
            SELECT 'stocks' AS tbl, indicator, CAST(month AS VARCHAR) AS period, sex,
                   citizenship, persons FROM truth.stocks
            UNION ALL
            SELECT 'flows', indicator, CAST(year AS VARCHAR), sex, citizenship, persons
            FROM truth.flows
        )
        SELECT indicator, period, sex, citizenship,
               coalesce(l.persons, 0) AS linked, coalesce(t.persons, 0) AS truth
        FROM linked l FULL JOIN truth t USING (tbl, indicator, period, sex, citizenship)
    """).fetchall()
    big = [r for r in rows if r[5] >= INDICATOR_MIN_CELL]
    errors = sorted(((abs(r[4] - r[5]) / r[5], r) for r in big), reverse=True)
    return {
        "cells": len(rows),
        "cells_ge_100": len(big),
        "max_rel_error_cells_ge_100": round(errors[0][0], 6) if errors else None,
        "mean_rel_error_cells_ge_100":
            round(sum(e for e, _ in errors) / len(errors), 6) if errors else None,
        "worst_cells": [
            {"indicator": r[0], "period": r[1], "sex": r[2], "citizenship": r[3],
             "linked": r[4], "truth": r[5]} for _, r in errors[:5]
        ],
    }


def evaluate(con: duckdb.DuckDBPyConnection, config: JobConfig) -> dict:
    """quality.json content: pair and person metrics, and indicator validity when defined."""
    if config.paths.truth is None:
        raise ValueError(f"config {config.name} has no truth path to evaluate against")
    load_truth(con, config.at(config.paths.truth))
    quality = pair_and_person_metrics(con)
    if config.indicators is not None:
        quality["indicators"] = indicator_validity(con, config)
    return quality
