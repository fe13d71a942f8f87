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
from linkage.indicators import CELL_COLUMNS, NOT_APPLICABLE
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
    """Indicators from linked persons against the same indicators from true persons.

    Every cell of every table (margins too) is compared; a cell counts as large when either
    side has at least INDICATOR_MIN_CELL persons. The cell-by-cell comparison is written to
    the truth folder (indicator_comparison.parquet) for inspection.
    """
    con.execute("CREATE SCHEMA IF NOT EXISTS truth")
    con.execute("SET search_path = 'truth,main'")
    try:
        con.execute("CREATE OR REPLACE VIEW truth.record_person AS "
                    "SELECT source, record_id, person_id FROM main.truth_records")
        build_person_tables(con)
        run_indicators_for(con, config)
    finally:
        con.execute("SET search_path = 'main'")
    keys = ", ".join(column for column in CELL_COLUMNS if column not in ("persons", "cell_key"))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE indicator_comparison AS
        SELECT {keys}, coalesce(l.persons, 0) AS linked, coalesce(t.persons, 0) AS truth,
               abs(coalesce(l.persons, 0) - coalesce(t.persons, 0))
                   / greatest(coalesce(t.persons, 0), 1) AS rel_error
        FROM main.indicator_cells l FULL JOIN truth.indicator_cells t USING ({keys})
    """)
    comparison = config.at(config.paths.truth) / "indicator_comparison.parquet"
    con.execute(f"COPY indicator_comparison TO '{comparison}' (FORMAT parquet)")
    large = f"greatest(linked, truth) >= {INDICATOR_MIN_CELL}"
    per_indicator = {
        name: {"cells": cells, "cells_ge_100": big,
               "max_rel_error_cells_ge_100": None if worst is None else round(worst, 6)}
        for name, cells, big, worst in con.execute(f"""
            SELECT indicator, count(*), count(*) FILTER (WHERE {large}),
                   max(rel_error) FILTER (WHERE {large})
            FROM indicator_comparison GROUP BY indicator ORDER BY indicator
        """).fetchall()
    }
    cells, big, worst, mean = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE {large}), max(rel_error) FILTER (WHERE {large}),
               avg(rel_error) FILTER (WHERE {large})
        FROM indicator_comparison
    """).fetchall()[0]
    worst_cells = con.execute(f"""
        SELECT {keys}, linked, truth FROM indicator_comparison WHERE {large}
        ORDER BY rel_error DESC, {keys} LIMIT 5
    """)
    names = [column[0] for column in worst_cells.description]
    return {
        "cells": cells,
        "cells_ge_100": big,
        "max_rel_error_cells_ge_100": None if worst is None else round(worst, 6),
        "mean_rel_error_cells_ge_100": None if mean is None else round(mean, 6),
        "by_indicator": per_indicator,
        "worst_cells": [
            {name: value for name, value in zip(names, row, strict=True)
             if value != NOT_APPLICABLE}
            for row in worst_cells.fetchall()
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
