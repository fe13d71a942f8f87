"""The Fellegi-Sunter model: splink 5 on DuckDB, settings generated from the linkage rules.

block -> compare -> train (prior from deterministic rules, u by random sampling, m by EM)
-> predict. Input is the `identities` table made by linkage.load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import duckdb
from splink import DuckDBAPI, Linker, SettingsCreator
from splink.internals.splink_dataframe import SplinkDataFrame

from linkage.rules import NEVER, BlockingPass, Encodings, LinkageRules, as_comparison_sql, expand


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


def train(con: duckdb.DuckDBPyConnection, rules: LinkageRules, encodings: Encodings,
          labels: bool = False) -> TrainedModel:
    """Build the linker on the `identities` table and estimate its parameters: the prior
    from deterministic rules, u by random sampling, m by EM over the rules' passes and then,
    when `labels` (a clerical_labels table made by linkage.labels), m from the labelled
    matches, which replaces EM's."""
    collector = _collect_splink_warnings()
    db_api = DuckDBAPI(connection=con)
    table = db_api.register("identities")
    linker = Linker(table, SettingsCreator.from_path_or_dict(settings(rules, encodings)),
                    log_level=None)
    training = rules.training
    linker.training.estimate_probability_two_random_records_match(
        [expand(sql, encodings) for sql in training.deterministic],
        recall=training.deterministic_recall,
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=training.u_max_pairs, seed=training.seed
    )
    for sql in training.em_passes:
        linker.training.estimate_parameters_using_expectation_maximisation(
            expand(sql, encodings), max_pairs=training.em_max_pairs)
    if labels:
        con.execute("CREATE OR REPLACE VIEW clerical_matches AS SELECT source_dataset_l, "
                    "unique_id_l, source_dataset_r, unique_id_r FROM clerical_labels "
                    "WHERE is_match").fetchall()  # fetched: splink needs the connection free
        linker.training.estimate_m_from_pairwise_labels("clerical_matches")
    return TrainedModel(linker, rules, collector.messages)
