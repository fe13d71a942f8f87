"""The Fellegi-Sunter model: splink 5, settings generated from the linkage rules.

block -> compare -> train (prior from deterministic rules, u by random sampling, m by EM)
-> predict. Input is the `identities` table made by linkage.load. splink runs on the job's
DuckDB, or on Spark (`hub.engine: spark`, linkage/spark.py) with the same settings and the
same training sequence (`estimate`); the scored pairs are a DuckDB table either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
from splink import DuckDBAPI, Linker, SettingsCreator
from splink.internals.splink_dataframe import SplinkDataFrame

from linkage.rules import (
    NEVER,
    BlockingPass,
    Encodings,
    LinkageRules,
    Training,
    as_comparison_sql,
    expand,
)
from migralink.config import HubConfig


class _Collect(logging.Handler):
    """Keeps splink's warnings (untrained levels, unobserved levels) for the run summary,
    instead of letting them scroll past on the terminal."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = " ".join(record.getMessage().split())
        if message and message not in self.messages:
            self.messages.append(message)


def _collect_splink_warnings() -> _Collect:
    logger = logging.getLogger("splink")
    for handler in list(logger.handlers):
        if isinstance(handler, _Collect):
            logger.removeHandler(handler)
    collector = _Collect()
    logger.addHandler(collector)
    logger.propagate = False
    return collector


def settings(rules: LinkageRules, encodings: Encodings, exact: bool = True) -> dict[str, Any]:
    """A splink settings dictionary: the model as data, printable and saved with the outputs.
    A level whose macros make it impossible (salt_differs() on an unsalted filter) is left out."""
    comparisons = []
    for comparison in rules.comparisons:
        levels = []
        for level in comparison.levels:
            condition = "ELSE" if level.else_ else expand(level.sql or "", encodings, exact)
            if condition == NEVER or encodings.lacks(condition):
                continue
            entry: dict[str, Any] = {
                "sql_condition": as_comparison_sql(condition),
                "label_for_charts": level.label,
            }
            if level.null_level:
                entry["is_null_level"] = True
            if level.tf:
                entry["tf_adjustment_column"] = level.tf
                entry["tf_adjustment_weight"] = level.tf_weight
            levels.append(entry)
        comparisons.append({
            "output_column_name": comparison.name,
            "comparison_description": comparison.description or comparison.name,
            "comparison_levels": levels,
        })
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": [
            blocking_rule(p, encodings) for p in rules.blocking
            if not encodings.lacks(expand(p.sql, encodings))],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "additional_columns_to_retain": ["source_dataset"],
        "max_iterations": 20,
    }


def blocking_rule(blocking: BlockingPass, encodings: Encodings) -> dict[str, Any]:
    rule: dict[str, Any] = {"blocking_rule": expand(blocking.sql, encodings),
                            "sql_dialect": "duckdb"}
    if blocking.explode:
        rule["arrays_to_explode"] = list(blocking.explode)
    return rule


@dataclass
class TrainedModel:
    linker: Linker
    rules: LinkageRules
    warnings: list[str]

    def predict(self) -> SplinkDataFrame:
        """Scored candidate pairs at or above the rules' score floor (the rest never link,
        and add next to nothing to the expected number of matches)."""
        return self.linker.inference.predict(
            threshold_match_probability=self.rules.threshold.score_floor)

    def link_at(self, threshold: float) -> None:
        """Link (and cluster) at `threshold` from now on: the rules' own, or one chosen from
        the trained model."""
        chosen = self.rules.threshold.model_copy(update={"match_probability": threshold})
        self.rules = self.rules.model_copy(update={"threshold": chosen})

    def model_json(self) -> dict[str, Any]:
        return self.linker.misc.save_model_to_json()

    def weight_histogram(self, predictions: SplinkDataFrame, bins: int = 40) -> list[dict]:
        """splink's histogram of the scored pairs' match weights: bin edges and counts only."""
        chart = self.linker.visualisations.match_weights_histogram(predictions, bins)
        return [{k: int(v) if k == "count_rows" else float(v) for k, v in r.items()}
                for r in chart.raw_records]


def new_linker(table: Any, model: dict[str, Any]) -> Linker:
    """A splink Linker over `table` (registered with a backend's API) for the settings
    `model` (from `settings`, trained or not)."""
    return Linker(table, SettingsCreator.from_path_or_dict(model), log_level=None)


def estimate(linker: Linker, training: Training, sql: Callable[[str], str],
             labels: str | None = None) -> None:
    """The training sequence, on whichever backend the linker runs: the prior from the
    deterministic rules, u by random sampling, m by EM over each pass, then, when `labels`
    names a table of labelled matches, m from those (which replaces EM's). `sql` turns a
    rule of the linkage rules into the backend's SQL (macros expanded, dialect)."""
    linker.training.estimate_probability_two_random_records_match(
        [sql(rule) for rule in training.deterministic],
        recall=training.deterministic_recall,
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=training.u_max_pairs, seed=training.seed
    )
    for rule in training.em_passes:
        linker.training.estimate_parameters_using_expectation_maximisation(
            sql(rule), max_pairs=training.em_max_pairs)
    if labels is not None:
        linker.training.estimate_m_from_pairwise_labels(labels)


LABELLED_MATCHES = "clerical_matches"


def train(con: duckdb.DuckDBPyConnection, rules: LinkageRules, encodings: Encodings,
          labels: bool = False, hub: HubConfig | None = None) -> TrainedModel:
    """Build the linker on the `identities` table and estimate its parameters (`estimate`),
    with m from the labelled matches when `labels` (a clerical_labels table made by
    linkage.labels). splink runs on `hub.engine`: this DuckDB (the default) or Spark."""
    collector = _collect_splink_warnings()
    if labels:
        con.execute(f"CREATE OR REPLACE VIEW {LABELLED_MATCHES} AS SELECT source_dataset_l, "
                    "unique_id_l, source_dataset_r, unique_id_r FROM clerical_labels "
                    "WHERE is_match").fetchall()  # fetched: splink needs the connection free
    model = settings(rules, encodings)
    if hub is not None and hub.engine == "spark":
        from linkage.spark import train_on_spark

        return train_on_spark(con, rules, encodings, model, labels, hub.spark,
                              collector.messages)
    linker = new_linker(DuckDBAPI(connection=con).register("identities"), model)
    estimate(linker, rules.training, lambda rule: expand(rule, encodings),
             LABELLED_MATCHES if labels else None)
    return TrainedModel(linker, rules, collector.messages)
